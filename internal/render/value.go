package render

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
)

// missing is the value of something that is not there: JavaScript's undefined. A path lookup
// yields it only where absence is allowed (default's first argument, the condition of if and
// unless); a block param the helper did not provide also holds it.
type missing struct{}

// isNull reports whether v is JSON null or missing (JavaScript's `v == null`).
func isNull(v any) bool {
	switch v.(type) {
	case nil, missing:
		return true
	}
	return false
}

// text returns v as handlebars.js prints it (JavaScript's String(v)), except that numbers keep
// their exact digits: null and missing print as "", arrays as their elements joined with ",",
// objects as "[object Object]". Templates never print an array or object this way
// (evaluator.inText refuses them); text of an array still serves lookup's key argument.
func text(v any) string {
	var b strings.Builder
	writeText(&b, v)
	return b.String()
}

// writeText appends text(v) to b.
func writeText(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil, missing:
	case string:
		b.WriteString(v)
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case []any:
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeText(b, e)
		}
	case map[string]any:
		b.WriteString("[object Object]")
	default:
		if n, ok := number(v); ok {
			b.WriteString(n.String())
			return
		}
		b.WriteString("[object Object]")
	}
}

// number returns v as a json.Number if it is a number of any Go numeric type; values decoded
// with UseNumber are json.Number already, the other types come from callers that built the
// data by hand.
func number(v any) (json.Number, bool) {
	switch v := v.(type) {
	case json.Number:
		return v, true
	case int:
		return json.Number(strconv.Itoa(v)), true
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), true
	case float64:
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64)), true
	}
	return "", false
}

// truthy reports whether v is truthy in JavaScript: everything but false, "", 0, null and
// missing (arrays and objects, even empty ones, are truthy).
func truthy(v any) bool {
	switch v := v.(type) {
	case nil, missing:
		return false
	case bool:
		return v
	case string:
		return v != ""
	}
	if n, ok := number(v); ok {
		d, err := attr.ParseDecimal(string(n))
		return err != nil || !d.IsZero()
	}
	return true
}

// compareNumbers compares two numbers exactly; a malformed number compares as zero.
func compareNumbers(a, b json.Number) int {
	da, _ := attr.ParseDecimal(string(a))
	db, _ := attr.ParseDecimal(string(b))
	return da.Cmp(db)
}

// isEmpty is handlebars.js's Utils.isEmpty: falsy but not the number zero, or an empty array.
func isEmpty(v any) bool {
	if a, ok := v.([]any); ok {
		return len(a) == 0
	}
	if _, ok := number(v); ok {
		return false
	}
	return !truthy(v)
}

// strictEqual is JavaScript's ===, with numbers compared exactly as decimals: same type and
// value for scalars, the same object for arrays and objects.
func strictEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case missing:
		_, ok := b.(missing)
		return ok
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case []any, map[string]any:
		return sameObject(a, b)
	}
	an, aok := number(a)
	bn, bok := number(b)
	return aok && bok && compareNumbers(an, bn) == 0
}

// sameObject reports whether a and b are the same array or the same object (not equal ones).
func sameObject(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		return ok && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(bm).UnsafePointer()
	case []any:
		bs, ok := b.([]any)
		return ok && len(a) == len(bs) && len(a) > 0 && &a[0] == &bs[0]
	}
	return false
}

// sameContext is the `context != depths[0]` test handlebars.js 4.x uses to decide whether a
// block pushes a new depth for `../`: objects by identity, scalars by (loose) value.
func sameContext(a, b any) bool {
	if isNull(a) || isNull(b) {
		return isNull(a) && isNull(b)
	}
	switch a.(type) {
	case []any, map[string]any:
		return sameObject(a, b)
	}
	switch b.(type) {
	case []any, map[string]any:
		return false
	}
	if strictEqual(a, b) {
		return true
	}
	an, aok := looseNumber(a)
	bn, bok := looseNumber(b)
	return aok && bok && an.Cmp(bn) == 0
}

// looseNumber converts a scalar to a number the way JavaScript's == does.
func looseNumber(v any) (attr.Decimal, bool) {
	var s string
	switch v := v.(type) {
	case bool:
		s = "0"
		if v {
			s = "1"
		}
	case string:
		if s = strings.TrimSpace(v); s == "" {
			s = "0"
		}
	default:
		n, ok := number(v)
		if !ok {
			return attr.Decimal{}, false
		}
		s = string(n)
	}
	d, err := attr.ParseDecimal(s)
	return d, err == nil
}

// jsLength is JavaScript's s.length: the number of UTF-16 code units.
func jsLength(s string) int {
	n := 0
	for _, r := range s {
		n += len(utf16.Encode([]rune{r}))
	}
	return n
}

// jsCharAt is JavaScript's s[i] for 0 <= i: the UTF-16 code unit at i, as a string.
func jsCharAt(s string, i int) (string, bool) {
	units := utf16.Encode([]rune(s))
	if i < 0 || i >= len(units) {
		return "", false
	}
	r := rune(units[i])
	if utf16.IsSurrogate(r) {
		return string(utf8.RuneError), true
	}
	return string(r), true
}

// jsonText is JSON.stringify(v) with exact numbers and object keys in sorted order; missing
// array elements are written as null.
func jsonText(v any) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

// writeJSON appends jsonText(v) to b.
func writeJSON(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil, missing:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		writeJSONString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			writeJSON(b, v[k])
		}
		b.WriteByte('}')
	default:
		if n, ok := number(v); ok {
			b.WriteString(n.String())
			return
		}
		b.WriteString("null")
	}
}

// writeJSONString writes s as a JSON string escaped the way JSON.stringify does: quote,
// backslash and control characters only (invalid UTF-8 becomes U+FFFD).
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[r>>4])
				b.WriteByte(hex[r&0xf])
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
