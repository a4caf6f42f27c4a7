package lines

import (
	"encoding/base64"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
)

// Error is an item that cannot be written. Path locates the attribute value,
// starting with the top-level attribute's name, in attr.Error's notation
// (".tags[2].n").
type Error struct {
	Path string // where in the item; see attr.Error
	Msg  string // what was expected and what was found
}

// Error returns "attribute <path>: <msg>", the path without its leading dot.
func (e *Error) Error() string {
	return "attribute " + strings.TrimPrefix(e.Path, ".") + ": " + e.Msg
}

func (e *Error) at(step string) *Error {
	e.Path = step + e.Path
	return e
}

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// entry is a map member being sorted.
type entry struct {
	key string
	val types.AttributeValue
}

// Encoder appends items as JSON in one format. It keeps scratch space for
// sorting keys across calls, so that encoding allocates nothing per item once
// warmed up. An Encoder is not safe for concurrent use; the zero value is not
// usable, call NewEncoder.
type Encoder struct {
	format config.Format
	// scratch[level] holds the members of the map being written at nesting
	// level level (the item is level 0), reused across calls.
	scratch [attr.MaxDepth + 1][]entry
}

// NewEncoder returns an encoder writing format f.
func NewEncoder(f config.Format) *Encoder {
	return &Encoder{format: f}
}

// AppendItem appends the JSON object for item, without a trailing newline, to
// dst and returns the extended buffer. A nil item is written as {}.
//
// The error is an *Error when the item holds something that cannot be written
// faithfully: a nil or unknown attribute value, a number that is not one (see
// attr.AppendJSONNumber for the forms that are rewritten), a string or key
// that is not valid UTF-8, or lists and maps nested deeper than attr.MaxDepth.
// On error dst is returned with its original length. Empty sets, which
// DynamoDB never returns, are written as empty arrays.
func (e *Encoder) AppendItem(dst []byte, item map[string]types.AttributeValue) ([]byte, error) {
	start := len(dst)
	dst, err := e.appendMap(dst, item, 0)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// AppendDynamoJSON appends the attribute map m (an item or a key such as
// LastEvaluatedKey) in DynamoDB JSON to dst, like an Encoder of format DynamoDB.
func AppendDynamoJSON(dst []byte, m map[string]types.AttributeValue) ([]byte, error) {
	return NewEncoder(config.DynamoDB).AppendItem(dst, m)
}

// appendMap appends m, a map at nesting level level, as a JSON object with
// sorted keys; in DynamoDB format its values are DynamoDB JSON.
func (e *Encoder) appendMap(dst []byte, m map[string]types.AttributeValue, level int) ([]byte, *Error) {
	ents := e.scratch[level][:0]
	for k, v := range m {
		ents = append(ents, entry{k, v})
	}
	sortEntries(ents)
	e.scratch[level] = ents
	// Forget the members once written, so the scratch keeps no item alive.
	defer clear(ents)

	dst = append(dst, '{')
	for i, en := range ents {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err *Error
		dst, err = appendString(dst, en.key)
		if err != nil {
			return dst, err.at(attr.KeyStep(en.key))
		}
		dst = append(dst, ':')
		dst, err = e.appendValue(dst, en.val, level+1)
		if err != nil {
			return dst, err.at(attr.KeyStep(en.key))
		}
	}
	return append(dst, '}'), nil
}

// entrySortMax is the size up to which sortEntries sorts by insertion,
// inlining the comparison; most items and maps are this small.
const entrySortMax = 16

// sortEntries sorts ents by key in Go string order (UTF-8 bytes, which is
// code point order).
func sortEntries(ents []entry) {
	if len(ents) > entrySortMax {
		slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		return
	}
	for i := 1; i < len(ents); i++ {
		for j := i; j > 0 && ents[j].key < ents[j-1].key; j-- {
			ents[j], ents[j-1] = ents[j-1], ents[j]
		}
	}
}

// appendValue appends av, a value at nesting level level (top-level attributes
// are at level 1).
func (e *Encoder) appendValue(dst []byte, av types.AttributeValue, level int) ([]byte, *Error) {
	dyn := e.format == config.DynamoDB
	var err *Error
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"S":`...)
		}
		if dst, err = appendString(dst, v.Value); err != nil {
			return dst, err
		}
	case *types.AttributeValueMemberN:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"N":`...)
		}
		if dst, err = e.appendNumber(dst, v.Value); err != nil {
			return dst, err
		}
	case *types.AttributeValueMemberB:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"B":`...)
		}
		dst = appendBase64(dst, v.Value)
	case *types.AttributeValueMemberBOOL:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"BOOL":`...)
		}
		if v.Value {
			dst = append(dst, "true"...)
		} else {
			dst = append(dst, "false"...)
		}
	case *types.AttributeValueMemberNULL:
		if v == nil {
			return dst, nilValue(av)
		}
		// DynamoDB's NULL always holds true; the SDK's zero value does not
		// matter.
		if dyn {
			dst = append(dst, `{"NULL":true`...)
		} else {
			dst = append(dst, "null"...)
		}
	case *types.AttributeValueMemberL:
		if v == nil {
			return dst, nilValue(av)
		}
		if level > attr.MaxDepth {
			return dst, tooDeep()
		}
		if dyn {
			dst = append(dst, `{"L":`...)
		}
		dst = append(dst, '[')
		for i, el := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = e.appendValue(dst, el, level+1); err != nil {
				return dst, err.at(attr.IndexStep(i))
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberM:
		if v == nil {
			return dst, nilValue(av)
		}
		if level > attr.MaxDepth {
			return dst, tooDeep()
		}
		if dyn {
			dst = append(dst, `{"M":`...)
		}
		if dst, err = e.appendMap(dst, v.Value, level); err != nil {
			return dst, err
		}
	case *types.AttributeValueMemberSS:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"SS":`...)
		}
		dst = append(dst, '[')
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendString(dst, s); err != nil {
				return dst, err.at(attr.IndexStep(i))
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberNS:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"NS":`...)
		}
		dst = append(dst, '[')
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = e.appendNumber(dst, s); err != nil {
				return dst, err.at(attr.IndexStep(i))
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberBS:
		if v == nil {
			return dst, nilValue(av)
		}
		if dyn {
			dst = append(dst, `{"BS":`...)
		}
		dst = append(dst, '[')
		for i, b := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendBase64(dst, b)
		}
		dst = append(dst, ']')
	case nil:
		return dst, nilValue(av)
	case *types.UnknownUnionMember:
		if v == nil {
			return dst, nilValue(av)
		}
		return dst, errorf("expected a known attribute value type, got the unknown DynamoDB type %q", v.Tag)
	default:
		return dst, errorf("expected an attribute value of a DynamoDB type, got %T", av)
	}
	if dyn {
		dst = append(dst, '}')
	}
	return dst, nil
}

