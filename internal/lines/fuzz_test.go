package lines_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
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
			line, err := lines.NewEncoder(f).AppendItem(nil, it)
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

// FuzzItems: no panic on arbitrary Items; output is always valid JSON lines;
// whenever the SDK decodes the body without error, the lines and the error
// are exactly the Encoder's on the SDK's items.
func FuzzItems(f *testing.F) {
	for _, s := range ddbwire.FuzzBodies {
		if r, err := query.Scan([]byte(s)); err == nil && r.Items != nil {
			f.Add(r.Items)
		}
	}
	f.Add([]byte(`[{"a":{"N":"1x"}},{"b":{"S":"y"}}]`))
	trs := []*lines.Transcoder{lines.NewTranscoder(config.Plain), lines.NewTranscoder(config.DynamoDB)}
	f.Fuzz(func(t *testing.T, items []byte) {
		var sdkOut []byte
		var sdkErr error
		decoded := false
		if json.Valid(items) && len(items) < 1<<16 {
			body := append(append([]byte(`{"Items":`), items...), '}')
			out, err := sdkDecode(t, body)
			decoded = err == nil
			if decoded {
				_ = sdkOut
				for k, tr := range trs {
					var p lines.Page
					gotErr := tr.Items(&p, items)
					sdkOut, sdkErr = encodeLines(t, tr.Format(), out.Items)
					if noKnownType(gotErr) {
						continue // the documented divergence, see TestItemsErrors
					}
					if !bytes.Equal(p.Lines, sdkOut) || (gotErr == nil) != (sdkErr == nil) || gotErr != nil && gotErr.Error() != sdkErr.Error() {
						t.Fatalf("format %d: got %q, %v\nwant %q, %v", k, p.Lines, gotErr, sdkOut, sdkErr)
					}
				}
				return
			}
		}
		for _, tr := range trs {
			var p lines.Page
			_ = tr.Items(&p, items)
			start := 0
			for i, end := range p.Ends {
				line := p.Lines[start:end]
				if line[len(line)-1] != '\n' || !json.Valid(line) {
					t.Fatalf("line %d not a JSON line: %q", i, line)
				}
				start = end
			}
			if start != len(p.Lines) || p.Count != len(p.Ends) {
				t.Fatalf("Ends %v, Count %d for %d bytes", p.Ends, p.Count, len(p.Lines))
			}
		}
	})
}

// noKnownType reports whether err is the transcoder's error for a value with
// no known type descriptor, which the SDK decodes as nil or as the previous
// element's value.
func noKnownType(err error) bool {
	var je *lines.Error
	return errors.As(err, &je) && (strings.HasPrefix(je.Msg, "expected an attribute value, got nil") ||
		strings.HasPrefix(je.Msg, "expected a known attribute value type"))
}
