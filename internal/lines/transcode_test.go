package lines_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonlex"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
)

// transcodeSeed makes the transcoder's property test reproducible by
// default; -transcode-seed 0 draws a time-based seed (logged).
const transcodeSeed = 20260317

var (
	transcodeSeedFlag  = flag.Uint64("transcode-seed", transcodeSeed, "seed of the transcoder's property test (0: time-based, logged)")
	transcodeItemsFlag = flag.Int("transcode-items", 3000, "random items in the transcoder's property test")
)

var formats = []config.Format{config.Plain, config.DynamoDB}

// encodeLines is what the export writes today: jsonl's encoder on each item,
// a newline after each.
func encodeLines(t testing.TB, f config.Format, items []map[string]types.AttributeValue) ([]byte, error) {
	t.Helper()
	enc := lines.NewEncoder(f)
	var out []byte
	for i, it := range items {
		var err error
		start := len(out)
		out, err = enc.AppendItem(out, it)
		if err != nil {
			return out[:start], &lines.ItemError{Index: i, Err: err}
		}
		out = append(out, '\n')
	}
	return out, nil
}

// TestProperty writes random items as wire JSON (random member order,
// spacing and escapes) in a response with its other members in random order;
// Scan and Items must give exactly jsonl's lines for the original items, and
// for the items as the SDK decodes the same body.
func TestProperty(t *testing.T) {
	r := attrtest.SeededRand(t, *transcodeSeedFlag)
	w := ddbwire.Writer{R: r}
	trs := map[config.Format]*lines.Transcoder{}
	for _, f := range formats {
		trs[f] = lines.NewTranscoder(f)
	}
	var p lines.Page
	done := 0
	for page := 0; done < *transcodeItemsFlag; page++ {
		n := r.IntN(8)
		items := make([]map[string]types.AttributeValue, n)
		for i := range items {
			items[i] = attrtest.RandomItem(r, attrtest.VariedOptions(r, 100_000))
		}
		done += n
		var lek map[string]types.AttributeValue
		if r.IntN(2) == 0 {
			lek = map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "é/\"x"}, "sk": &types.AttributeValueMemberN{Value: "12"}}
		}
		body := w.Body(items, lek)
		resp, err := query.Scan(body)
		if err != nil {
			t.Fatalf("page %d: Scan: %v\n%s", page, err, body)
		}
		if rl, err := query.Locate(body); err != nil || !bytes.Equal(rl.Items, resp.Items) || !bytes.Equal(rl.LastEvaluatedKey, resp.LastEvaluatedKey) || rl.Count != resp.Count || rl.ScannedCount != resp.ScannedCount {
			t.Fatalf("page %d: Locate %+v, %v; Scan %+v", page, rl, err, resp)
		}
		if resp.Count != n {
			t.Fatalf("page %d: Count %d, want %d", page, resp.Count, n)
		}
		if (resp.LastEvaluatedKey != nil) != (lek != nil) {
			t.Fatalf("page %d: LastEvaluatedKey %q, want one: %v", page, resp.LastEvaluatedKey, lek != nil)
		}
		check := page%10 == 0 // the SDK's decoding too, on some pages (slow)
		var sdkItems []map[string]types.AttributeValue
		if check {
			out, err := sdkDecode(t, body)
			if err != nil {
				t.Fatalf("page %d: SDK: %v", page, err)
			}
			sdkItems = out.Items
		}
		for _, f := range formats {
			want, err := encodeLines(t, f, items)
			if err != nil {
				t.Fatalf("page %d: encoder: %v", page, err)
			}
			p.Reset()
			if err := trs[f].Items(&p, resp.Items); err != nil {
				t.Fatalf("page %d, %v: Items: %v\nwire: %.2000s", page, f, err, resp.Items)
			}
			if !bytes.Equal(p.Lines, want) {
				t.Fatalf("page %d, %v: lines differ:\n%s", page, f, lineDiff(want, p.Lines))
			}
			if p.Count != n || len(p.Ends) != n || n > 0 && p.Ends[n-1] != len(p.Lines) {
				t.Fatalf("page %d, %v: Count %d, Ends %v, want %d lines of %d bytes", page, f, p.Count, p.Ends, n, len(p.Lines))
			}
			if check {
				sdkWant, err := encodeLines(t, f, sdkItems)
				if err != nil || !bytes.Equal(sdkWant, p.Lines) {
					t.Fatalf("page %d, %v: differs from the SDK's items (%v):\n%s", page, f, err, lineDiff(sdkWant, p.Lines))
				}
			}
		}
	}
}

