// Package attr converts between JSON value trees and DynamoDB attribute values
// without losing a digit: numbers travel as decimal strings and never through
// float64.
//
// A JSON value tree is what encoding/json produces with Decoder.UseNumber: nil,
// bool, string, json.Number, []any and map[string]any. FromJSON reads one as
// the configuration's expressionAttributeValues and exclusiveStartKey are
// written (plain JSON, or DynamoDB JSON where an object has exactly one key
// that is a type descriptor); PlainValue gives the plain-JSON projection that
// the plain manifest format writes.
//
// Errors are *Error values whose Path locates the offending value relative to
// the value given, so that a caller can prefix the name of a configuration
// field.
package attr

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxDepth is how deeply DynamoDB lets lists and maps nest: a top-level
// attribute value is at level 1, the members of a list or map at level n are at
// level n+1, and a list or map deeper than level MaxDepth is rejected.
const MaxDepth = 32

// Error is a value that cannot be converted.
//
// Path locates the value relative to the value given to FromJSON or
// ItemFromJSON: it is empty for the value itself, and otherwise a sequence of
// steps, ".key" for an object member (["key"], Go-quoted, when the key holds
// characters other than letters, digits and _ : # $ - @) and "[i]" for an array
// element. A descriptor is a step like any key: {"N": 5} fails at ".N", and
// {"M": {"a": {"N": 5}}} at ".M.a.N". ItemFromJSON starts with the item's key:
// ".:pk.N". A caller appends Path to the name of the field that held the value,
// e.g. "query.expressionAttributeValues" + Path.
type Error struct {
	Path string // where, relative to the value converted; see above
	Msg  string // what was expected and what was found
}

// Error returns "<path>: <msg>", or just the message when Path is empty.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// In returns a copy of e whose Path is prefixed with field, for reporting the
// error under the name of the configuration field that held the value.
func (e *Error) In(field string) *Error {
	return &Error{Path: field + e.Path, Msg: e.Msg}
}

// KeyStep returns the path step for the object member key, as used in
// Error.Path: ".key" when key is made of letters, digits and _ : # $ - @, and
// otherwise [key] with key Go-quoted.
func KeyStep(key string) string {
	if key == "" {
		return `[""]`
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) ||
			c == '_' || c == ':' || c == '#' || c == '$' || c == '-' || c == '@') {
			return "[" + strconv.Quote(key) + "]"
		}
	}
	return "." + key
}

// IndexStep returns the path step for the array element at index i: "[i]".
func IndexStep(i int) string { return "[" + strconv.Itoa(i) + "]" }

// at prefixes e's path with step and returns e.
func (e *Error) at(step string) *Error {
	e.Path = step + e.Path
	return e
}

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Type descriptors of DynamoDB JSON.
const (
	descS    = "S"
	descN    = "N"
	descB    = "B"
	descSS   = "SS"
	descNS   = "NS"
	descBS   = "BS"
	descBOOL = "BOOL"
	descNULL = "NULL"
	descL    = "L"
	descM    = "M"
)

const descriptorList = "S, N, B, SS, NS, BS, BOOL, NULL, L or M"

func isDescriptor(k string) bool {
	switch k {
	case descS, descN, descB, descSS, descNS, descBS, descBOOL, descNULL, descL, descM:
		return true
	}
	return false
}

// Describe names the JSON type of v for error messages: "null", "a boolean",
// "a string", "a number" (json.Number or a Go integer), "an array", "an
// object". A float64 is named as such, since it may have lost digits.
func Describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "a number"
	case float32, float64:
		return "a float64 (decode with json.Decoder.UseNumber to keep every digit)"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a Go %T", v)
}

// describe is Describe, naming an object that is one DynamoDB JSON value as such.
func describe(v any) string {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for k := range m {
			if isDescriptor(k) {
				return "a DynamoDB JSON " + k + " value"
			}
		}
	}
	return Describe(v)
}

