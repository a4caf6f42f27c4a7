package step_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

var (
	stack    *testenv.Stack
	stackErr error
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(s *testenv.Stack, err error) { stack, stackErr = s, err })
}

// env returns the running stack and a handler wired to it, or skips/fails.
func env(t *testing.T) (*testenv.Stack, *step.Handler) {
	t.Helper()
	testenv.Require(t, stackErr)
	ctx := context.Background()
	s3c := stack.S3(ctx)
	h := step.New(step.Deps{
		DynamoDB: stack.DynamoDB(ctx),
		S3:       s3c,
		Pointers: step.PointerReader{S3: s3c},
	})
	return stack, h
}

// seeded creates a table and a bucket and writes items to the table.
func seeded(t *testing.T, items []map[string]types.AttributeValue) (table, bucket string) {
	t.Helper()
	ctx := context.Background()
	table, bucket = testenv.Name("t"), testenv.Name("b")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	if err := stack.PutItems(ctx, table, items); err != nil {
		t.Fatal(err)
	}
	return table, bucket
}

// userItems makes n items under USER#<user> with every attribute type and
// a filler that makes each about size bytes.
func userItems(user string, n, size int) []map[string]types.AttributeValue {
	items := make([]map[string]types.AttributeValue, n)
	for i := range items {
		items[i] = map[string]types.AttributeValue{
			"PK":     &types.AttributeValueMemberS{Value: "USER#" + user},
			"SK":     &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#%06d", i)},
			"n":      &types.AttributeValueMemberN{Value: fmt.Sprintf("1234567890123456789012345678901234567.%d", i%9+1)},
			"small":  &types.AttributeValueMemberN{Value: fmt.Sprint(i)},
			"ok":     &types.AttributeValueMemberBOOL{Value: i%2 == 0},
			"none":   &types.AttributeValueMemberNULL{Value: true},
			"bin":    &types.AttributeValueMemberB{Value: []byte{0, 1, 2, byte(i)}},
			"tags":   &types.AttributeValueMemberSS{Value: []string{"a", "ü\"quote"}},
			"nested": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"z": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "-0.5"}}}, "a": &types.AttributeValueMemberS{Value: "日本"}}},
			"filler": &types.AttributeValueMemberS{Value: strings.Repeat("x", size)},
		}
	}
	return items
}

// invoke calls h with event and a minute to run.
func invoke(t *testing.T, h *step.Handler, event any) (map[string]any, *messages.InvokeResponse_Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return testenv.Invoke(t, ctx, h, event)
}

