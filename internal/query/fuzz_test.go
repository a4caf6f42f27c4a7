package query_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonlex"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
)

// FuzzScan: no panic; a body Scan accepts is valid JSON, and its spans are
// valid JSON of the right kind.
func FuzzScan(f *testing.F) {
	for _, s := range ddbwire.FuzzBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := query.Scan(body)
		valid := json.Valid(body)
		if err != nil {
			var se *jsonlex.SyntaxError
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
func sameResponse(a, b query.Response) bool {
	return bytes.Equal(a.Items, b.Items) && (a.Items == nil) == (b.Items == nil) &&
		bytes.Equal(a.LastEvaluatedKey, b.LastEvaluatedKey) && (a.LastEvaluatedKey == nil) == (b.LastEvaluatedKey == nil) &&
		a.Count == b.Count && a.ScannedCount == b.ScannedCount
}

// followInPieces has f follow body arriving n bytes at a time.
func followInPieces(f *query.Follower, body []byte, n int) {
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
	for _, s := range ddbwire.FuzzBodies {
		f.Add([]byte(s))
	}
	for _, s := range locateSeeds {
		f.Add([]byte(s))
	}
	trs := []*lines.Transcoder{lines.NewTranscoder(config.Plain), lines.NewTranscoder(config.DynamoDB)}
	f.Fuzz(func(t *testing.T, body []byte) {
		rl, errL := query.Locate(body)
		rs, errS := query.Scan(body)
		if errS == nil {
			if errL != nil {
				t.Fatalf("Scan accepts, Locate: %v", errL)
			}
			if !sameResponse(rl, rs) {
				t.Fatalf("Locate %+v, Scan %+v", rl, rs)
			}
		}
		if errL != nil {
			var se *jsonlex.SyntaxError
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
			var p lines.Page
			err := tr.Items(&p, rl.Items)
			var se *jsonlex.SyntaxError
			if !errors.As(err, &se) && !valid {
				t.Fatalf("Locate and Items (%v) accepted invalid JSON %q", err, body)
			}
		}
	})
}

// FuzzFollow: LocateFollowed, after a Follower saw the body arrive in pieces
// of any size, returns exactly what Locate returns (Response and error).
func FuzzFollow(f *testing.F) {
	for i, s := range ddbwire.FuzzBodies {
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
		var fl query.Follower
		followInPieces(&fl, body, int(piece%97)+1)
		want, errW := query.Locate(body)
		got, errG := query.LocateFollowed(body, &fl)
		if (errW == nil) != (errG == nil) || (errW != nil && errW.Error() != errG.Error()) {
			t.Fatalf("Locate error %v, LocateFollowed error %v", errW, errG)
		}
		if !sameResponse(got, want) {
			t.Fatalf("LocateFollowed %+v, Locate %+v", got, want)
		}
		// Followed again from scratch after Reset, in one piece.
		fl.Reset()
		fl.Follow(body)
		if got, errG := query.LocateFollowed(body, &fl); (errG == nil) != (errW == nil) || !bytes.Equal(got.Items, want.Items) {
			t.Fatalf("after Reset: LocateFollowed %+v, %v; Locate %+v, %v", got, errG, want, errW)
		}
	})
}
