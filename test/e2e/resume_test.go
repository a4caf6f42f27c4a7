package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	"github.com/allma/ddb-query-to-s3-manifest/internal/resume"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// TestResumableThroughTheEmulator runs a resumable export the way the
// example state machine does, through the real bootstrap under the
// emulator with a 3 s function timeout (and a 2.7 s margin, so each
// invocation reads for about 0.3 s): the same event, plus the last
// reply's continuation, until a reply says complete. The manifest must be
// byte-identical to one uninterrupted run's, every continuation under
// 4 KiB, and nothing else left in the bucket.
func TestResumableThroughTheEmulator(t *testing.T) {
	ready(t)
	short, err := stack.StartLambda("AWS_LAMBDA_FUNCTION_TIMEOUT=3", "MANIFEST_DEADLINE_MARGIN=2700ms")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	table, bucket := testenv.Name("tbl"), testenv.Name("bkt")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	items := make([]map[string]types.AttributeValue, 6000)
	for i := range items {
		items[i] = map[string]types.AttributeValue{
			"PK":   &types.AttributeValueMemberS{Value: "USER#big"},
			"SK":   &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#%06d", i)},
			"n":    &types.AttributeValueMemberN{Value: fmt.Sprintf("98765432109876543210.%04d", i)},
			"text": &types.AttributeValueMemberS{Value: strings.Repeat("ü", 500+i%300)},
		}
	}
	if err := stack.PutItems(ctx, table, items); err != nil {
		t.Fatal(err)
	}
	config := func(key string) map[string]any {
		return map[string]any{
			"resumable": true,
			"query": map[string]any{"tableName": table, "keyConditionExpression": "PK = :pk",
				"expressionAttributeValues": map[string]any{":pk": "USER#big"}, "pageSize": 10},
			"destination": map[string]any{"bucketName": bucket, "key": key},
		}
	}

	// One uninterrupted run, on the function with a 60 s timeout.
	one := invokeHTTP(t, map[string]any{"customConfig": config("one.jsonl")})
	if one["complete"] != true {
		t.Fatalf("the uninterrupted run did not complete: %v", one)
	}

	var continuation any // null on the first invocation, as the state machine sends it
	var last map[string]any
	runs := 0
	for ; runs < 40; runs++ {
		payload, _ := json.Marshal(map[string]any{"customConfig": config("many.jsonl"), "continuation": continuation})
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		body, err := short.Invoke(ictx, payload)
		cancel()
		if err != nil {
			t.Fatalf("invocation %d: %v", runs+1, err)
		}
		last = decode(t, body)
		if last["errorType"] != nil {
			t.Fatalf("invocation %d failed: %v", runs+1, last)
		}
		if last["complete"] == true {
			runs++
			break
		}
		c, _ := last["continuation"].(string)
		if last["complete"] != false || c == "" || len(c) > resume.MaxTokenBytes {
			t.Fatalf("invocation %d: reply %v, want complete false and a continuation under 4 KiB", runs+1, last)
		}
		continuation = c
	}
	t.Logf("%d invocations", runs)
	if runs < 2 || last["complete"] != true {
		t.Fatalf("%d invocations, last reply %v: want several, the last complete", runs, last)
	}
	if last["itemCount"] != one["itemCount"] || last["sizeBytes"] != one["sizeBytes"] {
		t.Errorf("last reply %v, uninterrupted run %v", last, one)
	}
	checkRecords(t, short.Log(), runs, last)
	want, err := stack.GetObject(ctx, bucket, "one.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	got, err := stack.GetObject(ctx, bucket, "many.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("manifest after %d invocations: %d bytes, uninterrupted %d bytes, not identical", runs, len(got), len(want))
	}
	if len(want) <= 5<<20 {
		t.Errorf("manifest of %d bytes: the test wants more than one part", len(want))
	}
	list, err := stack.S3(ctx).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if strings.Join(keys, " ") != "many.jsonl one.jsonl" {
		t.Errorf("objects in the bucket: %v, want the two manifests only", keys)
	}
	stack.AssertNothingLeft(t, ctx, bucket, "nothing.jsonl")
	ups, err := stack.S3(ctx).ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(ups.Uploads) > 0 {
		t.Errorf("open uploads: %v (%v)", ups, err)
	}

	// The same continuation with another config touches nothing.
	payload, _ := json.Marshal(map[string]any{"customConfig": config("other.jsonl"), "continuation": continuation})
	body, err := short.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if r := decode(t, body); r["errorType"] != "PermanentStepError" || !strings.Contains(fmt.Sprint(r["errorMessage"]), "continuation") {
		t.Errorf("another config's continuation: %v, want a PermanentStepError naming continuation", r)
	}
	if recs, _ := records(t, short.Log()); len(recs) != runs+1 || recs[runs][metrics.Failures] != 1 {
		t.Errorf("%d metrics records after the failed invocation, want %d, the last with Failures 1", len(recs), runs+1)
	}
}

