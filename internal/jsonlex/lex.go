// Package jsonlex reads JSON text as DynamoDB sends it, in place and
// without allocating: strings (found, checked and unescaped as the SDK's
// decoder does), literals, numbers and whole values, with a *SyntaxError
// that says where the text went wrong.
//
// It is the one lexer of raw Query responses: internal/query locates a
// response's members with it and internal/lines transcodes the Items array
// with it, so the two agree on what well-formed means.
package jsonlex

import (
	"bytes"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// SyntaxError is a response body (or Items array) that is not JSON, or not
// shaped as a Query response: something the SDK's own deserializer would
// also reject, failing the whole page.
type SyntaxError struct {
	Offset int    // byte offset in the input where the problem was found
	Msg    string // what was expected and what was found
}

func (e *SyntaxError) Error() string {
	return "wire: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// Syntax returns a *SyntaxError at offset off saying msg.
func Syntax(off int, msg string) *SyntaxError { return &SyntaxError{Offset: off, Msg: msg} }

// Unexpected returns a *SyntaxError at b[i] saying that want was expected
// and what was found instead (the byte, or the end of the input).
func Unexpected(b []byte, i int, want string) *SyntaxError {
	if i >= len(b) {
		return Syntax(i, "expected "+want+", got end of input")
	}
	return Syntax(i, "expected "+want+", got "+strconv.QuoteRune(rune(b[i])))
}

// maxSkipDepth bounds the nesting of JSON values the validator accepts: far
// more than DynamoDB's 32 levels of lists and maps (each taking two JSON
// levels) and the few levels of the response around them.
const maxSkipDepth = 512

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// SkipSpace returns the offset of the first byte at or after b[i] that is
// not JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

const (
	lo8 = uint64(0x0101010101010101)
	hi8 = uint64(0x8080808080808080)
)

// load64 reads 8 bytes little-endian from b[i:]; the caller checks the bounds.
func load64(b []byte, i int) uint64 {
	_ = b[i+7]
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

// special returns a mask whose lowest set bit is the high bit of the first
// byte of v (little-endian) that is '"', '\' or below 0x20, or 0 if there is
// none. Higher bits may be set spuriously (a borrow carried past a match).
func special(v uint64) uint64 {
	q := v ^ (lo8 * '"')
	s := v ^ (lo8 * '\\')
	return ((q-lo8) & ^q | (s-lo8) & ^s | (v-lo8*0x20) & ^v) & hi8
}

// String is a scanned JSON string: b[Start:End] is its content between the
// quotes, as written.
type String struct {
	Start, End int
	Escaped    bool // holds a backslash
	NonASCII   bool // holds a byte >= 0x80
}

// ScanString scans the string starting with the quote at b[i] and returns it
// and the offset after its closing quote. It checks what the SDK's parser
// checks: no control characters, escapes among \" \\ \/ \b \f \n \r \t \uXXXX.
// It does not check UTF-8 (neither does the SDK).
func ScanString(b []byte, i int) (String, int, error) {
	s := String{Start: i + 1}
	i++
	for {
		// Eight bytes at a time up to the first byte that is not plain ASCII
		// (or, once the string is known to hold some, up to the first that
		// is not plain).
		for i+8 <= len(b) {
			v := load64(b, i)
			m := special(v)
			if !s.NonASCII {
				m |= v & hi8
			}
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return s, i, Syntax(s.Start-1, "unterminated string")
		}
		c := b[i]
		switch {
		case c == '"':
			s.End = i
			return s, i + 1, nil
		case c == '\\':
			s.Escaped = true
			if i+1 >= len(b) {
				return s, i, Syntax(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return s, i, Syntax(i, "incomplete unicode escape")
				}
				for _, h := range b[i+2 : i+6] {
					if hexVal(h) < 0 {
						return s, i, Syntax(i, "invalid unicode escape")
					}
				}
				i += 6
			default:
				return s, i, Syntax(i, "invalid escape "+strconv.Quote(string(b[i:i+2])))
			}
		case c < 0x20:
			return s, i, Syntax(i, "invalid control character in string")
		case c >= utf8.RuneSelf:
			s.NonASCII = true
			i++
		default:
			i++
		}
	}
}

// hexDigits[c] is the value of the hex digit c, or -1.
var hexDigits = func() (t [256]int8) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = int8(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = int8(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = int8(c - 'A' + 10)
		default:
			t[c] = -1
		}
	}
	return t
}()

func hexVal(c byte) rune { return rune(hexDigits[c]) }

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r*16 + v
	}
	return r
}

// Unquote appends the content s of a scanned, escaped JSON string to dst,
// unescaped exactly as the SDK's decoder (a copy of encoding/json's Unquote)
// does: \uXXXX surrogate pairs joined, a lone surrogate and every byte that
// is not valid UTF-8 replaced with U+FFFD. What it appends is valid UTF-8.
func Unquote(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		// The run of plain ASCII up to the next escape or non-ASCII byte,
		// found eight bytes at a time and copied whole.
		j := r
		for j+8 <= len(s) {
			v := load64(s, j)
			bs := v ^ (lo8 * '\\')
			if m := ((bs-lo8) & ^bs | v) & hi8; m != 0 {
				j += bits.TrailingZeros64(m) / 8
				break
			}
			j += 8
		}
		for j < len(s) && s[j] != '\\' && s[j] < utf8.RuneSelf {
			j++
		}
		dst = append(dst, s[r:j]...)
		if r = j; r >= len(s) {
			break
		}
		if s[r] >= utf8.RuneSelf {
			// The run of non-ASCII bytes: no sequence crosses its ends, so it
			// is copied whole when it is valid UTF-8.
			j = r + 1
			for j < len(s) && s[j] >= utf8.RuneSelf {
				j++
			}
			dst = appendUTF8(dst, s[r:j])
			r = j
			continue
		}
		switch s[r+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			rr := getu4(s[r:])
			r += 6
			if utf16.IsSurrogate(rr) {
				if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != utf8.RuneError {
					r += 6
					dst = utf8.AppendRune(dst, dec)
					continue
				}
				rr = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, rr)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[r+1])
		}
		r += 2
	}
	return dst
}