// FromJSON converts the JSON value tree v to a DynamoDB attribute value:
// string → S, json.Number → N (the digits as written), bool → BOOL, nil → NULL,
// []any → L, map[string]any → M. Go integers (int, int64, uint64, ...) are
// accepted as N too; float32 and float64 are rejected because they may already
// have lost digits (decode with json.Decoder.UseNumber).
//
// An object with exactly one key that is a DynamoDB type descriptor (S N B SS
// NS BS BOOL NULL L M) is read as DynamoDB JSON: {"S": "x"}, {"N": "1.50"} (the
// number in a string), {"B": "<standard base64>"}, {"SS": ["a"]},
// {"NS": ["1", "2"]}, {"BS": ["<base64>"]}, {"BOOL": true}, {"NULL": true},
// {"L": [...]} whose elements are DynamoDB JSON, and {"M": {...}} whose values
// are DynamoDB JSON. Where DynamoDB JSON has a string, S, N and the members of
// SS and NS also take a JSON number, as a template such as {"N": "{{n}}"}
// yields one: N and NS keep its exact digits, S and SS get its text. A descriptor whose value has the wrong JSON type, an
// invalid number or base64 string, an empty set and a set with duplicate
// members (numbers compared by value) are errors, and so are strings and keys
// that are not valid UTF-8 (which encoding/json never produces).
//
// Numbers must be what DynamoDB accepts (see CheckNumber): at most 38
// significant digits, magnitude from 1e-130 to below 1e126. Lists and maps may
// nest MaxDepth levels. The error is an *Error.
func FromJSON(v any) (types.AttributeValue, error) {
	av, err := fromPlain(v, 1)
	if err != nil {
		return nil, err
	}
	return av, nil
}

// ItemFromJSON converts every value of m with FromJSON, for attribute value maps
// such as expressionAttributeValues and keys such as exclusiveStartKey. The
// error is an *Error whose Path starts with the key's step, e.g. ".:pk.N"; with
// several bad values, the one whose key sorts first is reported.
func ItemFromJSON(m map[string]any) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := checkUTF8(k); err != nil {
			return nil, err.at(KeyStep(k))
		}
		av, err := fromPlain(m[k], 1)
		if err != nil {
			return nil, err.at(KeyStep(k))
		}
		out[k] = av
	}
	return out, nil
}

// fromPlain converts a plain JSON value at nesting level level.
func fromPlain(v any, level int) (types.AttributeValue, *Error) {
	switch v := v.(type) {
	case nil:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case bool:
		return &types.AttributeValueMemberBOOL{Value: v}, nil
	case string:
		if err := checkUTF8(v); err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberS{Value: v}, nil
	case json.Number:
		if err := CheckNumber(string(v)); err != nil {
			return nil, &Error{Msg: err.Error()}
		}
		return &types.AttributeValueMemberN{Value: string(v)}, nil
	case int:
		return goInt(int64(v))
	case int8:
		return goInt(int64(v))
	case int16:
		return goInt(int64(v))
	case int32:
		return goInt(int64(v))
	case int64:
		return goInt(v)
	case uint:
		return goUint(uint64(v))
	case uint8:
		return goUint(uint64(v))
	case uint16:
		return goUint(uint64(v))
	case uint32:
		return goUint(uint64(v))
	case uint64:
		return goUint(v)
	case []any:
		if level > MaxDepth {
			return nil, tooDeep()
		}
		l := make([]types.AttributeValue, len(v))
		for i, e := range v {
			av, err := fromPlain(e, level+1)
			if err != nil {
				return nil, err.at(IndexStep(i))
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case map[string]any:
		if len(v) == 1 {
			for k, dv := range v {
				if isDescriptor(k) {
					av, err := fromDescriptor(k, dv, level)
					if err != nil {
						return nil, err.at(KeyStep(k))
					}
					return av, nil
				}
			}
		}
		if level > MaxDepth {
			return nil, tooDeep()
		}
		m := make(map[string]types.AttributeValue, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := checkUTF8(k); err != nil {
				return nil, err.at(KeyStep(k))
			}
			av, err := fromPlain(v[k], level+1)
			if err != nil {
				return nil, err.at(KeyStep(k))
			}
			m[k] = av
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	default:
		return nil, errorf("expected a JSON value (string, number, boolean, null, array or object), got %s", describe(v))
	}
}

// checkUTF8 rejects strings that are not valid UTF-8, which DynamoDB cannot
// store (the SDK would silently replace the bad bytes). encoding/json never
// produces them; Go callers might.
func checkUTF8(s string) *Error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return errorf("expected valid UTF-8, got byte %#02x at offset %d of the string", s[i], i)
		}
		i += size
	}
	return nil
}

func goInt(i int64) (types.AttributeValue, *Error) {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(i, 10)}, nil
}

