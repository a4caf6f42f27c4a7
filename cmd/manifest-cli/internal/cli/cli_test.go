package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/cmd/manifest-cli/internal/progress"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/s3mem"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const examples = "../../../../examples"

func TestParseArgs(t *testing.T) {
	def := options{timeout: DefaultTimeout, progress: progress.Lines, logLevel: slog.LevelWarn, event: "-"}
	tests := []struct {
		name    string
		args    []string
		tty     bool
		want    *options
		wantErr string
	}{
		{"defaults read stdin", nil, false, &def, ""},
		{"bar on a terminal", nil, true, &options{timeout: DefaultTimeout, progress: progress.Bar, logLevel: slog.LevelWarn, event: "-"}, ""},
		{"every flag", []string{"--dry-run", "--timeout", "90s", "--progress", "none", "--log-level", "debug", "--profile", "dev", "--region", "eu-west-1", "ev.json"}, true,
			&options{dryRun: true, timeout: 90 * time.Second, progress: progress.Off, logLevel: slog.LevelDebug, profile: "dev", region: "eu-west-1", event: "ev.json"}, ""},
		{"no timeout", []string{"-timeout=0", "-"}, false, &options{progress: progress.Lines, logLevel: slog.LevelWarn, event: "-"}, ""},
		{"two files", []string{"a.json", "b.json"}, false, nil, "expected one event file, got 2 arguments: a.json b.json"},
		{"flag after the file", []string{"a.json", "--dry-run"}, false, nil, "(flags go before the event file)"},
		{"bad progress", []string{"--progress", "fancy"}, false, nil, `-progress: progress mode "fancy"`},
		{"bad log level", []string{"--log-level", "loud"}, false, nil, `-log-level "loud"`},
		{"negative timeout", []string{"--timeout", "-1s"}, false, nil, "must not be negative"},
		{"unknown flag", []string{"--bogus"}, false, nil, "flag provided but not defined: -bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, io.Discard, tc.tty)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseArgs(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", tc.args, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("parseArgs(%q) (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

// result is what one Run did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI with deps (nil: Deps must not be called).
func runCLI(t *testing.T, ctx context.Context, stdin string, deps *step.Deps, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{
		Args: args, Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		Deps: func(context.Context, *slog.Logger) (step.Deps, error) {
			if deps == nil {
				t.Error("Deps called: this run must make no AWS clients")
				return step.Deps{}, errors.New("no AWS in this test")
			}
			return *deps, nil
		},
		Setenv: func(k, v string) error { t.Setenv(k, v); return nil },
	}
	code := Run(ctx, env)
	return result{code, stdout.String(), stderr.String()}
}

func TestUsageAndEventErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		stdin      string
		stdinTTY   bool
		wantCode   int
		wantStderr string
	}{
		{"help", []string{"-h"}, "", false, ExitOK, "Usage: manifest-cli"},
		{"unknown flag", []string{"--bogus"}, "", false, ExitTransient, "flag provided but not defined"},
		{"two files", []string{"a", "b"}, "", false, ExitTransient, "manifest-cli: expected one event file"},
		{"stdin is a terminal", nil, "", true, ExitTransient, "no event: give an event file"},
		{"missing file", []string{"no/such/event.json"}, "", false, ExitTransient, "read event: open no/such/event.json"},
		{"invalid JSON", nil, "{", false, ExitPermanent, "PermanentStepError: event: invalid JSON"},
		{"unknown shape", []string{"--dry-run"}, `{"x": 1}`, false, ExitPermanent, "PermanentStepError: event: expected a stepDefinition object"},
		{"typo in config", []string{"--dry-run"}, `{"query": {"tableName": "tbl", "keyConditionExpresion": "pk = :p"}, "destination": {"bucketName": "bkt", "key": "k"}}`,
			false, ExitPermanent, "query.keyConditionExpresion"},
		{"missing template value", []string{"--dry-run"}, `{"customConfig": {"query": {"tableName": "tbl", "keyConditionExpression": "pk = :p", "expressionAttributeValues": {":p": "{{userId}}"}}, "destination": {"bucketName": "bkt", "key": "k"}}}`,
			false, ExitPermanent, "userId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), Env{
				Args: tc.args, Stdin: strings.NewReader(tc.stdin), Stdout: &stdout, Stderr: &stderr, StdinIsTTY: tc.stdinTTY,
				Deps: func(context.Context, *slog.Logger) (step.Deps, error) {
					t.Error("Deps called")
					return step.Deps{}, errors.New("no AWS")
				},
			})
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and stderr containing %q", code, stderr.String(), tc.wantCode, tc.wantStderr)
			}
			if code != ExitOK && stdout.Len() > 0 {
				t.Errorf("stdout holds %q after a failure, want nothing", stdout.String())
			}
		})
	}
}

