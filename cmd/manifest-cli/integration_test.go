package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

var (
	stack    *testenv.Stack
	stackErr error
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(s *testenv.Stack, err error) { stack, stackErr = s, err })
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds manifest-cli once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "manifest-cli-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "manifest-cli")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// command runs the CLI against the stack with only the stack's AWS settings:
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3 and static credentials.
func command(t *testing.T, stdin string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	none := filepath.Join(t.TempDir(), "none")
	cmd.Env = append(cmd.Env, stack.Env()...)
	cmd.Env = append(cmd.Env, "AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none, "AWS_EC2_METADATA_DISABLED=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	return cmd, &stdout, &stderr
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func items(n, size int) []map[string]types.AttributeValue {
	out := make([]map[string]types.AttributeValue, n)
	for i := range out {
		out[i] = map[string]types.AttributeValue{
			"PK":     &types.AttributeValueMemberS{Value: "USER#123"},
			"SK":     &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#%06d", i)},
			"n":      &types.AttributeValueMemberN{Value: "1234567890123456789.5"},
			"filler": &types.AttributeValueMemberS{Value: strings.Repeat("x", size)},
		}
	}
	return out
}

func seed(t *testing.T, n, size int) (table, bucket string) {
	t.Helper()
	ctx := context.Background()
	table, bucket = testenv.Name("t"), testenv.Name("b")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	if err := stack.PutItems(ctx, table, items(n, size)); err != nil {
		t.Fatal(err)
	}
	return table, bucket
}

func directEvent(table, bucket, key string) string {
	return fmt.Sprintf(`{"customConfig": {"query": {"tableName": %q, "keyConditionExpression": "PK = :pk", "expressionAttributeValues": {":pk": "USER#{{userId}}"}, "pageSize": 40},
		"destination": {"bucketName": %q, "key": %q}}, "context": {"userId": "123", "flowExecutionId": "cli-run"}}`, table, bucket, key)
}

// TestCLI runs the built binary against dynalite and versitygw: the output
// JSON, the manifest it points to, progress lines on a non-terminal stderr,
// and a permanent failure's exit code and message.
func TestCLI(t *testing.T) {
	testenv.Require(t, stackErr)
	t.Parallel()
	table, bucket := seed(t, 100, 200)

	t.Run("file, direct shape", func(t *testing.T) {
		dir := t.TempDir()
		ev := filepath.Join(dir, "event.json")
		if err := os.WriteFile(ev, []byte(directEvent(table, bucket, "manifests/{{userId}}/{{flowExecutionId}}.jsonl")), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd, stdout, stderr := command(t, "", "--timeout", "2m", ev)
		if err := cmd.Run(); err != nil {
			t.Fatalf("manifest-cli: %v\nstderr:\n%s", err, stderr)
		}
		var out step.Output
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("stdout is not the output JSON: %v\n%s", err, stdout)
		}
		body, err := stack.GetObject(context.Background(), bucket, "manifests/123/cli-run.jsonl")
		if err != nil {
			t.Fatalf("read manifest: %v", err)
		}
		want := step.Output{ItemCount: 100, SizeBytes: int64(len(body)), ChecksumCRC64NVME: crc64nvme.Encode(crc64nvme.Checksum(body))}
		want.Manifest.Pointer = step.Pointer{Bucket: bucket, Key: "manifests/123/cli-run.jsonl"}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		if lines := testenv.Lines(t, body); len(lines) != 100 || !strings.HasPrefix(lines[0], `{"PK":"USER#123","SK":"ITEM#000000","filler":"xx`) {
			t.Errorf("manifest: %d lines, first %.60q", len(lines), lines[0])
		}
		if !strings.Contains(stderr.String(), "done: 100 items") || strings.Contains(stderr.String(), "\x1b") {
			t.Errorf("stderr should end with a plain done line:\n%s", stderr)
		}
		// The summary: the figures the function publishes as metrics (pages
		// of 40 items).
		summary := fmt.Sprintf("manifest-cli: summary: ItemsWritten=100 BytesWritten=%d Pages=3 QueryRetries=0 Throttles=0 ItemsOffloaded=0 Readers=1 Continuations=0 Failures=0 DurationMs=", len(body))
		if !strings.Contains(stderr.String(), summary) {
			t.Errorf("stderr has no summary %q:\n%s", summary, stderr)
		}
	})

	t.Run("stdin, envelope shape", func(t *testing.T) {
		ev := fmt.Sprintf(`{"stepDefinition": {"customConfig": {"query": {"tableName": %q, "keyConditionExpression": "PK = :pk", "expressionAttributeValues": {":pk": "USER#{{initialContextData.userId}}"}, "limit": 10},
			"destination": {"bucketName": %q, "key": "env/{{flowExecutionId}}.jsonl"}}}, "stepInput": {},
			"runtimeState": {"flowExecutionId": "f1", "currentContextData": {}, "_internal": {"originalStartInput": {"initialContextData": {"userId": "123"}}}}}`, table, bucket)
		cmd, stdout, stderr := command(t, ev, "--progress", "none")
		if err := cmd.Run(); err != nil {
			t.Fatalf("manifest-cli: %v\nstderr:\n%s", err, stderr)
		}
		var out struct{ OutputData map[string]any }
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatalf("stdout: %v\n%s", err, stdout)
		}
		if out.OutputData["itemCount"] != 10.0 || out.OutputData["truncated"] != true || out.OutputData["lastEvaluatedKey"] == nil {
			t.Errorf("outputData = %v, want 10 items, truncated, with a lastEvaluatedKey", out.OutputData)
		}
	})

	t.Run("missing table is permanent", func(t *testing.T) {
		cmd, stdout, stderr := command(t, directEvent("no-such-table", bucket, "missing.jsonl"))
		err := cmd.Run()
		if code := exitCode(err); code != 1 || !strings.HasPrefix(stderr.String(), "manifest-cli: query no-such-table") ||
			!strings.Contains(stderr.String(), "\nPermanentStepError: query table no-such-table") {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and a PermanentStepError naming the table", code, stderr)
		}
		if !strings.Contains(stderr.String(), "manifest-cli: summary: ItemsWritten=0 ") || !strings.Contains(stderr.String(), " Failures=1 ") {
			t.Errorf("stderr has no summary of a failure:\n%s", stderr)
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout = %q, want nothing", stdout)
		}
		stack.AssertNothingLeft(t, context.Background(), bucket, "missing.jsonl")
	})
}

// TestCLIInterrupt sends SIGINT while a multipart upload is open: the CLI
// exits 2 with an interrupted TransientStepError, and neither the object nor
// the multipart upload is left behind.
func TestCLIInterrupt(t *testing.T) {
	testenv.Require(t, stackErr)
	t.Parallel()
	table, bucket := seed(t, 4000, 4000) // about 16 MB: several 5 MiB parts
	key := "big.jsonl"
	cmd, _, stderr := command(t, directEvent(table, bucket, key))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s3c := stack.S3(ctx)
	open := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !open; time.Sleep(20 * time.Millisecond) {
		ups, err := s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		open = err == nil && len(ups.Uploads) > 0
	}
	if !open {
		t.Log("no multipart upload seen before the interrupt; checking the abort anyway")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := exitCode(err); code != 2 || !strings.Contains(stderr.String(), "TransientStepError: interrupted: ") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and an interrupted TransientStepError", code, stderr)
	}
	t.Logf("upload open at SIGINT: %v; stderr:\n%s", open, stderr)
	stack.AssertNothingLeft(t, ctx, bucket, key)
}

// TestCLIContinue: a resumable export stopped by -timeout exits 0 and
// prints its continuation; -continue goes on from it until complete, and
// the manifest holds every item once. -cancel gives another one up.
func TestCLIContinue(t *testing.T) {
	testenv.Require(t, stackErr)
	t.Parallel()
	table, bucket := seed(t, 3000, 300)
	ev := strings.Replace(directEvent(table, bucket, "resumed.jsonl"), `"pageSize": 40`, `"pageSize": 5`, 1)
	ev = strings.Replace(ev, `{"customConfig": {`, `{"customConfig": {"resumable": true, `, 1)
	var continuation string
	runs := 0
	for ; ; runs++ {
		if runs == 50 {
			t.Fatal("not complete after 50 runs")
		}
		args := []string{"--timeout", "1500ms", "--progress", "none"}
		if continuation != "" {
			args = append(args, "--continue", continuation)
		}
		cmd, stdout, stderr := command(t, ev, args...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d: %v\n%s", runs+1, err, stderr)
		}
		var out struct {
			Complete     *bool
			Continuation string
			ItemCount    int
		}
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Complete == nil {
			t.Fatalf("run %d: stdout %s (%v)", runs+1, stdout, err)
		}
		if *out.Complete {
			if out.ItemCount != 3000 {
				t.Errorf("itemCount %d, want 3000", out.ItemCount)
			}
			break
		}
		if !strings.Contains(stderr.String(), "-continue "+out.Continuation) {
			t.Errorf("run %d: stderr does not say how to go on:\n%s", runs+1, stderr)
		}
		continuation = out.Continuation
	}
	if runs < 1 {
		t.Fatal("the first run completed: the test proves nothing about -continue")
	}
	body, err := stack.GetObject(context.Background(), bucket, "resumed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := testenv.Lines(t, body)
	for i, l := range lines {
		if want := fmt.Sprintf(`"SK":"ITEM#%06d"`, i); !strings.Contains(l, want) {
			t.Fatalf("line %d is %.80s, want %s", i, l, want)
		}
	}
	if len(lines) != 3000 {
		t.Errorf("%d lines, want 3000", len(lines))
	}

	// Started, then given up.
	// One item a page: 3,000 requests, which no machine ends within the
	// timeout, so that the run hands back a continuation.
	ev2 := strings.Replace(strings.Replace(ev, "resumed.jsonl", "cancelled.jsonl", 1), `"pageSize": 5`, `"pageSize": 1`, 1)
	cmd, stdout, stderr := command(t, ev2, "--timeout", "1500ms", "--progress", "none")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var out struct{ Continuation string }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Continuation == "" {
		t.Fatalf("stdout %s (%v), want a continuation", stdout, err)
	}
	cmd, stdout, stderr = command(t, ev2, "--continue", out.Continuation, "--cancel", "--progress", "none")
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), `"cancelled": true`) {
		t.Fatalf("cancel: %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	stack.AssertNothingLeft(t, context.Background(), bucket, "cancelled.jsonl")
}