// checkRecords checks the function's stdout after a resumable export of
// runs invocations whose last reply was last: one metrics record per
// invocation, a continuation counted in each but the last, the
// invocations' items and bytes adding up to the export's; and every log
// line carries the request id, and the export's lines its id.
func checkRecords(t *testing.T, stdout string, runs int, last map[string]any) {
	t.Helper()
	recs, logs := records(t, stdout)
	if len(recs) != runs {
		t.Fatalf("%d metrics records, want one per invocation, %d", len(recs), runs)
	}
	var items, bytes int64
	for i, r := range recs {
		items += r[metrics.ItemsWritten]
		bytes += r[metrics.BytesWritten]
		want := int64(1)
		if i == runs-1 {
			want = 0
		}
		if r[metrics.Continuations] != want || r[metrics.Failures] != 0 || r[metrics.Readers] > 1 {
			t.Errorf("invocation %d: record %v, want Continuations %d, no failure, at most 1 reader", i+1, r, want)
		}
	}
	if fmt.Sprint(items) != fmt.Sprint(last["itemCount"]) || fmt.Sprint(bytes) != fmt.Sprint(last["sizeBytes"]) {
		t.Errorf("the invocations' records add up to %d items, %d bytes; the export wrote %v, %v", items, bytes, last["itemCount"], last["sizeBytes"])
	}
	exports := map[any]bool{}
	for _, l := range logs {
		if l["requestId"] == nil {
			t.Errorf("log line without requestId: %v", l)
		}
		if l["msg"] == "start" || l["msg"] == "continues" || l["msg"] == "done" {
			exports[l["exportId"]] = true
		}
	}
	if len(exports) != 1 || exports[nil] { // the uninterrupted run was another function's
		t.Errorf("export ids in the start, continues and done lines: %v, want the export's, in every invocation", exports)
	}
}

// records returns the metrics records (by name, exactly) and the JSON log
// lines that the function wrote on its stdout; the emulator's own lines
// are not JSON objects.
func records(t *testing.T, stdout string) (recs []map[string]int64, logs []map[string]any) {
	t.Helper()
	for line := range strings.Lines(stdout) {
		switch {
		case strings.HasPrefix(line, `{"_aws":`):
			r, err := metrics.Parse([]byte(line))
			if err != nil {
				t.Fatalf("metrics record: %v\n%s", err, line)
			}
			m := map[string]int64{}
			for _, x := range r.Metrics {
				m[x.Name] = x.Value
			}
			if r.Namespace != metrics.DefaultNamespace || len(r.Dimensions) != 1 || r.Dimensions[0].Name != "FunctionName" {
				t.Errorf("record in namespace %q with dimensions %v", r.Namespace, r.Dimensions)
			}
			recs = append(recs, m)
		case strings.HasPrefix(line, "{"):
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["msg"] != nil {
				logs = append(logs, l)
			}
		}
	}
	return recs, logs
}