// TestDryRun prints the plan of every example event without AWS clients
// (Deps fails the test if called) and compares it with testdata golden
// files; -update rewrites them.
func TestDryRun(t *testing.T) {
	tests := []struct {
		name, event string
	}{
		{"direct", "events/direct.json"},
		{"bare", "events/bare.json"},
		{"envelope", "orchestrator/envelope-event.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No region, credentials or endpoints: a dry run must not need them.
			for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_PROFILE"} {
				t.Setenv(k, "")
			}
			r := runCLI(t, context.Background(), "", nil, "--dry-run", filepath.Join(examples, tc.event))
			if r.code != ExitOK {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			golden := filepath.Join("testdata", "dryrun-"+tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), r.stdout); diff != "" {
				t.Errorf("dry run of %s (-want +got):\n%s", tc.event, diff)
			}
		})
	}
}

// pointerEvent's key condition value reads an _s3_output_pointer.
const pointerEvent = `{"customConfig": {"query": {"tableName": "tbl", "keyConditionExpression": "pk = :p", "expressionAttributeValues": {":p": "USER#{{prev.userId}}"}}, ` +
	`"destination": {"bucketName": "bkt", "key": "k"}}, "context": {"prev": {"_s3_output_pointer": {"bucket": "b", "key": "k.json", "versionId": "v1"}}}}`

// fakePointers serves one object per "bucket/key?versionId=v".
type fakePointers map[string]any

func (f fakePointers) ReadJSON(_ context.Context, bucket, key, versionID string) (any, error) {
	v, ok := f[bucket+"/"+key+"?versionId="+versionID]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."}
	}
	return v, nil
}

// TestDryRunReadsPointers checks that --dry-run reads the _s3_output_pointer
// objects its templates go through, as the real run does, and says so with
// its own exit code when it cannot for want of AWS access (issue 13 item 6).
func TestDryRunReadsPointers(t *testing.T) {
	tests := []struct {
		name       string
		deps       func(context.Context, *slog.Logger) (step.Deps, error)
		wantCode   int
		wantStdout string // a substring
		wantStderr string
	}{
		{"pointer read", func(context.Context, *slog.Logger) (step.Deps, error) {
			return step.Deps{Pointers: fakePointers{"b/k.json?versionId=v1": map[string]any{"userId": "u-7"}}}, nil
		}, ExitOK, `":p": {`, ""},
		{"pointed object missing", func(context.Context, *slog.Logger) (step.Deps, error) {
			return step.Deps{Pointers: fakePointers{}}, nil
		}, ExitPermanent, "", "PermanentStepError: template: query.expressionAttributeValues.:p: template line 1: path \"prev.userId\": reading _s3_output_pointer s3://b/k.json?versionId=v1"},
		{"no AWS access", func(context.Context, *slog.Logger) (step.Deps, error) {
			return step.Deps{}, errors.New("no AWS region: set AWS_REGION")
		}, ExitNoAWS, "", "manifest-cli: cannot validate without AWS access: the templates read an _s3_output_pointer from S3, and the AWS setup failed: no AWS region: set AWS_REGION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), Env{
				Args: []string{"--dry-run", "-"}, Stdin: strings.NewReader(pointerEvent), Stdout: &stdout, Stderr: &stderr,
				Deps: tc.deps, Setenv: func(k, v string) error { t.Setenv(k, v); return nil },
			})
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tc.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.wantStderr, stderr.String())
			}
			if code == ExitOK && !strings.Contains(stdout.String(), `"S": "USER#u-7"`) {
				t.Errorf("the plan does not hold the value read through the pointer:\n%s", stdout.String())
			}
		})
	}
}

