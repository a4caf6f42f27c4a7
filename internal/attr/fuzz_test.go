package attr_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
)

// FuzzFromJSON feeds arbitrary JSON to FromJSON: it never panics, and what it
// accepts is a valid DynamoDB value, so that both manifest formats write it
// and the DynamoDB JSON line reads back to the same value.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{
		`"x"`, `1.50`, `null`, `true`, `[1, "a", [null]]`, `{"a": {"b": 1}}`,
		`{"N": "1.50"}`, `{"N": 5}`, `{"B": "AQID"}`, `{"B": "!"}`, `{"SS": ["a", "a"]}`,
		`{"NS": ["1", "1.0"]}`, `{"BS": ["AQ=="]}`, `{"NULL": false}`, `{"L": [{"S": "x"}, 1]}`,
		`{"M": {"a": {"M": {"b": {"BOOL": true}}}}}`, `{"SS": []}`, `1e126`, `123456789012345678901234567890123456789`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return
		}
		av, err := attr.FromJSON(v)
		if err != nil {
			if _, ok := err.(*attr.Error); !ok {
				t.Fatalf("error %T, want *attr.Error", err)
			}
			return
		}
		want := map[string]types.AttributeValue{"v": av}
		for _, f := range []config.Format{config.Plain, config.DynamoDB} {
			line, err := lines.NewEncoder(f).AppendItem(nil, want)
			if err != nil {
				t.Fatalf("FromJSON accepted %s but %v cannot write it: %v", data, f, err)
			}
			if !json.Valid(line) {
				t.Fatalf("%v wrote invalid JSON %s", f, line)
			}
			if f != config.DynamoDB {
				continue
			}
			dd := json.NewDecoder(bytes.NewReader(line))
			dd.UseNumber()
			var back map[string]any
			if err := dd.Decode(&back); err != nil {
				t.Fatal(err)
			}
			got, err := attr.ItemFromJSON(back)
			if err != nil {
				t.Fatalf("reading back %s: %v", line, err)
			}
			if diff := attrtest.ExactDiff(want, got); diff != "" {
				t.Fatalf("round trip of %s differs (-want +got):\n%s", data, diff)
			}
		}
	})
}
