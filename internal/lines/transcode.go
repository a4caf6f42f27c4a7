package lines

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonlex"
)

// Page holds one Query response transcoded into manifest lines.
type Page struct {
	Lines []byte // every line ends in '\n'
	// Ends[i] is the end of line i in Lines, its '\n' included; line i is
	// Lines[start:Ends[i]] where start is Ends[i-1], or 0 for i = 0.
	Ends  []int
	Count int // items (lines)
}

// Reset empties p, keeping its buffers.
func (p *Page) Reset() {
	p.Lines = p.Lines[:0]
	p.Ends = p.Ends[:0]
	p.Count = 0
}

// Line returns line i without its '\n'.
func (p *Page) Line(i int) []byte {
	start := 0
	if i > 0 {
		start = p.Ends[i-1]
	}
	return p.Lines[start : p.Ends[i]-1]
}

// ItemError is an item that cannot be written: Err is the *Error that
// the Encoder reports for the item as the SDK decodes it (same Path and
// Msg).
type ItemError struct {
	Index int // the item's 0-based index in the Items array
	Err   error
}

func (e *ItemError) Error() string { return "item " + strconv.Itoa(e.Index) + ": " + e.Err.Error() }

func (e *ItemError) Unwrap() error { return e.Err }

// member is a map member being written: its key (unescaped) and where its
// `"key":value` went in the output.
type member struct {
	key        string // aliases the input or t.keys
	pfx        uint64 // the key's first 8 bytes, big-endian, zero-padded
	start, end int    // output span, comma excluded
	err        error  // a *Error in the member's key or value, else nil
}

// keyPrefix returns the first 8 bytes of k as a big-endian number, zero-
// padded: keys whose prefixes differ compare as their prefixes do.
func keyPrefix(k string) uint64 {
	if len(k) >= 8 {
		return uint64(k[0])<<56 | uint64(k[1])<<48 | uint64(k[2])<<40 | uint64(k[3])<<32 |
			uint64(k[4])<<24 | uint64(k[5])<<16 | uint64(k[6])<<8 | uint64(k[7])
	}
	var p uint64
	for i := 0; i < len(k); i++ {
		p |= uint64(k[i]) << (56 - 8*i)
	}
	return p
}

// less reports whether a's key sorts before b's (Go string order).
func (a *member) less(b *member) bool {
	if a.pfx != b.pfx {
		return a.pfx < b.pfx
	}
	return a.key < b.key
}

// Transcoder turns the Items array of a raw DynamoDB Query response into
// manifest lines, byte for byte what the Encoder writes for the items
// the SDK would decode. It keeps scratch space across calls and allocates
// nothing per item once warmed up. A Transcoder is not safe for concurrent
// use; the zero value is not usable, call NewTranscoder.
type Transcoder struct {
	format  config.Format
	enc     *Encoder // for its number primitive
	members [attr.MaxDepth + 1][]member
	keys    []byte // unescaped keys of the current item
	str     []byte // an unescaped string
	bin     []byte // a decoded binary
	reorder []byte // a map's members while they are put in order
}

// NewTranscoder returns a transcoder writing format f.
func NewTranscoder(f config.Format) *Transcoder {
	return &Transcoder{format: f, enc: NewEncoder(f)}
}

// Format returns the format t writes.
func (t *Transcoder) Format() config.Format { return t.format }

