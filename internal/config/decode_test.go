package config

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/allma/ddb-query-to-s3-manifest/internal/suggest"
)

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

const minimal = `{"query":{"tableName":"Orders","keyConditionExpression":"PK = :pk","expressionAttributeValues":{":pk":"USER#1"}},"destination":{"bucketName":"my-bucket","key":"m.jsonl"}}`

func TestDecodeDefaults(t *testing.T) {
	cfg, err := Decode(decodeJSON(t, minimal), decodeJSON(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Query: Query{TableName: "Orders", KeyConditionExpression: "PK = :pk",
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "USER#1"}}},
		Destination: Destination{BucketName: "my-bucket", Key: "m.jsonl", ContentType: DefaultContentType, Overwrite: true},
		Output:      Output{Format: Plain},
	}
	if diff := cmp.Diff(want, cfg, cmpopts.IgnoreUnexported(types.AttributeValueMemberS{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDecodeFull(t *testing.T) {
	const full = `{
	  "query": {"tableName": "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders", "indexName": "byStatus",
	    "keyConditionExpression": "#s = :s", "expressionAttributeValues": {":s": "open", ":n": 12345678901234567890123456789012345678},
	    "expressionAttributeNames": {"#s": "status"}, "filterExpression": "x > :n", "projectionExpression": "a, b",
	    "scanIndexForward": false, "consistentRead": "true", "limit": 100, "pageSize": "25",
	    "exclusiveStartKey": {"PK": {"S": "a"}, "SK": "b"}},
	  "destination": {"bucketName": "b-1", "key": "k", "contentType": "text/plain", "overwrite": false,
	    "serverSideEncryption": "aws:kms", "kmsKeyId": "alias/x", "expectedBucketOwner": "123456789012"},
	  "output": {"format": "dynamodb"}, "enableItemOffloading": true}`
	cfg, err := Decode(decodeJSON(t, full), decodeJSON(t, full))
	if err != nil {
		t.Fatal(err)
	}
	q, d := cfg.Query, cfg.Destination
	if q.TableName != "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders" || q.Limit != 100 || q.PageSize != 25 || *q.ScanIndexForward || !*q.ConsistentRead {
		t.Errorf("query = %+v", q)
	}
	if n := q.ExpressionAttributeValues[":n"].(*types.AttributeValueMemberN).Value; n != "12345678901234567890123456789012345678" {
		t.Errorf(":n = %s, digits lost", n)
	}
	if len(q.ExclusiveStartKey) != 2 || q.ExpressionAttributeNames["#s"] != "status" {
		t.Errorf("exclusiveStartKey %v names %v", q.ExclusiveStartKey, q.ExpressionAttributeNames)
	}
	if d.Overwrite || d.ContentType != "text/plain" || d.KMSKeyID != "alias/x" || cfg.Output.Format != DynamoDB || !cfg.EnableItemOffloading {
		t.Errorf("destination %+v output %+v", d, cfg.Output)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string // every field error, in order
	}{
		{name: "everything missing", json: `{}`, want: []string{"query: required: expected an object", "destination: required: expected an object"}},
		{name: "required fields", json: `{"query":{},"destination":{}}`, want: []string{
			"query.tableName: required: expected a string",
			"query.keyConditionExpression: required: expected a string",
			"query.expressionAttributeValues: required: expected an object",
			"destination.bucketName: required: expected a string",
			"destination.key: required: expected a string"}},
		{name: "typo with suggestion", json: strings.Replace(minimal, `"keyConditionExpression"`, `"keyConditionExpresion"`, 1), want: []string{
			`query.keyConditionExpresion: unknown key; did you mean "keyConditionExpression"?`,
			"query.keyConditionExpression: required: expected a string"}},
		{name: "unknown top-level key", json: strings.Replace(minimal, `{"query"`, `{"outptu":{},"query"`, 1), want: []string{
			`outptu: unknown key; did you mean "output"?`}},
		{name: "wrong types", json: `{"query":{"tableName":["x"],"keyConditionExpression":"k","expressionAttributeValues":[],"limit":1.5,"pageSize":0,"scanIndexForward":"yes"},"destination":{"bucketName":"b-b","key":{}}}`, want: []string{
			"query.tableName: expected a string, got an array",
			"query.expressionAttributeValues: expected an object, got an array",
			"query.scanIndexForward: expected a boolean, got the string \"yes\"",
			`query.limit: expected an integer from 1 to 4611686018427387904, got "1.5"`,
			"query.pageSize: 0 is out of range: expected 1 to 1073741824",
			"destination.key: expected a string, got an object"}},
		{name: "key too long", json: strings.Replace(minimal, `"m.jsonl"`, `"`+strings.Repeat("k", 1100)+`"`, 1), want: []string{
			"destination.key: 1100 bytes, at most 1024"}},
		{name: "empty strings", json: strings.Replace(strings.Replace(minimal, `"Orders"`, `""`, 1), `"m.jsonl"`, `""`, 1), want: []string{
			`query.tableName: required: expected a non-empty string, got ""`,
			`destination.key: required: expected a non-empty string, got ""`}},
		{name: "bad names", json: strings.Replace(strings.Replace(minimal, `"Orders"`, `"a b"`, 1), `"my-bucket"`, `"-x"`, 1), want: []string{
			`query.tableName: "a b" is not a table name (3 to 255 of a-z A-Z 0-9 _ - .) or a table ARN`,
			`destination.bucketName: "-x" is not a bucket name (3 to 255 of a-z 0-9 . - _, starting and ending with a letter or digit)`}},
		{name: "placeholders", json: strings.Replace(minimal, `{":pk":"USER#1"}`, `{"pk":"USER#1"}`, 1), want: []string{
			`query.expressionAttributeValues.pk: placeholder names are ':' then letters`}},
		{name: "undefined and unused placeholders", json: strings.Replace(minimal, `"keyConditionExpression":"PK = :pk","expressionAttributeValues":{":pk":"USER#1"}`,
			`"keyConditionExpression":"#k = :pk","filterExpression":"x > :min","expressionAttributeValues":{":pk":"USER#1",":extra":1},"expressionAttributeNames":{"#k":"PK","#unused":"x"}`, 1), want: []string{
			"query.filterExpression: uses :min, which query.expressionAttributeValues does not define",
			"query.expressionAttributeValues.:extra: defined but used in no expression",
			"query.expressionAttributeNames.#unused: defined but used in no expression"}},
		{name: "descriptor with the wrong JSON type", json: strings.Replace(minimal, `{":pk":"USER#1"}`, `{":pk":{"N":true}}`, 1), want: []string{
			`query.expressionAttributeValues.:pk.N`}},
		{name: "format and encryption", json: strings.Replace(minimal, `"key":"m.jsonl"}`, `"key":"m.jsonl","serverSideEncryption":"kms"},"output":{"format":"csv"}`, 1), want: []string{
			`destination.serverSideEncryption: "kms" is not one of AES256, aws:kms, aws:kms:dsse`,
			`output.format`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(decodeJSON(t, tc.json), decodeJSON(t, tc.json))
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("err = %T %v, want Errors", err, err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d = %q, want it to start with %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestDecodeStringFields checks that a string field takes a number or a
// boolean only when a template produced it (issue 13 item 8): written as
// such, contentType: true or kmsKeyId: 5 is an error naming the field.
func TestDecodeStringFields(t *testing.T) {
	tests := []struct {
		name      string
		raw       string // the destination as written
		rendered  string // the destination after rendering; "" for raw
		want      Destination
		wantError string
	}{
		{name: "template yields a number", raw: `{"bucketName":"b-1","key":"{{userId}}"}`, rendered: `{"bucketName":"b-1","key":123}`,
			want: Destination{BucketName: "b-1", Key: "123", ContentType: DefaultContentType, Overwrite: true}},
		{name: "template yields a boolean", raw: `{"bucketName":"b-1","key":"k","contentType":"{{ct}}"}`, rendered: `{"bucketName":"b-1","key":"k","contentType":true}`,
			want: Destination{BucketName: "b-1", Key: "k", ContentType: "true", Overwrite: true}},
		{name: "template yields exact digits", raw: `{"bucketName":"b-1","key":"{{n}}"}`, rendered: `{"bucketName":"b-1","key":12345678901234567890.50}`,
			want: Destination{BucketName: "b-1", Key: "12345678901234567890.50", ContentType: DefaultContentType, Overwrite: true}},
		{name: "literal boolean", raw: `{"bucketName":"b-1","key":"k","contentType":true}`,
			wantError: "destination.contentType: expected a string, got a boolean true (write it in quotes if you mean the text)"},
		{name: "literal number", raw: `{"bucketName":"b-1","key":"k","kmsKeyId":5}`,
			wantError: "destination.kmsKeyId: expected a string, got a number 5 (write it in quotes if you mean the text)"},
		{name: "literal number as key", raw: `{"bucketName":"b-1","key":7}`,
			wantError: "destination.key: expected a string, got a number 7 (write it in quotes if you mean the text)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := `"query":{"tableName":"Orders","keyConditionExpression":"PK = :pk","expressionAttributeValues":{":pk":"x"}}`
			rendered := tc.rendered
			if rendered == "" {
				rendered = tc.raw
			}
			cfg, err := Decode(decodeJSON(t, `{`+q+`,"destination":`+rendered+`}`), decodeJSON(t, `{`+q+`,"destination":`+tc.raw+`}`))
			if tc.wantError != "" {
				if err == nil || err.Error() != tc.wantError {
					t.Fatalf("error = %v, want %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cfg.Destination); diff != "" {
				t.Errorf("destination (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeBucketARN checks that an ARN given as destination.bucketName is
// an access point's, found before the query rather than by S3 after it
// (issue 13 item 4).
func TestDecodeBucketARN(t *testing.T) {
	tests := []struct {
		bucket  string
		wantErr string // "" : valid
	}{
		{"arn:aws:s3:us-east-1:123456789012:accesspoint/my-ap", ""},
		{"arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/ap1", ""},
		{"arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", ""},
		{"arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/ap", ""},
		{"arn:garbage", `destination.bucketName: "arn:garbage" is not an S3 access point ARN (arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME): arn: not enough sections`},
		{"arn:aws:s3:::my-bucket", `destination.bucketName: "arn:aws:s3:::my-bucket" is not an S3 access point ARN (arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME): account "", want 12 digits`},
		{"arn:aws:dynamodb:us-east-1:123456789012:table/t", `service "dynamodb", want s3 or s3-outposts`},
		{"arn:aws:s3:us-east-1:123456789012:bucket/b", `resource "bucket/b", want accesspoint/NAME`},
		{"arn:aws:s3-outposts::123456789012:outpost/op-1/accesspoint/ap", "no region"},
	}
	for _, tc := range tests {
		t.Run(tc.bucket, func(t *testing.T) {
			tree := decodeJSON(t, strings.Replace(minimal, `"my-bucket"`, strconv.Quote(tc.bucket), 1))
			_, err := Decode(tree, tree)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Decode error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"keyConditionExpresion", "keyConditionExpression"}, {"TableName", "tableName"}, {"bucket", "bucketName"}, {"zzzzzzzzzzzz", ""},
	} {
		if got := suggest.Nearest(tc.in, append(QueryKeys, DestinationKeys...)); got != tc.want {
			t.Errorf("suggest.Nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParallelism(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Parallelism
		err  string
	}{
		{in: `4`, want: Parallelism{N: 4}},
		{in: `"4"`, want: Parallelism{N: 4}},
		{in: `"auto"`, want: Parallelism{Auto: true}},
		{in: `0`, err: "query.parallelism"},
		{in: `17`, err: "query.parallelism"},
		{in: `"fast"`, err: `"auto"`},
		{in: `true`, err: "query.parallelism"},
	} {
		cfg, err := Decode(decodeJSON(t, `{"query":{"tableName":"tbl","keyConditionExpression":"pk = :pk","expressionAttributeValues":{":pk":"a"},"parallelism":`+tc.in+`},"destination":{"bucketName":"b-b","key":"k"}}`), nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one naming %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if cfg.Query.Parallelism != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.in, cfg.Query.Parallelism, tc.want)
		}
	}
}
