package awsenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// isolate gives Deps an environment of its own: a region, static
// credentials, no profile files, no instance metadata and no MANIFEST_*
// settings.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "",
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
		EnvPathStyle: "", EnvPartSizeMiB: "", EnvConcurrency: "", EnvPrefetch: "", EnvDeadlineMargin: "", EnvOffloadThreshold: "",
		EnvMetrics: "", EnvMetricsNamespace: "", EnvFunctionName: "",
	} {
		t.Setenv(k, v)
	}
}

// TestSetupErrors checks that what no retry can fix is found by Deps, before
// any Query, with the setting named (issue 13 items 4 and 13).
func TestSetupErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" : Deps succeeds
	}{
		{"defaults", nil, ""},
		{"path style true", map[string]string{EnvPathStyle: "true"}, ""},
		{"path style false", map[string]string{EnvPathStyle: "false"}, ""},
		{"path style maybe", map[string]string{EnvPathStyle: "maybe"}, `MANIFEST_S3_PATH_STYLE="maybe": expected true or false`},
		{"path style yes", map[string]string{EnvPathStyle: "yes"}, `MANIFEST_S3_PATH_STYLE="yes": expected true or false`},
		{"no region", map[string]string{"AWS_REGION": ""}, "no AWS region: set AWS_REGION"},
		{"region not a name", map[string]string{"AWS_REGION": "us east 1"}, `AWS region "us east 1" is not a region name`},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no AWS credentials: "},
		{"missing profile", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "nosuch"}, "nosuch"},
		{"metrics off", map[string]string{EnvMetrics: "off"}, ""},
		{"metrics on", map[string]string{EnvMetrics: "on", EnvMetricsNamespace: "Mine"}, ""},
		{"metrics maybe", map[string]string{EnvMetrics: "maybe"}, `MANIFEST_METRICS="maybe": expected on or off`},
		{"metrics namespace too long", map[string]string{EnvMetricsNamespace: strings.Repeat("n", 256)}, "MANIFEST_METRICS_NAMESPACE: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Deps(context.Background(), nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Deps: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Deps error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestSDKWarningsAreJSON makes the SDK warn (an error reply cut short, whose
// body cannot be drained) and checks the warning arrives in the JSON log,
// not as plain text on stderr (issue 13 item 10).
func TestSDKWarningsAreJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<Error><Code>InvalidRequest</Code>`))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the reply ends 965 bytes short
	}))
	defer srv.Close()
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	// Without an invocation's logger in the context, the SDK writes to the
	// process's; with one (step.WithLogger), its lines carry the
	// invocation's attributes.
	for _, requestID := range []string{"", "req-1"} {
		t.Run("requestId "+requestID, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			d, err := Deps(context.Background(), log)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if requestID != "" {
				ctx = step.WithLogger(ctx, log.With("requestId", requestID))
			}
			if _, err := d.Pointers.ReadJSON(ctx, "b", "k.json", ""); err == nil {
				t.Fatal("ReadJSON succeeded, want the cut reply to fail it")
			}
			warnings := 0
			for sc := bufio.NewScanner(&buf); sc.Scan(); {
				var line struct{ Level, Msg, Source, RequestID string }
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line is not JSON: %q", sc.Text())
				}
				if line.Source == "aws-sdk" && line.Level == "WARN" && strings.Contains(line.Msg, "failed to discard remaining HTTP response body") {
					warnings++
					if line.RequestID != requestID {
						t.Errorf("SDK line with requestId %q, want %q: %s", line.RequestID, requestID, sc.Text())
					}
				}
			}
			if warnings == 0 {
				t.Errorf("no SDK warning in the JSON log:\n%s", buf.String())
			}
		})
	}
}

func TestMetricsSetting(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	var buf bytes.Buffer
	e, err := Metrics(env(map[string]string{EnvMetrics: "off"}), &buf)
	if err != nil || e != nil {
		t.Errorf("MANIFEST_METRICS=off: emitter %v, error %v; want none", e, err)
	}
	e, err = Metrics(env(map[string]string{EnvMetricsNamespace: "NS", EnvFunctionName: "fn"}), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(metrics.Invocation{Items: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := metrics.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Namespace != "NS" || len(r.Dimensions) != 1 || r.Dimensions[0] != (metrics.Dimension{Name: "FunctionName", Value: "fn"}) {
		t.Errorf("namespace %q, dimensions %v; want NS and FunctionName fn", r.Namespace, r.Dimensions)
	}
}
