package step_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// stdout is what the function writes to its stdout: log lines and the
// metrics record share it, as in Lambda. It is safe for concurrent use.
type stdout struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *stdout) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// split returns the metrics records (lines with an _aws member) and the
// log lines, each decoded with exact numbers; every line must be a JSON
// object of its own.
func (s *stdout) split(t *testing.T) (records []*metrics.Record, logs []map[string]any) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := bufio.NewScanner(bytes.NewReader(s.buf.Bytes())); sc.Scan(); {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"_aws":`)) {
			r, err := metrics.Parse(line)
			if err != nil {
				t.Fatalf("metrics record: %v\n%s", err, line)
			}
			records = append(records, r)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("log line is not a JSON object: %v\n%s", err, line)
		}
		logs = append(logs, m)
	}
	return records, logs
}

// TestMetricsAndLogs invokes the handler as Lambda does, with the log and
// the metrics record on one stdout, and checks that the invocation writes
// one EMF record whose values are the export's, and that every log line
// carries the request id, the flow execution id and the step instance id.
func TestMetricsAndLogs(t *testing.T) {
	stack, _ := env(t)
	items := userItems("obs", 2500, 900) // ~2.5 MB: three pages or more
	table, bucket := seeded(t, items)
	const flow, stepID = "flow-obs", "generate_user_manifest"

	tests := []struct {
		name      string
		metricsOn bool
		edit      func(cfg map[string]any)
		wantErr   bool
	}{
		{name: "success", metricsOn: true},
		{name: "failure", metricsOn: true, wantErr: true, edit: func(cfg map[string]any) {
			cfg["destination"].(map[string]any)["bucketName"] = testenv.Name("missing")
		}},
		{name: "metrics off", metricsOn: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out stdout
			ctx := context.Background()
			s3c := stack.S3(ctx)
			d := step.Deps{DynamoDB: stack.DynamoDB(ctx), S3: s3c, Pointers: step.PointerReader{S3: s3c},
				Logger: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			if tc.metricsOn {
				var err error
				if d.Metrics, err = metrics.NewEmitter(&out, "TestNamespace", "fn-test"); err != nil {
					t.Fatal(err)
				}
			}
			h := step.New(d)
			ev := testenv.SeedEnvelope(table, bucket, flow, "obs")
			if tc.edit != nil {
				tc.edit(ev["stepDefinition"].(map[string]any)["customConfig"].(map[string]any))
			}
			requestID := "req-" + strings.ReplaceAll(tc.name, " ", "-")
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID})
			reply, ferr := testenv.Invoke(t, ctx, h, ev)
			if (ferr != nil) != tc.wantErr {
				t.Fatalf("error %+v, want one: %v", ferr, tc.wantErr)
			}
			records, logs := out.split(t)

			// Every line carries the ids; the last one ("done" or
			// "failed") has the figures of the export.
			var last map[string]any
			for _, l := range logs {
				got := map[string]any{"requestId": l["requestId"], "flowExecutionId": l["flowExecutionId"], "stepInstanceId": l["stepInstanceId"]}
				want := map[string]any{"requestId": requestID, "flowExecutionId": flow, "stepInstanceId": stepID}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("log line %q: ids (-want +got):\n%s", l["msg"], diff)
				}
				last = l
			}
			if len(logs) < 2 {
				t.Fatalf("%d log lines, want a start and an end", len(logs))
			}

			if !tc.metricsOn {
				if len(records) != 0 {
					t.Errorf("%d metrics records with metrics off, want none", len(records))
				}
				return
			}
			if len(records) != 1 {
				t.Fatalf("%d metrics records, want 1", len(records))
			}
			r := records[0]
			if r.Namespace != "TestNamespace" || !cmp.Equal(r.Dimensions, []metrics.Dimension{{Name: "FunctionName", Value: "fn-test"}}) {
				t.Errorf("namespace %q, dimensions %v", r.Namespace, r.Dimensions)
			}
			wantIDs := []metrics.Property{{Name: "flowExecutionId", Value: flow}, {Name: "requestId", Value: requestID}, {Name: "stepInstanceId", Value: stepID}}
			if diff := cmp.Diff(wantIDs, r.Properties); diff != "" {
				t.Errorf("the record's ids (-want +got):\n%s", diff)
			}
			got := map[string]int64{}
			for _, m := range r.Metrics {
				got[m.Name] = m.Value
			}
			if got[metrics.DurationMs] <= 0 {
				t.Errorf("DurationMs %d, want the invocation's time", got[metrics.DurationMs])
			}
			delete(got, metrics.DurationMs)
			want := map[string]int64{metrics.ItemsWritten: int64(len(items)), metrics.QueryRetries: 0, metrics.Throttles: 0,
				metrics.ItemsOffloaded: 0, metrics.Readers: 1, metrics.Continuations: 0, metrics.Failures: 0}
			if tc.wantErr {
				// The figures so far: what the error says was written
				// before the upload failed.
				m := regexp.MustCompile(`(\d+) items? written from (\d+) pages?`).FindStringSubmatch(ferr.Message)
				if m == nil {
					t.Fatalf("error does not say what was written: %s", ferr.Message)
				}
				want[metrics.ItemsWritten], _ = strconv.ParseInt(m[1], 10, 64)
				want[metrics.Pages], _ = strconv.ParseInt(m[2], 10, 64)
				want[metrics.Failures] = 1
				if want[metrics.BytesWritten] = got[metrics.BytesWritten]; (got[metrics.BytesWritten] > 0) != (want[metrics.ItemsWritten] > 0) {
					t.Errorf("BytesWritten %d for %d items", got[metrics.BytesWritten], want[metrics.ItemsWritten])
				}
			} else {
				want[metrics.BytesWritten] = number(t, reply["outputData"].(map[string]any)["sizeBytes"])
				want[metrics.Pages] = number(t, last["pages"])
				if last["msg"] != "done" || want[metrics.Pages] < 3 {
					t.Errorf("last log line %v, want done after 3 pages or more", last)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
		})
	}
}

func number(t *testing.T, v any) int64 {
	t.Helper()
	n, err := v.(json.Number).Int64()
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	return n
}