func TestExportShapes(t *testing.T) {
	_, h := env(t)
	want := userItems("123", 2500, 900) // ~2.5 MB: three or more 1 MB pages
	other := userItems("999", 30, 10)
	table, bucket := seeded(t, append(append([]map[string]types.AttributeValue{}, want...), other...))
	ctxData := map[string]any{"initialContextData": map[string]any{"userId": "123"}, "flowExecutionId": "exec-1"}

	tests := []struct {
		name  string
		event map[string]any
		wrap  string // "outputData" for the envelope
	}{
		{name: "direct", event: map[string]any{"customConfig": testenv.SeedConfig(table, bucket), "context": ctxData}},
		{name: "bare", event: func() map[string]any {
			m := testenv.SeedConfig(table, bucket)
			m["context"] = ctxData
			return m
		}()},
		{name: "envelope", wrap: "outputData", event: map[string]any{
			"stepDefinition": map[string]any{"stepInstanceId": "generate_user_manifest", "customConfig": testenv.SeedConfig(table, bucket)},
			"stepInput":      map[string]any{},
			"runtimeState": map[string]any{
				"flowExecutionId": "exec-1", "currentStepInstanceId": "generate_user_manifest",
				"currentContextData": map[string]any{"userId": "123"},
				"_internal":          map[string]any{"originalStartInput": map[string]any{"initialContextData": map[string]any{"userId": "123"}}},
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, ferr := invoke(t, h, tc.event)
			if ferr != nil {
				t.Fatalf("failed: %s: %s", ferr.Type, ferr.Message)
			}
			if tc.wrap != "" {
				out = out[tc.wrap].(map[string]any)
			}
			key := "manifests/123-exec-1.jsonl"
			wantPtr := map[string]any{"bucket": bucket, "key": key}
			if diff := cmp.Diff(wantPtr, out["manifest"].(map[string]any)["_s3_output_pointer"]); diff != "" {
				t.Errorf("pointer (-want +got):\n%s", diff)
			}
			if got := out["itemCount"]; got != json.Number("2500") {
				t.Errorf("itemCount = %v, want 2500", got)
			}
			stack.CheckManifest(t, bucket, key, want)
		})
	}
}

func TestMultipartManifest(t *testing.T) {
	_, h := env(t)
	want := userItems("big", 6500, 1000) // > 5 MiB: more than one part
	table, bucket := seeded(t, want)
	cfg := testenv.SeedConfig(table, bucket)
	cfg["destination"].(map[string]any)["key"] = "big.jsonl"
	out, ferr := invoke(t, h, map[string]any{"customConfig": cfg, "context": map[string]any{"initialContextData": map[string]any{"userId": "big"}}})
	if ferr != nil {
		t.Fatalf("failed: %s: %s", ferr.Type, ferr.Message)
	}
	size, _ := out["sizeBytes"].(json.Number).Int64()
	if size <= upload.DefaultPartSize {
		t.Fatalf("sizeBytes = %d, want more than one part (%d)", size, upload.DefaultPartSize)
	}
	stack.CheckManifest(t, bucket, "big.jsonl", want)
}

func TestZeroItems(t *testing.T) {
	_, h := env(t)
	table, bucket := seeded(t, userItems("someone", 3, 10))
	cfg := testenv.SeedConfig(table, bucket)
	cfg["destination"].(map[string]any)["key"] = "empty.jsonl"
	out, ferr := invoke(t, h, map[string]any{"customConfig": cfg, "context": map[string]any{"initialContextData": map[string]any{"userId": "nobody"}}})
	if ferr != nil {
		t.Fatalf("failed: %s: %s", ferr.Type, ferr.Message)
	}
	if out["itemCount"] != json.Number("0") {
		t.Errorf("itemCount = %v, want 0", out["itemCount"])
	}
	body, err := stack.GetObject(context.Background(), bucket, "empty.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != 0 {
		t.Errorf("manifest has %d bytes, want 0", len(body))
	}
}

// TestEmptyPages: a filter that matches only the last item makes DynamoDB
// return pages with zero items and a LastEvaluatedKey; paging must go on.
func TestEmptyPages(t *testing.T) {
	_, h := env(t)
	items := userItems("f", 3000, 900)
	items[len(items)-1]["flag"] = &types.AttributeValueMemberBOOL{Value: true}
	table, bucket := seeded(t, items)
	cfg := testenv.SeedConfig(table, bucket)
	q := cfg["query"].(map[string]any)
	q["filterExpression"] = "attribute_exists(flag)"
	cfg["destination"].(map[string]any)["key"] = "filtered.jsonl"
	out, ferr := invoke(t, h, map[string]any{"customConfig": cfg, "context": map[string]any{"initialContextData": map[string]any{"userId": "f"}}})
	if ferr != nil {
		t.Fatalf("failed: %s: %s", ferr.Type, ferr.Message)
	}
	if out["itemCount"] != json.Number("1") {
		t.Errorf("itemCount = %v, want 1", out["itemCount"])
	}
	stack.CheckManifest(t, bucket, "filtered.jsonl", items[len(items)-1:])
}

func TestFailuresLeaveNothing(t *testing.T) {
	_, h := env(t)
	table, bucket := seeded(t, userItems("u", 50, 10))
	ctxData := map[string]any{"initialContextData": map[string]any{"userId": "u"}, "flowExecutionId": "x"}
	tests := []struct {
		name     string
		mutate   func(cfg map[string]any)
		wantType string
		wantMsg  []string
		bucket   string
	}{
		{name: "missing table", mutate: func(c map[string]any) { c["query"].(map[string]any)["tableName"] = "no-such-table" },
			wantType: "PermanentStepError", wantMsg: []string{"no-such-table", "ResourceNotFoundException"}},
		{name: "missing bucket", mutate: func(c map[string]any) { c["destination"].(map[string]any)["bucketName"] = "no-such-bucket-x" },
			wantType: "PermanentStepError", wantMsg: []string{"no-such-bucket-x", "NoSuchBucket", "50 items"}, bucket: "no-such-bucket-x"},
		{name: "bad key condition", mutate: func(c map[string]any) { c["query"].(map[string]any)["keyConditionExpression"] = "PK == :partitionKey" },
			wantType: "PermanentStepError", wantMsg: []string{"ValidationException", "table t-"}},
		{name: "missing template path", mutate: func(c map[string]any) {
			c["destination"].(map[string]any)["key"] = "m/{{initialContextData.missing}}.jsonl"
		}, wantType: "PermanentStepError", wantMsg: []string{"destination.key", "initialContextData.missing"}},
		{name: "typo in a key", mutate: func(c map[string]any) {
			q := c["query"].(map[string]any)
			q["keyConditionExpresion"] = q["keyConditionExpression"]
			delete(q, "keyConditionExpression")
		}, wantType: "PermanentStepError", wantMsg: []string{"query.keyConditionExpresion", "did you mean", "query.keyConditionExpression: required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testenv.SeedConfig(table, bucket)
			tc.mutate(cfg)
			_, ferr := invoke(t, h, map[string]any{"customConfig": cfg, "context": ctxData})
			if ferr == nil {
				t.Fatal("succeeded, want an error")
			}
			if ferr.Type != tc.wantType {
				t.Errorf("errorType = %s, want %s (%s)", ferr.Type, tc.wantType, ferr.Message)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(ferr.Message, m) {
					t.Errorf("message %q does not mention %q", ferr.Message, m)
				}
			}
			b := bucket
			if tc.bucket != "" {
				b = tc.bucket
			}
			stack.AssertNothingLeft(t, context.Background(), b, "manifests/u-x.jsonl")
		})
	}
}

func TestBadEvents(t *testing.T) {
	_, h := env(t)
	tests := []struct {
		name    string
		payload string
		wantMsg string
	}{
		{"invalid JSON", `{"customConfig": `, "invalid JSON"},
		{"not an object", `[1,2]`, "expected a JSON object, got an array"},
		{"no known shape", `{"foo": 1}`, "expected a stepDefinition object"},
		{"customConfig not an object", `{"customConfig": "x"}`, "customConfig: expected an object, got a string"},
		{"missing required fields", `{"customConfig": {"query": {}, "destination": {}}}`, "query.tableName: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ferr := invoke(t, h, []byte(tc.payload))
			if ferr == nil || ferr.Type != "PermanentStepError" || !strings.Contains(ferr.Message, tc.wantMsg) {
				t.Fatalf("got %+v, want a PermanentStepError mentioning %q", ferr, tc.wantMsg)
			}
		})
	}
	_ = aws.String
}
