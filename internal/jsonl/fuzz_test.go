package jsonl_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonl"
)

// FuzzAppendItem encodes items made of arbitrary number strings, strings and
// keys: the result is an error or valid JSON that decodes back to the same
// strings and, in plain format, to a number of the same value (in dynamodb
// format, to the same number string). It is never invalid JSON.
func FuzzAppendItem(f *testing.F) {
	f.Add("1.50", "hello", "k")
	f.Add("+007.5e3", "q\"\\\n\x00\u2028", "é😀")
	f.Add(".5", "\xff", "\xc0")
	f.Add("NaN", "", "")
	f.Add("1,2", "</script>", "a\"b")
	f.Add("-0", "e\u0301", "\U0010FFFF")
	f.Fuzz(func(t *testing.T, n, s, key string) {
		it := item{
			"n":  &avN{Value: n},
			"ns": &avNS{Value: []string{n}},
			"s":  &avS{Value: s},
			"ss": &avSS{Value: []string{s, "x"}},
			"m":  &avM{Value: item{key: &avS{Value: s}}},
		}
		for _, f := range []config.Format{config.Plain, config.DynamoDB} {
			line, err := jsonl.NewEncoder(f).AppendItem(nil, it)
			if err != nil {
				valid := attr.IsNumber(n) && utf8.ValidString(s) && utf8.ValidString(key)
				if valid {
					t.Fatalf("%v: AppendItem(n=%q s=%q key=%q) failed on valid input: %v", f, n, s, key, err)
				}
				continue
			}
			if !json.Valid(line) {
				t.Fatalf("%v: invalid JSON %q", f, line)
			}
			d := json.NewDecoder(bytes.NewReader(line))
			d.UseNumber()
			var got map[string]any
			if err := d.Decode(&got); err != nil {
				t.Fatalf("%v: %v", f, err)
			}
			var gotN, gotS, gotKeyS any
			var ok bool
			m := got["m"].(map[string]any)
			if f == config.Plain {
				gotN, gotS, gotKeyS = got["n"], got["s"], m[key]
				c1, _ := attr.CanonicalNumber(n)
				c2, _ := attr.CanonicalNumber(string(gotN.(json.Number)))
				if c1 != c2 {
					t.Fatalf("plain: number %q came back as %v", n, gotN)
				}
			} else {
				gotN = got["n"].(map[string]any)["N"]
				gotS = got["s"].(map[string]any)["S"]
				gotKeyS, ok = m["M"].(map[string]any)[key]
				if !ok {
					t.Fatalf("dynamodb: key %q missing in %s", key, line)
				}
				gotKeyS = gotKeyS.(map[string]any)["S"]
				if gotN != n {
					t.Fatalf("dynamodb: number %q came back as %v", n, gotN)
				}
			}
			if gotS != s || gotKeyS != s {
				t.Fatalf("%v: string %q came back as %q and %q", f, s, gotS, gotKeyS)
			}
		}
	})
}
