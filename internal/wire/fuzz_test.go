package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonl"
	"github.com/allma/ddb-query-to-s3-manifest/internal/wire"
)

var fuzzSeeds = []string{
	`{"Items":[{"a":{"S":"x"}}],"Count":1,"ScannedCount":1}`,
	`{"Count":0,"Items":[],"LastEvaluatedKey":{"pk":{"S":"\u00e9"}},"ConsumedCapacity":{"CapacityUnits":0.5}}`,
	`{"Items":[{"n":{"N":"+007.5e3"},"ns":{"NS":["1",".5"]},"b":{"B":"aGk="},"bs":{"BS":["a\/8="]}}]}`,
	`{"Items":[{"m":{"M":{"z":{"NULL":true},"a":{"BOOL":false},"a":{"L":[{"SS":["\ud83d\ude00","\u2028"]}]}}}}]}`,
	`{"Items":[{"u":{"X":1,"S":"y"},"v":{"S":null,"N":"2"},"w":null}]}`,
	`{"Items":[{"s":{"S":"a\ud800b\/\"\\\b\f\n\r\t"}}],"Count":1}`,
	"{\"Items\":[{\"s\":{\"S\":\"\xff\"}}]}",
	`{"Items":null,"LastEvaluatedKey":null,"Count":null}`,
	`{"Items":[{"l":{"L":[{"L":[{"L":[]}]}]}}]} `,
	`[]`, `{`, `{"Items":[{"a":{"N":"1"}}`, `{"Count":1e3}`,
}

// FuzzScan: no panic; a body Scan accepts is valid JSON, and its spans are
// valid JSON of the right kind.
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := wire.Scan(body)
		valid := json.Valid(body)
		if err != nil {
			var se *wire.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T, want *SyntaxError", err)
			}
			return
		}
		if !valid {
			t.Fatalf("Scan accepted invalid JSON %q", body)
		}
		if r.Items != nil && (!json.Valid(r.Items) || r.Items[0] != '[') {
			t.Fatalf("Items %q", r.Items)
		}
		if r.LastEvaluatedKey != nil && (!json.Valid(r.LastEvaluatedKey) || r.LastEvaluatedKey[0] != '{') {
			t.Fatalf("LastEvaluatedKey %q", r.LastEvaluatedKey)
		}
	})
}

// FuzzItems: no panic on arbitrary Items; output is always valid JSON lines;
// whenever the SDK decodes the body without error, the lines and the error
// are exactly jsonl's encoder's on the SDK's items.
func FuzzItems(f *testing.F) {
	for _, s := range fuzzSeeds {
		if r, err := wire.Scan([]byte(s)); err == nil && r.Items != nil {
			f.Add(r.Items)
		}
	}
	f.Add([]byte(`[{"a":{"N":"1x"}},{"b":{"S":"y"}}]`))
	trs := []*wire.Transcoder{wire.NewTranscoder(config.Plain), wire.NewTranscoder(config.DynamoDB)}
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
					var p wire.Page
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
			var p wire.Page
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
	var je *jsonl.Error
	return errors.As(err, &je) && (strings.HasPrefix(je.Msg, "expected an attribute value, got nil") ||
		strings.HasPrefix(je.Msg, "expected a known attribute value type"))
}

// locateSeeds are bodies that stress Locate's short cuts: escaped quotes
// and brackets in strings, unbalanced or repeated arrays, bad items.
var locateSeeds = []string{
	`{"Items":[{"a":{"S":"x\"]}"}}],"Items":[]}`,
	`{"Items":[{"a":{"S":"x\\"}}],"Count":1}`,
	`{"Items":[{"a":{"S":"x\\\"]"}}}],"Count":1}`,
	`{"Items":[{"a":{"S":"x"}}]],"Count":1}`,
	`{"Items":[{"a":{"S":"x"}],"Count":1}`,
	`{"Items":[{"a":{"N":1}}]}`,
	`{"Items":[{"a":{"X":[1,tru]},"b":{"S":"x"}}]}`,
	`{"Items":[{"a":{"S":"\u00zz"}}]}`,
	"{\"Items\":[{\"a\":{\"S\":\"\x01\"}}]}",
}