func lineDiff(want, got []byte) string {
	wl := strings.Split(string(want), "\n")
	gl := strings.Split(string(got), "\n")
	for i := range min(len(wl), len(gl)) {
		if wl[i] != gl[i] {
			return "line " + itoa(i) + ":\n" + cmp.Diff(wl[i], gl[i])
		}
	}
	return cmp.Diff(len(wl), len(gl))
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestItemsErrors: bad items give jsonl's error for the item as the SDK
// decodes it, or a syntax error where the SDK fails the page.
func TestItemsErrors(t *testing.T) {
	deep := func(n int, desc string) string {
		s := `{"S":"x"}`
		for range n {
			if desc == "L" {
				s = `{"L":[` + s + `]}`
			} else {
				s = `{"M":{"k":` + s + `}}`
			}
		}
		return s
	}
	tests := []struct {
		name   string
		items  string
		syntax bool // a *SyntaxError, not an item error
		// differs: the item error wanted where the SDK decodes a value with
		// no known type descriptor as nil or as its predecessor's value.
		differs string
	}{
		{name: "invalid N", items: `[{"a":{"S":"ok"}},{"n":{"N":"1x"}}]`},
		{name: "invalid N in NS", items: `[{"n":{"NS":["1","NaN"]}}]`},
		{name: "escaped invalid N", items: `[{"n":{"N":"\u0031\u0078"}}]`},
		{name: "first error in key order", items: `[{"z":{"N":"bad"},"a":{"N":"worse"}}]`},
		{name: "duplicate key, last wins", items: `[{"a":{"N":"bad"},"a":{"N":"1"}}]`},
		{name: "duplicate key, last bad", items: `[{"a":{"N":"1"},"a":{"N":"bad"}}]`},
		{name: "L too deep", items: `[{"d":` + deep(attr.MaxDepth+1, "L") + `}]`},
		{name: "L deepest allowed", items: `[{"d":` + deep(attr.MaxDepth, "L") + `}]`},
		{name: "M too deep", items: `[{"d":` + deep(attr.MaxDepth+1, "M") + `}]`},
		{name: "M deepest allowed", items: `[{"d":` + deep(attr.MaxDepth, "M") + `}]`},
		{name: "unknown descriptor", items: `[{"u":{"X":"1"}}]`, differs: `item 0: attribute u: expected a known attribute value type, got the unknown DynamoDB type "X"`},
		{name: "unknown descriptor after a value", items: `[{"a":{"S":"x"},"u":{"\u0058":"1"}}]`, differs: `item 0: attribute u: expected a known attribute value type, got the unknown DynamoDB type "X"`},
		{name: "empty value after a value", items: `[{"l":{"L":[{"S":"x"},{}]}}]`, differs: `item 0: attribute l[1]: expected an attribute value, got nil (<nil>)`},
		{name: "null member only after a value", items: `[{"a":{"S":"x"},"u":{"S":null}}]`, differs: `item 0: attribute u: expected an attribute value, got nil (<nil>)`},
		{name: "unknown then known", items: `[{"u":{"X":"1","S":"y"}}]`},
		{name: "null member then known", items: `[{"u":{"S":null,"N":"2"}}]`},
		{name: "two known", items: `[{"u":{"S":"a","N":"2"}}]`, syntax: true},
		{name: "known then unknown", items: `[{"u":{"S":"a","X":{"N":"2"}}}]`},
		{name: "known then null", items: `[{"u":{"S":"a","N":null}}]`},
		{name: "empty value", items: `[{"u":{}}]`},
		{name: "null value", items: `[{"u":null}]`},
		{name: "null in L", items: `[{"l":{"L":[{"S":"a"},null]}}]`},
		{name: "NULL false", items: `[{"n":{"NULL":false}}]`},
		{name: "invalid UTF-8 raw", items: "[{\"s\":{\"S\":\"a\xffb\"}}]"},
		{name: "invalid UTF-8 with escape", items: "[{\"s\":{\"S\":\"\\n\xffb\"}}]"},
		{name: "invalid UTF-8 key", items: "[{\"k\xff\":{\"S\":\"x\"}}]"},
		{name: "lone surrogate", items: `[{"s":{"S":"a\ud800b"}}]`},
		{name: "U+2028 raw", items: "[{\"s\":{\"S\":\"a\u2028b\"},\"k\u2029\":{\"SS\":[\"\u2028\"]}}]"},
		{name: "escaped descriptor", items: `[{"s":{"\u0053":"x"}}]`},
		{name: "base64 with newline escape", items: `[{"b":{"B":"aGVs\nbG8="}}]`},
		{name: "base64 non-canonical", items: `[{"b":{"B":"aGVsbG9="}}]`},
		{name: "base64 non-canonical, two pads", items: `[{"b":{"BS":["aGVsbB==","aGVsbA=="]}}]`},
		{name: "base64 with CR LF", items: `[{"b":{"B":"aGVs\r\nbG8="}}]`},
		{name: "escaped slash in base64", items: `[{"b":{"BS":["a\/8=","AA=="]}}]`},
		{name: "empty sets", items: `[{"ss":{"SS":[]},"ns":{"NS":[]},"bs":{"BS":[]},"l":{"L":[]},"m":{"M":{}}}]`},
		{name: "empty item", items: `[{}]`},
		{name: "null Items", items: `null`},
		{name: "not base64", items: `[{"b":{"B":"!!"}}]`, syntax: true},
		{name: "number for N", items: `[{"n":{"N":5}}]`, syntax: true},
		{name: "string for BOOL", items: `[{"n":{"BOOL":"true"}}]`, syntax: true},
		{name: "bad N then bad JSON", items: `[{"n":{"N":"x"}},{"a":tru}]`, syntax: true},
		{name: "truncated", items: `[{"a":{"S":"x"}`, syntax: true},
		{name: "control char", items: "[{\"a\":{\"S\":\"\x01\"}}]", syntax: true},
		{name: "bad escape", items: `[{"a":{"S":"\x"}}]`, syntax: true},
		{name: "item not an object", items: `[1]`, syntax: true},
		{name: "trailing", items: `[] x`, syntax: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"Items":` + tc.items + `,"Count":1}`)
			out, sdkErr := sdkDecode(t, body)
			for _, f := range formats {
				var p lines.Page
				err := lines.NewTranscoder(f).Items(&p, []byte(tc.items))
				var se *jsonlex.SyntaxError
				if tc.syntax {
					if !errors.As(err, &se) {
						t.Fatalf("%v: got %v (lines %q), want a *SyntaxError", f, err, p.Lines)
					}
					if sdkErr == nil {
						t.Logf("note: the SDK accepts what Items rejects: %v", err)
					}
					continue
				}
				if sdkErr != nil {
					t.Fatalf("the SDK fails: %v", sdkErr)
				}
				if tc.differs != "" {
					if err == nil || err.Error() != tc.differs || len(p.Lines) != 0 {
						t.Fatalf("%v: error %v, lines %q; want %s", f, err, p.Lines, tc.differs)
					}
					continue
				}
				want, wantErr := encodeLines(t, f, out.Items)
				if !bytes.Equal(p.Lines, want) {
					t.Fatalf("%v: lines\n%s\nwant\n%s", f, p.Lines, want)
				}
				if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
					t.Fatalf("%v: error %v, want %v", f, err, wantErr)
				}
			}
		})
	}
}

// TestItemsAllocs: once warmed up, a Transcoder allocates nothing per page.
func TestItemsAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	items := make([]map[string]types.AttributeValue, 40)
	for i := range items {
		items[i] = attrtest.RandomItem(r, attrtest.Options{})
	}
	body := ddbwire.Writer{R: r}.Body(items, nil)
	for _, f := range formats {
		tr := lines.NewTranscoder(f)
		var p lines.Page
		allocs := testing.AllocsPerRun(20, func() {
			resp, err := query.Scan(body)
			if err != nil {
				t.Fatal(err)
			}
			p.Reset()
			if err := tr.Items(&p, resp.Items); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %.1f allocations per page, want 0", f, allocs)
		}
	}
}

// sdkDecode decodes body as the SDK decodes a Query response, through a real
// client whose HTTP client answers with body.
func sdkDecode(t testing.TB, body []byte) (*dynamodb.QueryOutput, error) {
	t.Helper()
	c := ddbwire.Client(func(*http.Request) []byte { return body })
	return c.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String("t")})
}
