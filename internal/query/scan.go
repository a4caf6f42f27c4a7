package query

import (
	"math"
	"strconv"

	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonlex"
)

// Response is what the fetcher needs from a raw Query response body without
// decoding the items. Its byte slices alias the body.
type Response struct {
	Items            []byte // the raw "Items" array, nil if absent or null
	Count            int
	ScannedCount     int
	LastEvaluatedKey []byte // the raw JSON object, nil if absent or null
}

// Scan finds the spans of Items and LastEvaluatedKey and the values of Count
// and ScannedCount in a Query response body, skipping ConsumedCapacity and
// any other member. It checks that the whole body is one well-formed JSON
// object (strings, escapes, numbers, nesting), that Items is an array,
// LastEvaluatedKey an object and the counts 32-bit integers (null for any of
// them counts as absent, as in the SDK; of a repeated member the last one
// counts). Bad input is a *SyntaxError. Scan allocates nothing.
func Scan(body []byte) (Response, error) { return scan(body, true, nil) }

// Locate is Scan without validating the Items array: it only finds where
// the array ends, skipping strings and counting brackets (skipItems), so it
// costs a fraction of Scan on a page of items. Everything else in the body
// (its object structure, Count, ScannedCount, LastEvaluatedKey, any other
// member, and every Items member but the last) is checked as Scan checks
// it. Of a body Scan accepts, Locate returns the same Response.
//
// The Items span of a body Scan would reject may be anything but valid
// JSON: Transcoder.Items, which parses every byte of it, rejects it with a
// *SyntaxError. The body as a whole is valid JSON exactly when Locate
// accepts it and Transcoder.Items does not fail with a *SyntaxError.
func Locate(body []byte) (Response, error) { return scan(body, false, nil) }

func scan(body []byte, full bool, f *Follower) (Response, error) {
	var r Response
	itemsAt := 0 // where r.Items starts in body
	i := jsonlex.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return r, jsonlex.Unexpected(body, i, "a JSON object")
	}
	i = jsonlex.SkipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return r, trailingBody(body, i+1)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return r, jsonlex.Unexpected(body, i, "a member name")
		}
		s, j, err := jsonlex.ScanString(body, i)
		if err != nil {
			return r, err
		}
		name := body[s.Start:s.End]
		if s.Escaped {
			var buf [32]byte
			if len(name) <= len(buf)*2 {
				name = jsonlex.Unquote(buf[:0], name)
			}
		}
		j = jsonlex.SkipSpace(body, j)
		if j >= len(body) || body[j] != ':' {
			return r, jsonlex.Unexpected(body, j, "':'")
		}
		j = jsonlex.SkipSpace(body, j+1)
		isNull := j < len(body) && body[j] == 'n'
		v := j
		if !full && j < len(body) && body[j] == '[' && string(name) == "Items" {
			if end, ok := f.end(j); ok {
				j = end
			} else {
				j, err = skipItems(body, j)
			}
		} else {
			j, err = jsonlex.SkipValue(body, j)
		}
		if err != nil {
			return r, err
		}
		val := body[v:j]
		switch string(name) {
		case "Items":
			if !full && r.Items != nil {
				// Only the last Items is transcoded (validated): check
				// an earlier one here.
				if _, err := jsonlex.SkipValue(body, itemsAt); err != nil {
					return r, err
				}
			}
			itemsAt = v
			r.Items = nil
			if !isNull {
				if val[0] != '[' {
					return r, jsonlex.Unexpected(body, v, "an array (Items)")
				}
				r.Items = val
			}
		case "LastEvaluatedKey":
			r.LastEvaluatedKey = nil
			if !isNull {
				if val[0] != '{' {
					return r, jsonlex.Unexpected(body, v, "an object (LastEvaluatedKey)")
				}
				r.LastEvaluatedKey = val
			}
		case "Count", "ScannedCount":
			n := 0
			if !isNull {
				if n, err = count(val); err != nil {
					return r, jsonlex.Syntax(v, string(name)+": "+err.Error())
				}
			}
			if string(name) == "Count" {
				r.Count = n
			} else {
				r.ScannedCount = n
			}
		}
		i = jsonlex.SkipSpace(body, j)
		if i < len(body) && body[i] == ',' {
			i = jsonlex.SkipSpace(body, i+1)
			continue
		}
		if i < len(body) && body[i] == '}' {
			return r, trailingBody(body, i+1)
		}
		return r, jsonlex.Unexpected(body, i, "',' or '}'")
	}
}

func trailingBody(b []byte, i int) error {
	if i = jsonlex.SkipSpace(b, i); i != len(b) {
		return jsonlex.Unexpected(b, i, "end of the body")
	}
	return nil
}

// count parses a validated JSON number that must be a 32-bit integer, as the
// SDK reads Count and ScannedCount.
func count(v []byte) (int, error) {
	n, err := strconv.ParseInt(jsonlex.BytesString(v), 10, 32)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, strconv.ErrSyntax
	}
	return int(n), nil
}

// skipItems returns the offset after the array that opens at b[i] ('['),
// found without validating it: it skips strings (to their first unescaped
// quote) and counts brackets of either kind outside them. Of valid JSON it
// returns the array's end; of anything else, some offset after i or an
// error, never reading out of b.
func skipItems(b []byte, i int) (int, error) {
	start := i
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = jsonlex.CloseQuote(b, i); i < 0 {
				return len(b), jsonlex.Syntax(start, "unterminated Items")
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return i, jsonlex.Syntax(start, "unterminated Items")
}