// appendUTF8 appends s with every byte that is not part of valid UTF-8
// replaced with U+FFFD.
func appendUTF8(dst, s []byte) []byte {
	if utf8.Valid(s) {
		return append(dst, s...)
	}
	for r := 0; r < len(s); {
		rr, size := utf8.DecodeRune(s[r:])
		r += size
		dst = utf8.AppendRune(dst, rr)
	}
	return dst
}

// BytesString returns b as a string without copying; the string must not
// outlive a change to b.
func BytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// scanNumber scans a JSON number (RFC 8259 grammar) at b[i].
func scanNumber(b []byte, i int) (int, error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return i, Unexpected(b, i, "a digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, Unexpected(b, i, "a digit after the decimal point")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, Unexpected(b, i, "a digit in the exponent")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	_ = start
	return i, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ScanLiteral scans true, false or null at b[i].
func ScanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, Unexpected(b, i, lit)
	}
	return i + len(lit), nil
}

// SkipValue validates the JSON value starting at b[i] (after white space) and
// returns the offset after it. It allocates nothing: nesting is tracked in a
// bit stack of maxSkipDepth levels.
func SkipValue(b []byte, i int) (int, error) {
	var stack [maxSkipDepth / 64]uint64 // bit set: in an object
	depth := 0
	var err error
	for {
		// A value.
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, Unexpected(b, i, "a JSON value")
		}
		switch c := b[i]; {
		case c == '"':
			_, i, err = ScanString(b, i)
		case c == '{' || c == '[':
			if depth == maxSkipDepth {
				return i, Syntax(i, "JSON nested more than "+strconv.Itoa(maxSkipDepth)+" levels deep")
			}
			obj := c == '{'
			if obj {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = SkipSpace(b, i+1)
			closer := byte(']')
			if obj {
				closer = '}'
			}
			if i < len(b) && b[i] == closer {
				depth--
				i++
				break
			}
			if obj {
				if i, err = objectKey(b, i); err != nil {
					return i, err
				}
			}
			continue
		case c == 't':
			i, err = ScanLiteral(b, i, "true")
		case c == 'f':
			i, err = ScanLiteral(b, i, "false")
		case c == 'n':
			i, err = ScanLiteral(b, i, "null")
		default:
			i, err = scanNumber(b, i)
		}
		if err != nil {
			return i, err
		}
		// After a value: close containers or move to the next member.
		for {
			if depth == 0 {
				return i, nil
			}
			i = SkipSpace(b, i)
			obj := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if i < len(b) && b[i] == ',' {
				i++
				if obj {
					if i, err = objectKey(b, SkipSpace(b, i)); err != nil {
						return i, err
					}
				}
				break
			}
			closer := byte(']')
			if obj {
				closer = '}'
			}
			if i >= len(b) || b[i] != closer {
				return i, Unexpected(b, i, "',' or '"+string(closer)+"'")
			}
			i++
			depth--
		}
	}
}

// objectKey scans `"key" :` at b[i] and returns the offset after the colon.
func objectKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, Unexpected(b, i, "an object key")
	}
	_, i, err := ScanString(b, i)
	if err != nil {
		return i, err
	}
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, Unexpected(b, i, "':'")
	}
	return i + 1, nil
}

// indexQuote returns the offset of the first '"' in b[i:], or -1. Most
// strings are short: it looks at a few words itself, then hands long ones to
// bytes.IndexByte.
func indexQuote(b []byte, i int) int {
	for n := 0; n < 3 && i+8 <= len(b); n++ {
		if m := hasQuote(load64(b, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	if i >= len(b) {
		return -1
	}
	j := bytes.IndexByte(b[i:], '"')
	if j < 0 {
		return -1
	}
	return i + j
}

// CloseQuote returns the offset of the quote that closes the string whose
// content goes on after b[i] (its opening quote, or the last byte looked
// at), or -1 if it is not in b (yet).
func CloseQuote(b []byte, i int) int {
	for {
		q := indexQuote(b, i+1)
		if q < 0 || !escaped(b, q) {
			return q
		}
		i = q
	}
}

// escaped reports whether the quote at b[q] is escaped: preceded by an odd
// number of backslashes. The walk back stops at the string's opening quote.
func escaped(b []byte, q int) bool {
	k := q - 1
	for b[k] == '\\' {
		k--
	}
	return (q-k)%2 == 0
}

// hasQuote returns a mask whose lowest set bit is the high bit of the first
// '"' in v (little-endian), or 0 if there is none.
func hasQuote(v uint64) uint64 {
	q := v ^ (lo8 * '"')
	return (q - lo8) & ^q & hi8
}