// Items appends to p one line for each item of items, the raw JSON array of
// a Query response's "Items" in DynamoDB JSON ([{"attr":{"S":"..."}}, ...]),
// and adds their ends and count.
//
// An item that the Encoder could not write (a number that is not one, a
// string that is not UTF-8, nesting deeper than attr.MaxDepth, a value the
// SDK decodes as nil) is an *ItemError; input that is not JSON or not shaped
// as Items is a *SyntaxError. On error p holds the lines of the items before
// the failing one.
func (t *Transcoder) Items(p *Page, items []byte) error {
	i := jsonlex.SkipSpace(items, 0)
	if i < len(items) && items[i] == 'n' { // null: no items
		if i, err := jsonlex.ScanLiteral(items, i, "null"); err != nil {
			return err
		} else if i = jsonlex.SkipSpace(items, i); i != len(items) {
			return jsonlex.Unexpected(items, i, "end of Items")
		}
		return nil
	}
	if i >= len(items) || items[i] != '[' {
		return jsonlex.Unexpected(items, i, "'['")
	}
	i = jsonlex.SkipSpace(items, i+1)
	if i < len(items) && items[i] == ']' {
		return trailing(items, i+1)
	}
	for n := 0; ; n++ {
		if i >= len(items) || items[i] != '{' {
			return jsonlex.Unexpected(items, i, "an item ('{')")
		}
		start := len(p.Lines)
		t.keys = t.keys[:0]
		var err error
		p.Lines, i, err = t.appendMap(p.Lines, items, i, 0)
		if err != nil {
			p.Lines = p.Lines[:start]
			if _, ok := err.(*Error); !ok {
				return err
			}
			// The SDK would have failed the whole page on bad JSON
			// anywhere: report that first.
			if _, err := jsonlex.SkipValue(items, start0(items)); err != nil {
				return err
			}
			return &ItemError{Index: n, Err: err}
		}
		p.Lines = append(p.Lines, '\n')
		p.Ends = append(p.Ends, len(p.Lines))
		p.Count++
		i = jsonlex.SkipSpace(items, i)
		if i < len(items) && items[i] == ',' {
			i = jsonlex.SkipSpace(items, i+1)
			continue
		}
		if i < len(items) && items[i] == ']' {
			return trailing(items, i+1)
		}
		return jsonlex.Unexpected(items, i, "',' or ']'")
	}
}

// start0 is the offset of the first non-space byte.
func start0(b []byte) int { return jsonlex.SkipSpace(b, 0) }

func trailing(b []byte, i int) error {
	if i = jsonlex.SkipSpace(b, i); i != len(b) {
		return jsonlex.Unexpected(b, i, "end of Items")
	}
	return nil
}

// appendMap writes the object at b[i] (an item, level 0, or the value of an
// M at level level) with its members sorted by key; on duplicate keys the
// last one wins, as in the SDK's map. Errors in members are collected so
// that the one reported is that of the first key in order, as the Encoder
// reports it; a *SyntaxError stops at once.
func (t *Transcoder) appendMap(dst, b []byte, i, level int) ([]byte, int, error) {
	objStart := len(dst)
	dst = append(dst, '{')
	ms := t.members[level][:0]
	i = jsonlex.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		t.members[level] = ms
		return append(dst, '}'), i + 1, nil
	}
	sorted, failed := true, false
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, i, jsonlex.Unexpected(b, i, "an attribute name")
		}
		s, j, err := jsonlex.ScanString(b, i)
		if err != nil {
			return dst, j, err
		}
		var key []byte
		if s.Escaped {
			k := len(t.keys)
			t.keys = jsonlex.Unquote(t.keys, b[s.Start:s.End])
			key = t.keys[k:len(t.keys):len(t.keys)]
		} else {
			key = b[s.Start:s.End:s.End]
		}
		// Neither the input nor t.keys (only appended to during an item)
		// changes while the member lives.
		skey := jsonlex.BytesString(key)
		j = jsonlex.SkipSpace(b, j)
		if j >= len(b) || b[j] != ':' {
			return dst, j, jsonlex.Unexpected(b, j, "':'")
		}
		j = jsonlex.SkipSpace(b, j+1)
		m := member{key: skey, pfx: keyPrefix(skey)}
		if len(ms) > 0 {
			dst = append(dst, ',')
			if sorted && !ms[len(ms)-1].less(&m) {
				sorted = false
			}
		}
		m.start = len(dst)
		if s.Escaped {
			dst = appendValidString(dst, skey) // Unquote's result is valid UTF-8
		} else {
			dst, m.err = t.appendString(dst, key, !s.NonASCII)
		}
		if m.err == nil {
			dst = append(dst, ':')
			valStart := j
			dst, j, m.err = t.appendValue(dst, b, j, level+1)
			if m.err != nil {
				if _, ok := m.err.(*Error); !ok {
					return dst, j, m.err
				}
				// Find the value's end to carry on with the next member.
				if j, err = jsonlex.SkipValue(b, valStart); err != nil {
					return dst, j, err
				}
			}
		} else if j, err = jsonlex.SkipValue(b, j); err != nil {
			return dst, j, err
		}
		if m.err != nil {
			failed = true
			dst = dst[:m.start]
			m.err.(*Error).Path = attr.KeyStep(skey) + m.err.(*Error).Path
		}
		m.end = len(dst)
		ms = append(ms, m)
		i = jsonlex.SkipSpace(b, j)
		if i < len(b) && b[i] == ',' {
			i = jsonlex.SkipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			i++
			break
		}
		return dst, i, jsonlex.Unexpected(b, i, "',' or '}'")
	}
	t.members[level] = ms
	if sorted && !failed {
		clear(ms) // keep no references to the input
		return append(dst, '}'), i, nil
	}
	// Put the members in key order, the last of equal keys winning, from a
	// copy of what was written.
	body := objStart + 1
	t.reorder = append(t.reorder[:0], dst[body:]...)
	dst = dst[:body]
	if !sorted {
		sortMembers(ms)
	}
	n := 0
	for k, m := range ms {
		if k+1 < len(ms) && ms[k+1].key == m.key {
			continue // a later duplicate wins
		}
		if m.err != nil {
			err := m.err
			clear(ms)
			return dst[:objStart], i, err
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, t.reorder[m.start-body:m.end-body]...)
		n++
	}
	clear(ms) // keep no references to the input
	return append(dst, '}'), i, nil
}

