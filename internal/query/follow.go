package query

import (
	"cmp"
	"slices"

	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonlex"
)

// Follower delimits the arrays that open at depth 1 of a body while the
// body is still arriving, so that Locate's one costly step (skipItems over
// the Items array, about 0.5 ms for a 1 MB page) runs during the transfer
// instead of after its last byte, when the next request is waiting for
// LastEvaluatedKey. Feed it the growing body with Follow; LocateFollowed
// then returns what Locate returns, skipping the arrays it has delimited.
//
// It applies skipItems' rule to every byte from the start: strings end at
// the first quote preceded by an even number of backslashes, and brackets of
// either kind are counted outside them. Of a body whose bytes before an
// array are valid JSON (the only arrays Locate asks about, since it checks
// everything before Items), its span for the array is skipItems' result.
// The zero value is ready to follow a new body; Reset reuses one.
type Follower struct {
	i, depth int
	inString bool
	open     int    // 1 + where the array being followed opened, 0 if none
	spans    []span // arrays that opened at depth 1 and closed
}

type span struct{ start, end int }

// Reset prepares f for a new body, keeping its capacity.
func (f *Follower) Reset() {
	*f = Follower{spans: f.spans[:0]}
}

// Follow looks at body[f.i:], the bytes that arrived since the last call.
// body must be the same body each time, grown: bytes already followed must
// not change.
func (f *Follower) Follow(body []byte) {
	i, depth := f.i, f.depth
	if f.inString {
		// The string that was open when the last piece ended.
		if i = jsonlex.CloseQuote(body, i-1); i < 0 {
			f.i = len(body)
			return
		}
		f.inString = false
		i++
	}
	for ; i < len(body); i++ {
		switch body[i] {
		case '"':
			q := jsonlex.CloseQuote(body, i)
			if q < 0 {
				f.i, f.depth, f.inString = len(body), depth, true
				return
			}
			i = q
		case '[':
			if depth == 1 {
				f.open = i + 1
			}
			depth++
		case '{':
			if depth == 1 {
				f.open = 0
			}
			depth++
		case ']', '}':
			depth--
			if depth == 1 && f.open > 0 {
				f.spans = append(f.spans, span{f.open - 1, i + 1})
				f.open = 0
			}
		}
	}
	f.i, f.depth = i, depth
}

// end returns where the array opening at start ends, if f delimited it.
// The spans are in the order of their starts: a binary search keeps a body
// of many top-level arrays linear overall.
func (f *Follower) end(start int) (int, bool) {
	if f == nil {
		return 0, false
	}
	i, ok := slices.BinarySearchFunc(f.spans, start, func(s span, start int) int { return cmp.Compare(s.start, start) })
	if !ok {
		return 0, false
	}
	return f.spans[i].end, true
}

// LocateFollowed is Locate(body), using the arrays f delimited while it
// followed body (f may be nil, or have followed only a prefix of it).
func LocateFollowed(body []byte, f *Follower) (Response, error) {
	return scan(body, false, f)
}
