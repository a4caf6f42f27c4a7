package step_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// TestArrayContainer: with output.container "array" the manifest is one
// JSON array whose elements are the JSON lines manifest's lines, in order:
// for no item, one, many (read by four range readers, so that segments
// meet), and with offloading; its content type is application/json.
func TestArrayContainer(t *testing.T) {
	testenv.Require(t, stackErr)
	ctx := context.Background()
	s3c := stack.S3(ctx)
	logs := &logBuffer{}
	h := step.New(step.Deps{DynamoDB: stack.DynamoDB(ctx), S3: s3c, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Export: export.Options{Offload: export.Offload{API: s3c, Threshold: 2000}}})
	defer func() {
		if n := strings.Count(logs.String(), "reading in key ranges"); n < 4 {
			t.Errorf("%d exports read in key ranges, want the 4 of the many items with parallelism", n)
		}
	}()
	items := userItems("arr", 700, 60)
	for i := range items {
		if i%97 == 0 {
			items[i]["filler"] = &types.AttributeValueMemberS{Value: strings.Repeat("y", 3000)}
		}
	}
	items = append(items, userItems("one", 1, 10)...)
	table, bucket := seeded(t, items)
	for _, tc := range []struct {
		name, user string
		want       int
		edit       func(cfg map[string]any)
	}{
		{name: "none", user: "nobody", want: 0},
		{name: "one", user: "one", want: 1},
		{name: "many", user: "arr", want: 700, edit: func(cfg map[string]any) {
			q := cfg["query"].(map[string]any)
			q["parallelism"], q["pageSize"] = 4, 40
		}},
		{name: "many descending", user: "arr", want: 700, edit: func(cfg map[string]any) {
			q := cfg["query"].(map[string]any)
			q["parallelism"], q["pageSize"], q["scanIndexForward"] = "auto", 25, false
		}},
		{name: "offloaded", user: "arr", want: 700, edit: func(cfg map[string]any) { cfg["enableItemOffloading"] = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2][]byte
			for i, container := range []string{"jsonl", "array"} {
				cfg := testenv.SeedConfig(table, bucket)
				if tc.edit != nil {
					tc.edit(cfg)
				}
				key := strings.ReplaceAll(tc.name, " ", "-") + "." + container
				cfg["destination"].(map[string]any)["key"] = key
				cfg["output"] = map[string]any{"container": container}
				out, ferr := invoke(t, h, map[string]any{"customConfig": cfg, "context": map[string]any{
					"initialContextData": map[string]any{"userId": tc.user}, "flowExecutionId": "flow-a", "stepInstanceId": container}})
				if ferr != nil {
					t.Fatalf("%s: %s: %s", container, ferr.Type, ferr.Message)
				}
				if out["itemCount"] != json.Number(fmt.Sprint(tc.want)) {
					t.Fatalf("%s: itemCount %v, want %d", container, out["itemCount"], tc.want)
				}
				head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				if want := map[string]string{"jsonl": "application/x-jsonlines", "array": "application/json"}[container]; aws.ToString(head.ContentType) != want {
					t.Errorf("%s: content type %q, want %q", container, aws.ToString(head.ContentType), want)
				}
				if got[i], err = stack.GetObject(ctx, bucket, key); err != nil {
					t.Fatal(err)
				}
			}
			var array []any
			dec := json.NewDecoder(bytes.NewReader(got[1]))
			dec.UseNumber()
			if err := dec.Decode(&array); err != nil {
				t.Fatalf("the array manifest is not one JSON array: %v\n%.300s", err, got[1])
			}
			if dec.More() {
				t.Fatal("the array manifest has more after the array")
			}
			if array == nil {
				array = []any{}
			}
			lines := []any{}
			for _, l := range bytes.SplitAfter(got[0], []byte("\n")) {
				if len(l) == 0 {
					continue
				}
				var v any
				d := json.NewDecoder(bytes.NewReader(l))
				d.UseNumber()
				if err := d.Decode(&v); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, v)
			}
			if tc.name != "offloaded" { // the pointers name each run's own objects
				if diff := cmp.Diff(lines, array); diff != "" {
					t.Errorf("array elements differ from the JSON lines (-lines +array):\n%s", diff)
				}
			} else if len(array) != len(lines) {
				t.Errorf("%d elements, %d lines", len(array), len(lines))
			}
			if want := strings.Join(strings.Split(strings.TrimSuffix(string(got[0]), "\n"), "\n"), ",\n"); tc.name != "offloaded" && string(got[1]) != "["+want+"]" {
				t.Errorf("the array is not [, the lines separated by \",\\n\", ]:\n%.200s", got[1])
			}
		})
	}
}