// memberSortMax is the size up to which sortMembers sorts by insertion;
// most items and maps are this small.
const memberSortMax = 24

// sortMembers sorts ms by key (Go string order: UTF-8 bytes, code points),
// stably, so that of equal keys the last written stays last.
func sortMembers(ms []member) {
	if len(ms) > memberSortMax {
		slices.SortStableFunc(ms, func(a, b member) int {
			if a.pfx != b.pfx {
				return cmp.Compare(a.pfx, b.pfx)
			}
			return strings.Compare(a.key, b.key)
		})
		return
	}
	for i := 1; i < len(ms); i++ {
		if !ms[i].less(&ms[i-1]) {
			continue
		}
		m := ms[i]
		j := i
		for ; j > 0 && m.less(&ms[j-1]); j-- {
			ms[j] = ms[j-1]
		}
		ms[j] = m
	}
}

// appendString writes the string s, as it is in the input (without
// escapes, which leaves only U+2028, U+2029 and invalid UTF-8 to look for);
// plain says it holds only ASCII, so it is copied as it is.
func (t *Transcoder) appendString(dst, s []byte, plain bool) ([]byte, error) {
	if plain {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), nil
	}
	start := len(dst)
	dst, err := appendStringErr(dst, jsonlex.BytesString(s))
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// appendStringAt writes the JSON string at b[i] (already checked to start
// with '"') and returns the offset after it.
func (t *Transcoder) appendStringAt(dst, b []byte, i int) ([]byte, int, error) {
	s, j, err := jsonlex.ScanString(b, i)
	if err != nil {
		return dst, j, err
	}
	raw := b[s.Start:s.End]
	if !s.Escaped {
		dst, err = t.appendString(dst, raw, !s.NonASCII)
		return dst, j, err
	}
	// Unquote's result is valid UTF-8.
	t.str = jsonlex.Unquote(t.str[:0], raw)
	return appendValidString(dst, jsonlex.BytesString(t.str)), j, nil
}

// stringAt returns the unescaped content of the JSON string at b[i], which
// may be t.str, and the offset after it.
func (t *Transcoder) stringAt(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, jsonlex.Unexpected(b, i, "a string")
	}
	s, j, err := jsonlex.ScanString(b, i)
	if err != nil {
		return nil, j, err
	}
	if !s.Escaped {
		return b[s.Start:s.End], j, nil
	}
	t.str = jsonlex.Unquote(t.str[:0], b[s.Start:s.End])
	return t.str, j, nil
}

// Type descriptors as they open a value in DynamoDB format.
const (
	openS    = `{"S":`
	openN    = `{"N":`
	openB    = `{"B":`
	openBOOL = `{"BOOL":`
	openL    = `{"L":`
	openM    = `{"M":`
	openSS   = `{"SS":`
	openNS   = `{"NS":`
	openBS   = `{"BS":`
)