func TestFirstLimit(t *testing.T) {
	tests := []struct {
		limit    int64
		pageSize int32
		want     int32 // 0: no Limit
	}{
		{0, 0, 0}, {0, 500, 500}, {100, 0, 100}, {100, 500, 100}, {1000, 500, 500},
	}
	for _, tc := range tests {
		got := firstLimit(tc.limit, tc.pageSize)
		var n int32
		if got != nil {
			n = *got
		}
		if n != tc.want {
			t.Errorf("firstLimit(%d, %d) = %d, want %d", tc.limit, tc.pageSize, n, tc.want)
		}
	}
}

// fakeDynamoDB returns pages of items as raw bodies, or blocks until ctx ends when block
// is set.
type fakeDynamoDB struct {
	pages [][]map[string]types.AttributeValue
	err   error
	block bool
	calls int
}

func (f *fakeDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	page := f.pages[f.calls]
	f.calls++
	var lek map[string]types.AttributeValue
	if f.calls < len(f.pages) {
		lek = map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "next"}}
	}
	// A raw body, read by a real client through the capture middleware.
	body := ddbwire.Body(page, lek)
	return ddbwire.Client(func(*http.Request) []byte { return body }).Query(ctx, in, optFns...)
}

func item(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "n": &types.AttributeValueMemberN{Value: "12.50"}}
}

const directEvent = `{"customConfig": {"query": {"tableName": "tbl", "keyConditionExpression": "pk = :p", "expressionAttributeValues": {":p": "x"}}, "destination": {"bucketName": "bkt", "key": "{{flowExecutionId}}.jsonl"}}, "context": {"flowExecutionId": "run1"}}`

const envelopeEvent = `{"stepDefinition": {"customConfig": {"query": {"tableName": "tbl", "keyConditionExpression": "pk = :p", "expressionAttributeValues": {":p": "x"}}, "destination": {"bucketName": "bkt", "key": "{{flowExecutionId}}.jsonl"}}}, "runtimeState": {"flowExecutionId": "run1"}}`

// heavyEvent's destination key nests #each three times over 150 items: 3.4
// million block bodies, seconds of rendering that only a deadline or Ctrl-C
// should cut short.
var heavyEvent = `{"customConfig": {"query": {"tableName": "tbl", "keyConditionExpression": "pk = :p", "expressionAttributeValues": {":p": "x"}}, ` +
	`"destination": {"bucketName": "bkt", "key": "k{{#each items}}{{#each @root.items}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}.jsonl"}}, ` +
	`"context": {"items": [` + strings.Repeat(`{"i": 1}, `, 149) + `{"i": 1}]}}`