// sameResponse reports whether a and b locate the same members.
func sameResponse(a, b wire.Response) bool {
	return bytes.Equal(a.Items, b.Items) && (a.Items == nil) == (b.Items == nil) &&
		bytes.Equal(a.LastEvaluatedKey, b.LastEvaluatedKey) && (a.LastEvaluatedKey == nil) == (b.LastEvaluatedKey == nil) &&
		a.Count == b.Count && a.ScannedCount == b.ScannedCount
}

// followInPieces has f follow body arriving n bytes at a time.
func followInPieces(f *wire.Follower, body []byte, n int) {
	for end := min(n, len(body)); ; end = min(end+n, len(body)) {
		f.Follow(body[:end])
		if end == len(body) {
			return
		}
	}
}

// FuzzLocate: no panic; of a body Scan accepts, Locate returns the same
// Response; and a body Locate accepts whose Items the transcoder does not
// reject with a *SyntaxError is valid JSON (so together they reject every
// malformed body, as Scan does, where Scan does the checking).
func FuzzLocate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range locateSeeds {
		f.Add([]byte(s))
	}
	trs := []*wire.Transcoder{wire.NewTranscoder(config.Plain), wire.NewTranscoder(config.DynamoDB)}
	f.Fuzz(func(t *testing.T, body []byte) {
		rl, errL := wire.Locate(body)
		rs, errS := wire.Scan(body)
		if errS == nil {
			if errL != nil {
				t.Fatalf("Scan accepts, Locate: %v", errL)
			}
			if !sameResponse(rl, rs) {
				t.Fatalf("Locate %+v, Scan %+v", rl, rs)
			}
		}
		if errL != nil {
			var se *wire.SyntaxError
			if !errors.As(errL, &se) {
				t.Fatalf("error %T, want *SyntaxError", errL)
			}
			return
		}
		valid := json.Valid(body)
		if rl.Items == nil {
			if !valid {
				t.Fatalf("Locate accepted invalid JSON without Items %q", body)
			}
			return
		}
		for _, tr := range trs {
			var p wire.Page
			err := tr.Items(&p, rl.Items)
			var se *wire.SyntaxError
			if !errors.As(err, &se) && !valid {
				t.Fatalf("Locate and Items (%v) accepted invalid JSON %q", err, body)
			}
		}
	})
}

// FuzzFollow: LocateFollowed, after a Follower saw the body arrive in pieces
// of any size, returns exactly what Locate returns (Response and error).
func FuzzFollow(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(i%7+1))
	}
	for _, s := range append(slices.Clone(locateSeeds),
		`{"x":{"Items":[1]},"Items":[[]],"Count":1}`,
		`{"Items":[1],"Items":[{"a":{"S":"]"}}]}`,
		`{"Items":[{"a":{"S":"\\\\\\\"]"}}],"LastEvaluatedKey":{"k":{"S":"["}}}`,
	) {
		for _, n := range []uint16{1, 2, 3, 5, 64} {
			f.Add([]byte(s), n)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, piece uint16) {
		var fl wire.Follower
		followInPieces(&fl, body, int(piece%97)+1)
		want, errW := wire.Locate(body)
		got, errG := wire.LocateFollowed(body, &fl)
		if (errW == nil) != (errG == nil) || (errW != nil && errW.Error() != errG.Error()) {
			t.Fatalf("Locate error %v, LocateFollowed error %v", errW, errG)
		}
		if !sameResponse(got, want) {
			t.Fatalf("LocateFollowed %+v, Locate %+v", got, want)
		}
		// Followed again from scratch after Reset, in one piece.
		fl.Reset()
		fl.Follow(body)
		if got, errG := wire.LocateFollowed(body, &fl); (errG == nil) != (errW == nil) || !bytes.Equal(got.Items, want.Items) {
			t.Fatalf("after Reset: LocateFollowed %+v, %v; Locate %+v, %v", got, errG, want, errW)
		}
	})
}