// appendValue writes the attribute value at b[i] (an object with a type
// descriptor), at nesting level level (top-level attributes are at level
// 1), and returns the offset after it. Like the SDK's union decoder, it uses
// the first member whose descriptor it knows and whose value is not null,
// and skips the others; with none, the value is nil, which the Encoder rejects.
func (t *Transcoder) appendValue(dst, b []byte, i, level int) ([]byte, int, error) {
	if i < len(b) && b[i] == 'n' {
		j, err := jsonlex.ScanLiteral(b, i, "null")
		if err != nil {
			return dst, j, err
		}
		return dst, j, nilValue(nil)
	}
	if i >= len(b) || b[i] != '{' {
		return dst, i, jsonlex.Unexpected(b, i, "an attribute value ('{')")
	}
	i = jsonlex.SkipSpace(b, i+1)
	done := false
	unknown := -1 // where the first unknown descriptor's name starts
	var unknownEnd int
	if i < len(b) && b[i] == '}' {
		return dst, i + 1, nilValue(nil)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, i, jsonlex.Unexpected(b, i, "a type descriptor")
		}
		kind, n := shortDesc(b, i)
		s, j := jsonlex.String{Start: i + 1, End: i + n - 1}, i+n
		if kind == kindUnknown {
			var err error
			if s, j, err = jsonlex.ScanString(b, i); err != nil {
				return dst, j, err
			}
			desc := b[s.Start:s.End]
			if s.Escaped {
				t.str = jsonlex.Unquote(t.str[:0], desc)
				desc = t.str
			}
			kind = descKind(desc)
		}
		j = jsonlex.SkipSpace(b, j)
		if j >= len(b) || b[j] != ':' {
			return dst, j, jsonlex.Unexpected(b, j, "':'")
		}
		j = jsonlex.SkipSpace(b, j+1)
		var err error
		switch {
		case kind == kindUnknown || j < len(b) && b[j] == 'n':
			// Skipped: unknown, or null.
			if kind == kindUnknown && unknown < 0 && !(j < len(b) && b[j] == 'n') {
				unknown, unknownEnd = s.Start, s.End
			}
			if j, err = jsonlex.SkipValue(b, j); err != nil {
				return dst, j, err
			}
		case done:
			return dst, j, jsonlex.Syntax(i, "attribute value with more than one type descriptor")
		default:
			done = true
			// On error the caller skips the rest of the value.
			if dst, j, err = t.appendKind(dst, b, j, level, kind); err != nil {
				return dst, j, err
			}
		}
		i = jsonlex.SkipSpace(b, j)
		if i < len(b) && b[i] == ',' {
			i = jsonlex.SkipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			i++
			break
		}
		return dst, i, jsonlex.Unexpected(b, i, "',' or '}'")
	}
	if !done {
		if unknown >= 0 {
			return dst, i, unknownTypeError(b[unknown:unknownEnd])
		}
		return dst, i, nilValue(nil)
	}
	return dst, i, nil
}

// unknownTypeError returns the Encoder's error for an attribute value of an
// unknown type (the SDK's types.UnknownUnionMember), taken from the encoder
// itself so that the wording stays in one place. desc is the descriptor as
// written.
//
// The SDK (service/dynamodb v1.74.0) does not produce an
// UnknownUnionMember here: it skips unknown and null members, and when no
// known one is left it leaves the value as decoded for the previous
// element of the same map or list (its decoder reuses one variable), or nil
// for the first. The transcoder refuses such a value instead of copying
// another attribute's value.
func unknownTypeError(desc []byte) *Error {
	tag := string(desc)
	if bytes.IndexByte(desc, '\\') >= 0 {
		tag = string(jsonlex.Unquote(nil, desc))
	}
	_, err := NewEncoder(config.Plain).AppendItem(nil, map[string]types.AttributeValue{"": &types.UnknownUnionMember{Tag: tag}})
	var je *Error
	if errors.As(err, &je) {
		return &Error{Msg: je.Msg}
	}
	return &Error{Msg: "expected a known attribute value type, got " + strconv.Quote(tag)}
}

type kind uint8

