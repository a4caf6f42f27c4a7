// Package e2e tests the real bootstrap binary under the Lambda Runtime
// Interface Emulator, invoked the way users invoke it: over the emulator's
// HTTP API and with `aws lambda invoke`, against dynalite and versitygw.
// The emulator takes one invocation at a time, so these tests run serially.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

var (
	stack  *testenv.Stack
	lambda *testenv.Lambda
	setup  error
)

func TestMain(m *testing.M) {
	stack, setup = testenv.Start()
	if setup == nil {
		lambda, setup = stack.StartLambda("AWS_LAMBDA_FUNCTION_TIMEOUT=60")
	}
	code := m.Run()
	if stack != nil {
		stack.Stop()
	}
	os.Exit(code)
}

func ready(t *testing.T) {
	t.Helper()
	testenv.Require(t, setup)
}

// seedExample writes items for USER#<user> and returns the table and bucket.
func seedExample(t *testing.T, user string, n int) (string, string) {
	t.Helper()
	ctx := context.Background()
	table, bucket := testenv.Name("tbl"), testenv.Name("bkt")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, true); err != nil {
		t.Fatal(err)
	}
	items := make([]map[string]types.AttributeValue, n)
	for i := range items {
		items[i] = map[string]types.AttributeValue{
			"PK":    &types.AttributeValueMemberS{Value: "USER#" + user},
			"SK":    &types.AttributeValueMemberS{Value: fmt.Sprintf("ORDER#%05d", i)},
			"total": &types.AttributeValueMemberN{Value: fmt.Sprintf("12345678901234567890123.%02d", i%99+1)},
		}
	}
	if err := stack.PutItems(ctx, table, items); err != nil {
		t.Fatal(err)
	}
	return table, bucket
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

func invokeHTTP(t *testing.T, event any) map[string]any {
	t.Helper()
	payload, ok := event.([]byte)
	if !ok {
		payload, _ = json.Marshal(event)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	body, err := lambda.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("%v\nlambda log:\n%s", err, stack.Log("lambda"))
	}
	return decode(t, body)
}

// TestSeedExampleEnvelope sends the seed's Full JSON Example wrapped in the
// orchestrator's envelope and finds the manifest at the rendered key.
func TestSeedExampleEnvelope(t *testing.T) {
	ready(t)
	table, bucket := seedExample(t, "42", 1500)
	out := invokeHTTP(t, testenv.SeedEnvelope(table, bucket, "exec-abc", "42"))
	data, ok := out["outputData"].(map[string]any)
	if !ok {
		t.Fatalf("reply has no outputData: %v", out)
	}
	ptr := data["manifest"].(map[string]any)["_s3_output_pointer"].(map[string]any)
	key := "manifests/42-exec-abc.jsonl"
	if ptr["bucket"] != bucket || ptr["key"] != key {
		t.Errorf("pointer = %v, want %s/%s", ptr, bucket, key)
	}
	if v, _ := ptr["versionId"].(string); v == "" {
		t.Errorf("pointer has no versionId in a versioned bucket: %v", ptr)
	}
	if data["itemCount"] != json.Number("1500") {
		t.Errorf("itemCount = %v, want 1500", data["itemCount"])
	}
	body, err := stack.GetObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	lines := testenv.Lines(t, body)
	if len(lines) != 1500 {
		t.Fatalf("%d lines, want 1500", len(lines))
	}
	if want := `{"PK":"USER#42","SK":"ORDER#00000","total":12345678901234567890123.01}`; lines[0] != want {
		t.Errorf("line 0 = %s\nwant     %s", lines[0], want)
	}
}

// TestErrorTypes checks the errorType Step Functions users match, as the
// emulator reports it.
func TestErrorTypes(t *testing.T) {
	ready(t)
	table, bucket := seedExample(t, "7", 10)
	tests := []struct {
		name     string
		payload  string
		wantType string
		wantMsg  string
	}{
		{"invalid JSON is ours, not SyntaxError", `{"customConfig":`, "PermanentStepError", "invalid JSON"},
		{"unknown shape", `{"hello": "world"}`, "PermanentStepError", "stepDefinition"},
		{"missing table", fmt.Sprintf(`{"query":{"tableName":"nope-nope","keyConditionExpression":"PK = :p","expressionAttributeValues":{":p":"x"}},"destination":{"bucketName":%q,"key":"k.jsonl"}}`, bucket),
			"PermanentStepError", "ResourceNotFoundException"},
		{"missing bucket", fmt.Sprintf(`{"query":{"tableName":%q,"keyConditionExpression":"PK = :p","expressionAttributeValues":{":p":"USER#7"}},"destination":{"bucketName":"no-such-bucket-zz","key":"k.jsonl"}}`, table),
			"PermanentStepError", "NoSuchBucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := invokeHTTP(t, []byte(tc.payload))
			if out["errorType"] != tc.wantType {
				t.Errorf("errorType = %v, want %s (reply %v)", out["errorType"], tc.wantType, out)
			}
			if msg, _ := out["errorMessage"].(string); !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("errorMessage %q does not mention %q", msg, tc.wantMsg)
			}
		})
	}
	stack.AssertNothingLeft(t, context.Background(), bucket, "k.jsonl")
}

// TestAWSCLI invokes the function with `aws lambda invoke`, the way a user
// of awscli would, using the direct shape.
func TestAWSCLI(t *testing.T) {
	ready(t)
	aws, err := exec.LookPath("aws")
	if err != nil {
		testenv.Require(t, fmt.Errorf("aws: %w", testenv.ErrMissing))
	}
	table, bucket := seedExample(t, "cli", 250)
	payload := fmt.Sprintf(`{"customConfig":{"query":{"tableName":%q,"keyConditionExpression":"PK = :pk","expressionAttributeValues":{":pk":"USER#{{userId}}"},"limit":100},`+
		`"destination":{"bucketName":%q,"key":"cli/{{flowExecutionId}}.jsonl"}},"context":{"userId":"cli","flowExecutionId":"run-1"}}`, table, bucket)
	outFile := filepath.Join(t.TempDir(), "out.json")
	unlock := lambda.Lock()
	cmd := exec.Command(aws, "lambda", "invoke", "--endpoint-url", lambda.Endpoint, "--function-name", "function",
		"--cli-read-timeout", "0", "--payload", payload, outFile)
	cmd.Env = append(os.Environ(), stack.Env()...)
	res, err := cmd.CombinedOutput()
	unlock()
	if err != nil {
		t.Fatalf("aws lambda invoke: %v\n%s", err, res)
	}
	if strings.Contains(string(res), "FunctionError") {
		t.Errorf("function error: %s", res)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	out := decode(t, b)
	ptr := out["manifest"].(map[string]any)["_s3_output_pointer"].(map[string]any)
	delete(ptr, "versionId")
	if diff := cmp.Diff(map[string]any{"bucket": bucket, "key": "cli/run-1.jsonl"}, ptr); diff != "" {
		t.Errorf("pointer (-want +got):\n%s", diff)
	}
	if out["itemCount"] != json.Number("100") || out["truncated"] != true {
		t.Errorf("itemCount = %v truncated = %v, want 100 and true", out["itemCount"], out["truncated"])
	}
	if _, ok := out["lastEvaluatedKey"].(map[string]any); !ok {
		t.Errorf("no lastEvaluatedKey in a truncated result: %v", out)
	}
}
