package wire

import (
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

func syntaxErr(off int, msg string) *SyntaxError { return &SyntaxError{Offset: off, Msg: msg} }

func unexpected(b []byte, i int, want string) *SyntaxError {
	if i >= len(b) {
		return syntaxErr(i, "expected "+want+", got end of input")
	}
	return syntaxErr(i, "expected "+want+", got "+strconv.QuoteRune(rune(b[i])))
}

// maxSkipDepth bounds the nesting of JSON values the validator accepts: far
// more than DynamoDB's 32 levels of lists and maps (each taking two JSON
// levels) and the few levels of the response around them.
const maxSkipDepth = 512

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipSpace(b []byte, i int) int {
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

// special reports (as a non-zero mask) whether any byte of v is '"', '\',
// below 0x20 or at or above 0x80.
func special(v uint64) uint64 {
	q := v ^ (lo8 * '"')
	s := v ^ (lo8 * '\\')
	return ((q-lo8) & ^q | (s-lo8) & ^s | (v-lo8*0x20) & ^v | v) & hi8
}

// str is a scanned JSON string: b[start:end] is its content between the
// quotes, as written.
type str struct {
	start, end int
	escaped    bool // holds a backslash
	nonASCII   bool // holds a byte >= 0x80
}

// scanString scans the string starting with the quote at b[i] and returns it
// and the offset after its closing quote. It checks what the SDK's parser
// checks: no control characters, escapes among \" \\ \/ \b \f \n \r \t \uXXXX.
// It does not check UTF-8 (neither does the SDK).
func scanString(b []byte, i int) (str, int, error) {
	s := str{start: i + 1}
	i++
	for {
		for i+8 <= len(b) && special(load64(b, i)) == 0 {
			i += 8
		}
		if i >= len(b) {
			return s, i, syntaxErr(s.start-1, "unterminated string")
		}
		c := b[i]
		switch {
		case c == '"':
			s.end = i
			return s, i + 1, nil
		case c == '\\':
			s.escaped = true
			if i+1 >= len(b) {
				return s, i, syntaxErr(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return s, i, syntaxErr(i, "incomplete unicode escape")
				}
				for _, h := range b[i+2 : i+6] {
					if hexVal(h) < 0 {
						return s, i, syntaxErr(i, "invalid unicode escape")
					}
				}
				i += 6
			default:
				return s, i, syntaxErr(i, "invalid escape "+strconv.Quote(string(b[i:i+2])))
			}
		case c < 0x20:
			return s, i, syntaxErr(i, "invalid control character in string")
		case c >= utf8.RuneSelf:
			s.nonASCII = true
			i++
		default:
			i++
		}
	}
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

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

// unquote appends the content s of a scanned, escaped JSON string to dst,
// unescaped exactly as the SDK's decoder (a copy of encoding/json's unquote)
// does: \uXXXX surrogate pairs joined, a lone surrogate and every byte that
// is not valid UTF-8 replaced with U+FFFD.
func unquote(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
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
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// bytesString returns b as a string without copying; the string must not
// outlive a change to b.
func bytesString(b []byte) string {
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
		return i, unexpected(b, i, "a digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, unexpected(b, i, "a digit after the decimal point")
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
			return i, unexpected(b, i, "a digit in the exponent")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	_ = start
	return i, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanLiteral scans true, false or null at b[i].
func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, unexpected(b, i, lit)
	}
	return i + len(lit), nil
}

// skipValue validates the JSON value starting at b[i] (after white space) and
// returns the offset after it. It allocates nothing: nesting is tracked in a
// bit stack of maxSkipDepth levels.
func skipValue(b []byte, i int) (int, error) {
	var stack [maxSkipDepth / 64]uint64 // bit set: in an object
	depth := 0
	var err error
	for {
		// A value.
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, unexpected(b, i, "a JSON value")
		}
		switch c := b[i]; {
		case c == '"':
			_, i, err = scanString(b, i)
		case c == '{' || c == '[':
			if depth == maxSkipDepth {
				return i, syntaxErr(i, "JSON nested more than "+strconv.Itoa(maxSkipDepth)+" levels deep")
			}
			obj := c == '{'
			if obj {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			i = skipSpace(b, i+1)
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
			i, err = scanLiteral(b, i, "true")
		case c == 'f':
			i, err = scanLiteral(b, i, "false")
		case c == 'n':
			i, err = scanLiteral(b, i, "null")
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
			i = skipSpace(b, i)
			obj := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if i < len(b) && b[i] == ',' {
				i++
				if obj {
					if i, err = objectKey(b, skipSpace(b, i)); err != nil {
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
				return i, unexpected(b, i, "',' or '"+string(closer)+"'")
			}
			i++
			depth--
		}
	}
}

// objectKey scans `"key" :` at b[i] and returns the offset after the colon.
func objectKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, unexpected(b, i, "an object key")
	}
	_, i, err := scanString(b, i)
	if err != nil {
		return i, err
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, unexpected(b, i, "':'")
	}
	return i + 1, nil
}