const (
	kindUnknown kind = iota
	kindS
	kindN
	kindB
	kindBOOL
	kindNULL
	kindL
	kindM
	kindSS
	kindNS
	kindBS
)

// shortDesc returns the kind of the one- or two-letter descriptor
// ("S", "SS", ...) written without escapes at b[i], a quote, and its length
// with the quotes; kindUnknown for any other, which ScanString reads.
func shortDesc(b []byte, i int) (kind, int) {
	if i+3 >= len(b) {
		return kindUnknown, 0
	}
	if b[i+2] == '"' {
		switch b[i+1] {
		case 'S':
			return kindS, 3
		case 'N':
			return kindN, 3
		case 'B':
			return kindB, 3
		case 'L':
			return kindL, 3
		case 'M':
			return kindM, 3
		}
	} else if b[i+2] == 'S' && b[i+3] == '"' {
		switch b[i+1] {
		case 'S':
			return kindSS, 4
		case 'N':
			return kindNS, 4
		case 'B':
			return kindBS, 4
		}
	}
	return kindUnknown, 0
}

func descKind(d []byte) kind {
	switch len(d) {
	case 1:
		switch d[0] {
		case 'S':
			return kindS
		case 'N':
			return kindN
		case 'B':
			return kindB
		case 'L':
			return kindL
		case 'M':
			return kindM
		}
	case 2:
		if d[1] == 'S' {
			switch d[0] {
			case 'S':
				return kindSS
			case 'N':
				return kindNS
			case 'B':
				return kindBS
			}
		}
	case 4:
		switch string(d) {
		case "BOOL":
			return kindBOOL
		case "NULL":
			return kindNULL
		}
	}
	return kindUnknown
}

// appendKind writes the value of descriptor k at b[i] (not null).
func (t *Transcoder) appendKind(dst, b []byte, i, level int, k kind) ([]byte, int, error) {
	dyn := t.format == config.DynamoDB
	var err error
	switch k {
	case kindS:
		if i >= len(b) || b[i] != '"' {
			return dst, i, jsonlex.Unexpected(b, i, "a string (S)")
		}
		if dyn {
			dst = append(dst, openS...)
		}
		if dst, i, err = t.appendStringAt(dst, b, i); err != nil {
			return dst, i, err
		}
	case kindN:
		var n []byte
		if n, i, err = t.stringAt(b, i); err != nil {
			return dst, i, err
		}
		if dyn {
			dst = append(dst, openN...)
		}
		if dst, err = t.enc.appendNumberErr(dst, jsonlex.BytesString(n)); err != nil {
			return dst, i, err
		}
	case kindB:
		if dst, i, err = t.appendBinary(dst, b, i, dyn, openB); err != nil {
			return dst, i, err
		}
		return dst, i, nil
	case kindBOOL, kindNULL:
		var v bool
		switch {
		case i < len(b) && b[i] == 't':
			i, err = jsonlex.ScanLiteral(b, i, "true")
			v = true
		case i < len(b) && b[i] == 'f':
			i, err = jsonlex.ScanLiteral(b, i, "false")
		default:
			err = jsonlex.Unexpected(b, i, "true or false")
		}
		if err != nil {
			return dst, i, err
		}
		switch {
		case k == kindNULL && dyn:
			// DynamoDB's NULL always holds true.
			return append(dst, `{"NULL":true}`...), i, nil
		case k == kindNULL:
			return append(dst, "null"...), i, nil
		case dyn:
			dst = append(dst, openBOOL...)
		}
		if v {
			dst = append(dst, "true"...)
		} else {
			dst = append(dst, "false"...)
		}
	case kindL, kindSS, kindNS, kindBS:
		if i >= len(b) || b[i] != '[' {
			if k == kindL {
				return dst, i, jsonlex.Unexpected(b, i, "an array (L)")
			}
			return dst, i, jsonlex.Unexpected(b, i, "an array (set)")
		}
		if k == kindL && level > attr.MaxDepth {
			return dst, i, tooDeep()
		}
		if dyn {
			switch k {
			case kindL:
				dst = append(dst, openL...)
			case kindSS:
				dst = append(dst, openSS...)
			case kindNS:
				dst = append(dst, openNS...)
			default:
				dst = append(dst, openBS...)
			}
		}
		dst = append(dst, '[')
		i = jsonlex.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			i++
		} else {
			for n := 0; ; n++ {
				if n > 0 {
					dst = append(dst, ',')
				}
				switch k {
				case kindL:
					dst, i, err = t.appendValue(dst, b, i, level+1)
				case kindSS:
					if i >= len(b) || b[i] != '"' {
						return dst, i, jsonlex.Unexpected(b, i, "a string (SS member)")
					}
					dst, i, err = t.appendStringAt(dst, b, i)
				case kindNS:
					var num []byte
					if num, i, err = t.stringAt(b, i); err == nil {
						dst, err = t.enc.appendNumberErr(dst, jsonlex.BytesString(num))
					}
				default:
					dst, i, err = t.appendBinary(dst, b, i, false, "")
				}
				if err != nil {
					if je, ok := err.(*Error); ok {
						je.Path = attr.IndexStep(n) + je.Path
					}
					return dst, i, err
				}
				if i, err = listNext(b, i); err != nil {
					return dst, i, err
				}
				if b[i-1] == ']' {
					break
				}
			}
		}
		dst = append(dst, ']')
	case kindM:
		if i >= len(b) || b[i] != '{' {
			return dst, i, jsonlex.Unexpected(b, i, "an object (M)")
		}
		if level > attr.MaxDepth {
			return dst, i, tooDeep()
		}
		if dyn {
			dst = append(dst, openM...)
		}
		if dst, i, err = t.appendMap(dst, b, i, level); err != nil {
			return dst, i, err
		}
	}
	if dyn {
		dst = append(dst, '}')
	}
	return dst, i, nil
}