func goUint(u uint64) (types.AttributeValue, *Error) {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(u, 10)}, nil
}

func tooDeep() *Error {
	return errorf("expected lists and maps nested at most %d levels deep", MaxDepth)
}

// fromDynamo converts a DynamoDB JSON value (an object with one descriptor key)
// at nesting level level.
func fromDynamo(v any, level int) (types.AttributeValue, *Error) {
	m, ok := v.(map[string]any)
	if ok && len(m) == 1 {
		for k, dv := range m {
			if isDescriptor(k) {
				av, err := fromDescriptor(k, dv, level)
				if err != nil {
					return nil, err.at(KeyStep(k))
				}
				return av, nil
			}
		}
	}
	return nil, errorf("expected a DynamoDB JSON value (an object with one key: %s), got %s", descriptorList, describe(v))
}

// fromDescriptor converts the value dv of the type descriptor desc. Errors are
// relative to dv.
func fromDescriptor(desc string, dv any, level int) (types.AttributeValue, *Error) {
	switch desc {
	case descS:
		s, ok := stringOrNumber(dv)
		if !ok {
			return nil, errorf("expected a string, got %s", describe(dv))
		}
		if err := checkUTF8(s); err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberS{Value: s}, nil
	case descN:
		s, err := numberString(dv)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberN{Value: s}, nil
	case descB:
		b, err := base64Bytes(dv)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberB{Value: b}, nil
	case descBOOL:
		b, ok := dv.(bool)
		if !ok {
			return nil, errorf("expected true or false, got %s", describe(dv))
		}
		return &types.AttributeValueMemberBOOL{Value: b}, nil
	case descNULL:
		if b, ok := dv.(bool); !ok || !b {
			return nil, errorf("expected true (DynamoDB's NULL holds true), got %s", describeValue(dv))
		}
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case descSS, descNS, descBS:
		return fromSet(desc, dv)
	case descL:
		a, ok := dv.([]any)
		if !ok {
			return nil, errorf("expected an array of DynamoDB JSON values, got %s", describe(dv))
		}
		if level > MaxDepth {
			return nil, tooDeep()
		}
		l := make([]types.AttributeValue, len(a))
		for i, e := range a {
			av, err := fromDynamo(e, level+1)
			if err != nil {
				return nil, err.at(IndexStep(i))
			}
			l[i] = av
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case descM:
		o, ok := dv.(map[string]any)
		if !ok {
			return nil, errorf("expected an object whose values are DynamoDB JSON, got %s", describe(dv))
		}
		if level > MaxDepth {
			return nil, tooDeep()
		}
		m := make(map[string]types.AttributeValue, len(o))
		for _, k := range slices.Sorted(maps.Keys(o)) {
			if err := checkUTF8(k); err != nil {
				return nil, err.at(KeyStep(k))
			}
			av, err := fromDynamo(o[k], level+1)
			if err != nil {
				return nil, err.at(KeyStep(k))
			}
			m[k] = av
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	panic("attr: unhandled descriptor " + desc)
}

// describeValue is describe, but spells out booleans.
func describeValue(v any) string {
	if b, ok := v.(bool); ok {
		return strconv.FormatBool(b)
	}
	return describe(v)
}

// stringOrNumber returns v's text if v is a string or a JSON number: a template such as
// {"N": "{{n}}"} or {"SS": ["{{n}}"]} yields a json.Number where DynamoDB JSON has a string,
// and whoever names the type has said what the value is.
func stringOrNumber(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	return "", false
}

// numberString returns the number v holds: a string, or a JSON number with its exact digits.
func numberString(v any) (string, *Error) {
	s, ok := stringOrNumber(v)
	if !ok {
		return "", errorf("expected a string holding a number, got %s", describe(v))
	}
	if err := CheckNumber(s); err != nil {
		return "", &Error{Msg: err.Error()}
	}
	return s, nil
}

func base64Bytes(v any) ([]byte, *Error) {
	s, ok := v.(string)
	if !ok {
		return nil, errorf("expected a string holding standard base64, got %s", describe(v))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errorf("expected a string holding standard base64 (RFC 4648, with padding), got %q: %v", abbreviate(s), err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// abbreviate shortens s for an error message.
func abbreviate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// setMember names the members of each set type for error messages.
var setMember = map[string]string{descSS: "strings", descNS: "strings holding numbers", descBS: "strings holding standard base64"}

func fromSet(desc string, dv any) (types.AttributeValue, *Error) {
	a, ok := dv.([]any)
	if !ok {
		return nil, errorf("expected a non-empty array of %s, got %s", setMember[desc], describe(dv))
	}
	if len(a) == 0 {
		return nil, errorf("expected a non-empty array of %s (DynamoDB has no empty sets), got an empty array", setMember[desc])
	}
	seen := make(map[string]int, len(a))
	dup := func(key string, i int) *Error {
		if j, ok := seen[key]; ok {
			return errorf("expected distinct set members, got a duplicate of element %d", j).at(IndexStep(i))
		}
		seen[key] = i
		return nil
	}
	switch desc {
	case descSS:
		ss := make([]string, len(a))
		for i, e := range a {
			s, ok := stringOrNumber(e)
			if !ok {
				return nil, errorf("expected a string, got %s", describe(e)).at(IndexStep(i))
			}
			if err := checkUTF8(s); err != nil {
				return nil, err.at(IndexStep(i))
			}
			if err := dup(s, i); err != nil {
				return nil, err
			}
			ss[i] = s
		}
		return &types.AttributeValueMemberSS{Value: ss}, nil
	case descNS:
		ns := make([]string, len(a))
		for i, e := range a {
			s, err := numberString(e)
			if err != nil {
				return nil, err.at(IndexStep(i))
			}
			c, _ := CanonicalNumber(s)
			if err := dup(c, i); err != nil {
				return nil, err
			}
			ns[i] = s
		}
		return &types.AttributeValueMemberNS{Value: ns}, nil
	default: // descBS
		bs := make([][]byte, len(a))
		for i, e := range a {
			b, err := base64Bytes(e)
			if err != nil {
				return nil, err.at(IndexStep(i))
			}
			if err := dup(string(b), i); err != nil {
				return nil, err
			}
			bs[i] = b
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	}
}

// PlainValue returns the plain-JSON projection of av as a JSON value tree,
// exactly as the plain manifest format writes it: S → string, N → json.Number
// (rewritten as AppendJSONNumber does), B → standard base64 string, BOOL →
// bool, NULL → nil, L → []any, M → map[string]any, SS → []any of strings, NS →
// []any of json.Number, BS → []any of base64 strings, sets in the order given.
// PlainValue does not validate: a number that is not one comes back as a
// json.Number holding the text as given, and a nil or unknown member as nil;
// the encoder rejects both.
func PlainValue(av types.AttributeValue) any {
	if IsNilMember(av) {
		return nil
	}
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return plainNumber(v.Value)
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(v.Value)
	case *types.AttributeValueMemberBOOL:
		return v.Value
	case *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = PlainValue(e)
		}
		return l
	case *types.AttributeValueMemberM:
		return PlainItem(v.Value)
	case *types.AttributeValueMemberSS:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = e
		}
		return l
	case *types.AttributeValueMemberNS:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = plainNumber(e)
		}
		return l
	case *types.AttributeValueMemberBS:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = base64.StdEncoding.EncodeToString(e)
		}
		return l
	}
	return nil
}

// PlainItem returns the plain-JSON projection of an item: PlainValue of each
// attribute.
func PlainItem(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, e := range item {
		m[k] = PlainValue(e)
	}
	return m
}

func plainNumber(s string) json.Number {
	b, err := AppendJSONNumber(nil, s)
	if err != nil {
		return json.Number(s)
	}
	return json.Number(b)
}

// IsNilMember reports whether av is nil or a nil pointer to one of the SDK's
// attribute value member types, neither of which holds a value.
func IsNilMember(av types.AttributeValue) bool {
	switch v := av.(type) {
	case nil:
		return true
	case *types.AttributeValueMemberS:
		return v == nil
	case *types.AttributeValueMemberN:
		return v == nil
	case *types.AttributeValueMemberB:
		return v == nil
	case *types.AttributeValueMemberBOOL:
		return v == nil
	case *types.AttributeValueMemberNULL:
		return v == nil
	case *types.AttributeValueMemberL:
		return v == nil
	case *types.AttributeValueMemberM:
		return v == nil
	case *types.AttributeValueMemberSS:
		return v == nil
	case *types.AttributeValueMemberNS:
		return v == nil
	case *types.AttributeValueMemberBS:
		return v == nil
	case *types.UnknownUnionMember:
		return v == nil
	}
	return false
}
