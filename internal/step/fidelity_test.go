package step_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// storedItems reads a partition back with the SDK, as DynamoDB stores it
// (numbers normalised), in key order.
func storedItems(t *testing.T, table, pk string) []map[string]types.AttributeValue {
	t.Helper()
	ctx := context.Background()
	p := dynamodb.NewQueryPaginator(stack.DynamoDB(ctx), &dynamodb.QueryInput{
		TableName: aws.String(table), KeyConditionExpression: aws.String("PK = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: pk}},
	})
	var items []map[string]types.AttributeValue
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Items...)
	}
	return items
}

func readLines(t *testing.T, bucket, key string) []map[string]any {
	t.Helper()
	body, err := stack.GetObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("read s3://%s/%s: %v", bucket, key, err)
	}
	var out []map[string]any
	for i, line := range testenv.Lines(t, body) {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		out = append(out, m)
	}
	return out
}

// TestPropertyRoundTrip writes random items of every type to dynalite,
// exports them in both formats and parses the manifests back.
func TestPropertyRoundTrip(t *testing.T) {
	_, h := env(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	items := make([]map[string]types.AttributeValue, 300)
	for i := range items {
		it := attrtest.RandomItem(r, attrtest.Options{Exclude: []string{"PK", "SK"}, MaxSize: 20000})
		it["PK"] = &types.AttributeValueMemberS{Value: "P"}
		it["SK"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("%05d", i)}
		items[i] = it
	}
	table, bucket := seeded(t, items)
	stored := storedItems(t, table, "P")
	if len(stored) != len(items) {
		t.Fatalf("dynalite holds %d items, wrote %d", len(stored), len(items))
	}
	for _, format := range []string{"plain", "dynamodb"} {
		t.Run(format, func(t *testing.T) {
			cfg := map[string]any{
				"query":       map[string]any{"tableName": table, "keyConditionExpression": "PK = :p", "expressionAttributeValues": map[string]any{":p": "P"}},
				"destination": map[string]any{"bucketName": bucket, "key": format + ".jsonl"},
				"output":      map[string]any{"format": format},
			}
			if _, ferr := invoke(t, h, map[string]any{"customConfig": cfg}); ferr != nil {
				t.Fatalf("%s: %s", ferr.Type, ferr.Message)
			}
			// The manifest is, byte for byte, the Encoder's lines for the
			// items as the SDK decodes them (the oracle of the transcoder).
			f, err := config.ParseFormat(format)
			if err != nil {
				t.Fatal(err)
			}
			enc := lines.NewEncoder(f)
			var want []byte
			for _, it := range stored {
				if want, err = enc.AppendItem(want, it); err != nil {
					t.Fatal(err)
				}
				want = append(want, '\n')
			}
			got, err := stack.GetObject(context.Background(), bucket, format+".jsonl")
			if err != nil || string(got) != string(want) {
				t.Fatalf("manifest (%d bytes, %v) differs from the Encoder's lines for the SDK's items (%d bytes)", len(got), err, len(want))
			}
			manifest := readLines(t, bucket, format+".jsonl")
			if len(manifest) != len(items) {
				t.Fatalf("%d lines, want %d", len(manifest), len(items))
			}
			for i, line := range manifest {
				switch format {
				case "plain":
					if diff := cmp.Diff(attr.PlainValue(&types.AttributeValueMemberM{Value: stored[i]}), any(line)); diff != "" {
						t.Fatalf("item %d (-stored +manifest):\n%s", i, diff)
					}
				case "dynamodb":
					got, err := attr.ItemFromJSON(line)
					if err != nil {
						t.Fatalf("line %d does not parse as DynamoDB JSON: %v", i, err)
					}
					if diff := attrtest.Diff(items[i], got); diff != "" {
						t.Fatalf("item %d does not round-trip (-written +manifest):\n%s", i, diff)
					}
				}
			}
		})
	}
}

// TestQueryOptions covers each query option against dynalite.
func TestQueryOptions(t *testing.T) {
	_, h := env(t)
	ctx := context.Background()
	table, bucket := testenv.Name("opts"), testenv.Name("b")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK",
		Attrs: map[string]types.ScalarAttributeType{"n": types.ScalarAttributeTypeN},
		GSIs:  []testenv.Index{{Name: "byStatus", HashKey: "status", RangeKey: "SK"}},
		LSIs:  []testenv.Index{{Name: "byN", HashKey: "PK", RangeKey: "n"}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	var items []map[string]types.AttributeValue
	for i := range 40 {
		items = append(items, map[string]types.AttributeValue{
			"PK":     &types.AttributeValueMemberS{Value: "A"},
			"SK":     &types.AttributeValueMemberS{Value: fmt.Sprintf("%03d", i)},
			"n":      &types.AttributeValueMemberN{Value: fmt.Sprint(100 - i)},
			"status": &types.AttributeValueMemberS{Value: []string{"open", "closed"}[i%2]},
			"name":   &types.AttributeValueMemberS{Value: fmt.Sprintf("name-%d", i)},
			"data":   &types.AttributeValueMemberS{Value: "d"},
		})
	}
	if err := stack.PutItems(ctx, table, items); err != nil {
		t.Fatal(err)
	}
	sks := func(lines []map[string]any) []string {
		var out []string
		for _, l := range lines {
			out = append(out, l["SK"].(string))
		}
		return out
	}
	rangeSK := func(from, to, step int) []string {
		var out []string
		for i := from; i != to; i += step {
			out = append(out, fmt.Sprintf("%03d", i))
		}
		return out
	}
	tests := []struct {
		name    string
		query   map[string]any
		wantSK  []string
		check   func(t *testing.T, out map[string]any, lines []map[string]any)
		wantErr string
	}{
		{name: "scanIndexForward false", query: map[string]any{"scanIndexForward": false}, wantSK: rangeSK(39, -1, -1)},
		{name: "GSI", query: map[string]any{"indexName": "byStatus", "keyConditionExpression": "#s = :s", "expressionAttributeNames": map[string]any{"#s": "status"},
			"expressionAttributeValues": map[string]any{":s": "closed"}}, wantSK: rangeSK(1, 41, 2)},
		{name: "LSI in n order", query: map[string]any{"indexName": "byN", "keyConditionExpression": "PK = :p AND n <= :max",
			"expressionAttributeValues": map[string]any{":p": "A", ":max": json.Number("65")}}, wantSK: rangeSK(39, 34, -1)},
		{name: "projection with reserved words", query: map[string]any{"projectionExpression": "SK, #n, #d", "expressionAttributeNames": map[string]any{"#n": "name", "#d": "data"}, "limit": json.Number("2")},
			check: func(t *testing.T, _ map[string]any, lines []map[string]any) {
				want := []map[string]any{{"SK": "000", "name": "name-0", "data": "d"}, {"SK": "001", "name": "name-1", "data": "d"}}
				if diff := cmp.Diff(want, lines); diff != "" {
					t.Errorf("projected lines (-want +got):\n%s", diff)
				}
			}},
		{name: "filter with a number value", query: map[string]any{"filterExpression": "n > :min", "expressionAttributeValues": map[string]any{":p": "A", ":min": json.Number("95")}, "pageSize": json.Number("3")},
			wantSK: rangeSK(0, 5, 1)},
		{name: "limit across pages truncates", query: map[string]any{"limit": json.Number("7"), "pageSize": json.Number("3")}, wantSK: rangeSK(0, 7, 1),
			check: func(t *testing.T, out map[string]any, _ []map[string]any) {
				if out["truncated"] != true {
					t.Errorf("truncated = %v, want true", out["truncated"])
				}
				want := map[string]any{"PK": map[string]any{"S": "A"}, "SK": map[string]any{"S": "006"}}
				if diff := cmp.Diff(want, out["lastEvaluatedKey"]); diff != "" {
					t.Errorf("lastEvaluatedKey (-want +got):\n%s", diff)
				}
			}},
		{name: "resume from exclusiveStartKey", query: map[string]any{"exclusiveStartKey": map[string]any{"PK": map[string]any{"S": "A"}, "SK": "036"}}, wantSK: rangeSK(37, 40, 1),
			check: func(t *testing.T, out map[string]any, _ []map[string]any) {
				if _, ok := out["truncated"]; ok {
					t.Errorf("truncated present in a complete result: %v", out)
				}
			}},
		{name: "limit larger than the result", query: map[string]any{"limit": json.Number("1000")}, wantSK: rangeSK(0, 40, 1),
			check: func(t *testing.T, out map[string]any, _ []map[string]any) {
				if _, ok := out["truncated"]; ok {
					t.Errorf("truncated present when DynamoDB was done: %v", out)
				}
			}},
		{name: "consistentRead on a GSI", query: map[string]any{"indexName": "byStatus", "keyConditionExpression": "#s = :s", "expressionAttributeNames": map[string]any{"#s": "status"},
			"expressionAttributeValues": map[string]any{":s": "closed"}, "consistentRead": true}, wantErr: "query.consistentRead"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := map[string]any{"tableName": table, "keyConditionExpression": "PK = :p", "expressionAttributeValues": map[string]any{":p": "A"}}
			for k, v := range tc.query {
				q[k] = v
			}
			key := fmt.Sprintf("opts/%d.jsonl", i)
			out, ferr := invoke(t, h, map[string]any{"customConfig": map[string]any{"query": q, "destination": map[string]any{"bucketName": bucket, "key": key}}})
			if tc.wantErr != "" {
				if ferr == nil || ferr.Type != "PermanentStepError" || !strings.Contains(ferr.Message, tc.wantErr) {
					t.Fatalf("got %+v, want a PermanentStepError naming %s", ferr, tc.wantErr)
				}
				stack.AssertNothingLeft(t, ctx, bucket, key)
				return
			}
			if ferr != nil {
				t.Fatalf("%s: %s", ferr.Type, ferr.Message)
			}
			lines := readLines(t, bucket, key)
			if tc.wantSK != nil {
				if diff := cmp.Diff(tc.wantSK, sks(lines)); diff != "" {
					t.Errorf("sort keys (-want +got):\n%s", diff)
				}
			}
			if tc.check != nil {
				tc.check(t, out, lines)
			}
		})
	}
}

// TestDestinationOptions: overwrite false, content type, sizeBytes and
// checksumCRC64NVME.
func TestDestinationOptions(t *testing.T) {
	_, h := env(t)
	table, bucket := seeded(t, userItems("d", 20, 10))
	cfg := testenv.SeedConfig(table, bucket)
	dst := cfg["destination"].(map[string]any)
	dst["key"] = "once.jsonl"
	dst["overwrite"] = false
	dst["contentType"] = "application/jsonl"
	ev := map[string]any{"customConfig": cfg, "context": map[string]any{"initialContextData": map[string]any{"userId": "d"}}}
	out, ferr := invoke(t, h, ev)
	if ferr != nil {
		t.Fatalf("first write: %s: %s", ferr.Type, ferr.Message)
	}
	body, err := stack.GetObject(context.Background(), bucket, "once.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if out["sizeBytes"] != json.Number(fmt.Sprint(len(body))) {
		t.Errorf("sizeBytes = %v, object has %d bytes", out["sizeBytes"], len(body))
	}
	if crc := crc64nvme.Encode(crc64nvme.Checksum(body)); out["checksumCRC64NVME"] != crc {
		t.Errorf("checksumCRC64NVME = %v, the object's bytes have %s", out["checksumCRC64NVME"], crc)
	}
	head, err := stack.S3(context.Background()).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("once.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(head.ContentType); got != "application/jsonl" {
		t.Errorf("Content-Type = %q, want application/jsonl", got)
	}
	_, ferr = invoke(t, h, ev)
	if ferr == nil || ferr.Type != "PermanentStepError" || !strings.Contains(ferr.Message, "already exists") {
		t.Fatalf("second write with overwrite false: got %+v, want a PermanentStepError saying the object exists", ferr)
	}
	again, err := stack.GetObject(context.Background(), bucket, "once.jsonl")
	if err != nil || string(again) != string(body) {
		t.Errorf("the existing object changed (err %v)", err)
	}
}

// TestItemOffloading: lines over the threshold go to their own objects.
func TestItemOffloading(t *testing.T) {
	testenv.Require(t, stackErr)
	ctx := context.Background()
	s3c := stack.S3(ctx)
	h := step.New(step.Deps{
		DynamoDB: stack.DynamoDB(ctx),
		S3:       s3c,
		Export:   export.Options{Offload: export.Offload{API: s3c, Threshold: 2000}},
	})
	items := userItems("o", 10, 100)
	for i := range items {
		if i%3 == 0 {
			items[i]["filler"] = &types.AttributeValueMemberS{Value: strings.Repeat("y", 5000)}
		}
	}
	table, bucket := seeded(t, items)
	cfg := testenv.SeedConfig(table, bucket)
	cfg["enableItemOffloading"] = true
	cfg["destination"].(map[string]any)["key"] = "off.jsonl"
	out, ferr := invoke(t, h, map[string]any{"customConfig": cfg, "context": map[string]any{
		"initialContextData": map[string]any{"userId": "o"}, "flowExecutionId": "flow-9", "stepInstanceId": "s1"}})
	if ferr != nil {
		t.Fatalf("%s: %s", ferr.Type, ferr.Message)
	}
	if out["itemsOffloaded"] != json.Number("4") {
		t.Errorf("itemsOffloaded = %v, want 4", out["itemsOffloaded"])
	}
	lines := readLines(t, bucket, "off.jsonl")
	for i, line := range lines {
		ptr, isPtr := line["_s3_output_pointer"].(map[string]any)
		if isPtr != (i%3 == 0) {
			t.Fatalf("line %d: offloaded = %v, want %v", i, isPtr, i%3 == 0)
		}
		if !isPtr {
			continue
		}
		key := ptr["key"].(string)
		if !strings.HasPrefix(key, "manifest_items/flow-9/s1/") || !strings.HasSuffix(key, fmt.Sprintf("/%d.json", i)) || ptr["bucket"] != bucket {
			t.Errorf("line %d pointer = %v", i, ptr)
		}
		body, err := stack.GetObject(ctx, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(attr.PlainValue(&types.AttributeValueMemberM{Value: items[i]}), any(got)); diff != "" {
			t.Errorf("offloaded item %d (-want +got):\n%s", i, diff)
		}
	}
}