// listNext moves past the ',' or ']' after an array element; b[result-1]
// says which.
func listNext(b []byte, i int) (int, error) {
	i = jsonlex.SkipSpace(b, i)
	if i < len(b) && (b[i] == ',' || b[i] == ']') {
		if b[i] == ',' {
			return jsonlex.SkipSpace(b, i+1), nil
		}
		return i + 1, nil
	}
	return i, jsonlex.Unexpected(b, i, "',' or ']'")
}

// appendBinary writes the base64 string at b[i] as the Encoder writes the bytes
// the SDK decodes from it (base64.StdEncoding, which also skips '\r' and
// '\n'): re-encoded, so the output is canonical whatever the input's
// spelling. In DynamoDB format with open set, the value is wrapped.
func (t *Transcoder) appendBinary(dst, b []byte, i int, dyn bool, open string) ([]byte, int, error) {
	s, j, err := t.stringAt(b, i)
	if err != nil {
		return dst, j, err
	}
	t.bin = slices.Grow(t.bin[:0], base64.StdEncoding.DecodedLen(len(s)))[:base64.StdEncoding.DecodedLen(len(s))]
	n, err := base64.StdEncoding.Decode(t.bin, s)
	if err != nil {
		return dst, i, jsonlex.Syntax(i, "B value is not base64: "+err.Error())
	}
	if dyn {
		dst = append(dst, open...)
	}
	dst = append(dst, '"')
	if canonicalBase64(s, t.bin[:n]) {
		dst = append(dst, s...)
	} else {
		dst = base64.StdEncoding.AppendEncode(dst, t.bin[:n])
	}
	dst = append(dst, '"')
	if dyn {
		dst = append(dst, '}')
	}
	return dst, j, nil
}

// canonicalBase64 reports whether s, which base64.StdEncoding decodes to
// bin, is what it encodes bin to, so that s can be copied instead. Decoding
// leaves two freedoms: '\r' and '\n' skipped (then s is longer than bin's
// encoding) and non-zero unused bits in the last character before the
// padding (then the last quantum differs from bin's).
func canonicalBase64(s, bin []byte) bool {
	if len(s) != base64.StdEncoding.EncodedLen(len(bin)) {
		return false
	}
	tail := len(bin) % 3
	if tail == 0 {
		return true
	}
	var last [4]byte
	base64.StdEncoding.Encode(last[:], bin[len(bin)-tail:])
	return string(last[:]) == string(s[len(s)-4:])
}