func nilValue(av types.AttributeValue) *Error {
	return errorf("expected an attribute value, got nil (%T)", av)
}

func tooDeep() *Error {
	return errorf("expected lists and maps nested at most %d levels deep", attr.MaxDepth)
}

// appendNumber appends the DynamoDB number s: a JSON number in Plain format,
// the string exactly as given (once checked to be a number) in DynamoDB format.
func (e *Encoder) appendNumber(dst []byte, s string) ([]byte, *Error) {
	if e.format == config.DynamoDB {
		if !attr.IsNumber(s) {
			return dst, badNumber(s)
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), nil
	}
	out, err := attr.AppendJSONNumber(dst, s)
	if err != nil {
		return dst, badNumber(s)
	}
	return out, nil
}

func badNumber(s string) *Error {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return errorf("expected a number such as 12, -0.5 or 1.5e3, got N %q", s)
}

func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// hex is the alphabet of \u escapes.
const hex = "0123456789abcdef"

// Masks of the word-at-a-time scan in appendString.
const (
	lo8 = uint64(0x0101010101010101)
	hi8 = uint64(0x8080808080808080)
)

// load64 reads 8 bytes little-endian from s[i:]; the caller checks the bounds.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// toEscape returns a mask whose lowest set bit is the high bit of the first
// byte of v (little-endian) that appendString may have to escape: '"', '\',
// a control character, or 0xE2 (which starts U+2028 and U+2029); 0 if there
// is none. Higher bits may be set spuriously (a borrow carried past a match).
func toEscape(v uint64) uint64 {
	q := v ^ (lo8 * '"')
	s := v ^ (lo8 * '\\')
	e := v ^ (lo8 * 0xE2)
	return ((q-lo8) & ^q | (s-lo8) & ^s | (e-lo8) & ^e | (v-lo8*0x20) & ^v) & hi8
}

// mayEscape reports whether appendString looks at c: see toEscape.
func mayEscape(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c == 0xE2 }

// appendString appends s as a JSON string, escaped exactly as encoding/json
// escapes with SetEscapeHTML(false): '"' and '\' escaped, control characters as
// \b, \f, \n, \r, \t or \u00XX, U+2028 and U+2029 as \u2028 and \u2029 (for
// JavaScript), everything else as it is. A string
// that is not valid UTF-8 is an error: DynamoDB strings are UTF-8, and
// replacing bytes would silently change the data.
//
// The UTF-8 is checked in one pass (utf8.ValidString), then the bytes to
// escape are found eight at a time; runs between them are copied whole.
func appendString(dst []byte, s string) ([]byte, *Error) {
	if !utf8.ValidString(s) {
		return dst, invalidUTF8(s)
	}
	return appendValidString(dst, s), nil
}

// appendValidString is appendString for s known to be valid UTF-8.
func appendValidString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start, i := 0, 0
	for {
		for i+8 <= len(s) {
			if m := toEscape(load64(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(s) && !mayEscape(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c == 0xE2 {
			// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
			if i+2 >= len(s) || s[i+1] != 0x80 || s[i+2]&^1 != 0xA8 {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[s[i+2]&^0xA0])
			i += 3
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// invalidUTF8 returns the error for s, which is not valid UTF-8: where its
// first invalid byte is.
func invalidUTF8(s string) *Error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return errorf("expected valid UTF-8, got byte %#02x at offset %d of the string", s[i], i)
		}
		i += size
	}
	return errorf("expected valid UTF-8")
}