// TestRenderingStops checks that --timeout and the first Ctrl-C stop the
// rendering of templates too, not only the export (issue 13 item 2).
func TestRenderingStops(t *testing.T) {
	tests := []struct {
		name       string
		cancel     bool // cancel the parent context first, as SIGINT does
		args       []string
		wantStderr []string
	}{
		{"interrupted", true, nil, []string{"TransientStepError: interrupted: template: ", "template evaluation stopped: context canceled"}},
		{"timeout", false, []string{"--timeout", "100ms"}, []string{"TransientStepError: template: destination.key: ", "template evaluation stopped: "}},
		{"interrupted dry run", true, []string{"--dry-run"}, []string{"TransientStepError: interrupted: template: ", "template evaluation stopped"}},
		{"dry run timeout", false, []string{"--dry-run", "--timeout", "100ms"}, []string{"TransientStepError: template: destination.key: ", "context deadline exceeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deps := &step.Deps{DynamoDB: &fakeDynamoDB{block: true}, S3: &s3mem.S3{}}
			if slices.Contains(tc.args, "--dry-run") {
				deps = nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			r := runCLI(t, ctx, heavyEvent, deps, append(tc.args, "-")...)
			if r.code != ExitTransient {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, ExitTransient, r.stderr)
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

// TestRun runs the whole engine on fakes: output JSON on stdout, progress
// lines and the errors' type names on stderr, exit codes.
func TestRun(t *testing.T) {
	apiErr := &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Requested resource not found"}
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
	tests := []struct {
		name       string
		event      string
		db         *fakeDynamoDB
		cancel     bool // cancel the parent context first, as SIGINT does
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{"direct", directEvent, &fakeDynamoDB{pages: [][]map[string]types.AttributeValue{{item("a"), item("b")}, {}, {item("c")}}}, false, nil, ExitOK,
			`{"manifest":{"_s3_output_pointer":{"bucket":"bkt","key":"run1.jsonl"}},"itemCount":3,"sizeBytes":63,"checksumCRC64NVME":"JUcgyBU3qno="}`,
			[]string{"manifest-cli: query tbl -> s3://bkt/run1.jsonl", "done: 3 items, 0.0 MB, "}},
		{"envelope reply is wrapped", envelopeEvent, &fakeDynamoDB{pages: [][]map[string]types.AttributeValue{{item("a")}}}, false, []string{"--progress", "none"}, ExitOK,
			`{"outputData":{"manifest":{"_s3_output_pointer":{"bucket":"bkt","key":"run1.jsonl"}},"itemCount":1,"sizeBytes":21,"checksumCRC64NVME":"4fp5T34cN5A="}}`, nil},
		{"permanent", directEvent, &fakeDynamoDB{err: apiErr}, false, nil, ExitPermanent, "",
			[]string{"PermanentStepError: query table tbl (page 1): ", "ResourceNotFoundException"}},
		{"transient", directEvent, &fakeDynamoDB{err: throttled}, false, nil, ExitTransient, "",
			[]string{"TransientStepError: query table tbl (page 1): ", "ThrottlingException"}},
		{"interrupted", directEvent, &fakeDynamoDB{block: true}, true, nil, ExitTransient, "",
			[]string{"TransientStepError: interrupted: "}},
		{"timeout", directEvent, &fakeDynamoDB{block: true}, false, []string{"--timeout", "200ms"}, ExitTransient, "",
			[]string{"TransientStepError: ", "deadline"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s3c := &s3mem.S3{}
			deps := &step.Deps{DynamoDB: tc.db, S3: s3c}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			r := runCLI(t, ctx, tc.event, deps, append(tc.args, "-")...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tc.wantCode, r.stderr)
			}
			if tc.wantStdout != "" {
				var got, want bytes.Buffer
				if err := compact(&got, r.stdout); err != nil {
					t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
				}
				_ = compact(&want, tc.wantStdout)
				if diff := cmp.Diff(want.String(), got.String()); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			} else if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, r.stderr)
				}
			}
			if tc.wantCode == ExitOK {
				if got := s3c.Objects()["run1.jsonl"]; !strings.HasPrefix(got, `{"n":12.50,"pk":"a"}`+"\n") {
					t.Errorf("manifest = %q", got)
				}
			} else if len(s3c.Objects()) > 0 || len(s3c.Uploads()) > 0 {
				t.Errorf("a failed run left objects %v, uploads %v", s3c.Objects(), s3c.Uploads())
			}
		})
	}
}

func compact(dst *bytes.Buffer, s string) error { return json.Compact(dst, []byte(s)) }
