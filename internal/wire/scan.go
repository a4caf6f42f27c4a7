package wire

import (
	"math"
	"strconv"
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
func Scan(body []byte) (Response, error) {
	var r Response
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return r, unexpected(body, i, "a JSON object")
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return r, trailingBody(body, i+1)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return r, unexpected(body, i, "a member name")
		}
		s, j, err := scanString(body, i)
		if err != nil {
			return r, err
		}
		name := body[s.start:s.end]
		if s.escaped {
			var buf [32]byte
			if len(name) <= len(buf)*2 {
				name = unquote(buf[:0], name)
			}
		}
		j = skipSpace(body, j)
		if j >= len(body) || body[j] != ':' {
			return r, unexpected(body, j, "':'")
		}
		j = skipSpace(body, j+1)
		isNull := j < len(body) && body[j] == 'n'
		v := j
		if j, err = skipValue(body, j); err != nil {
			return r, err
		}
		val := body[v:j]
		switch string(name) {
		case "Items":
			r.Items = nil
			if !isNull {
				if val[0] != '[' {
					return r, unexpected(body, v, "an array (Items)")
				}
				r.Items = val
			}
		case "LastEvaluatedKey":
			r.LastEvaluatedKey = nil
			if !isNull {
				if val[0] != '{' {
					return r, unexpected(body, v, "an object (LastEvaluatedKey)")
				}
				r.LastEvaluatedKey = val
			}
		case "Count", "ScannedCount":
			n := 0
			if !isNull {
				if n, err = count(val); err != nil {
					return r, syntaxErr(v, string(name)+": "+err.Error())
				}
			}
			if string(name) == "Count" {
				r.Count = n
			} else {
				r.ScannedCount = n
			}
		}
		i = skipSpace(body, j)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
			continue
		}
		if i < len(body) && body[i] == '}' {
			return r, trailingBody(body, i+1)
		}
		return r, unexpected(body, i, "',' or '}'")
	}
}

func trailingBody(b []byte, i int) error {
	if i = skipSpace(b, i); i != len(b) {
		return unexpected(b, i, "end of the body")
	}
	return nil
}

// count parses a validated JSON number that must be a 32-bit integer, as the
// SDK reads Count and ScannedCount.
func count(v []byte) (int, error) {
	n, err := strconv.ParseInt(bytesString(v), 10, 32)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, strconv.ErrSyntax
	}
	return int(n), nil
}
