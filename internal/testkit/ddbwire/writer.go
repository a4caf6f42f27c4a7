// Package ddbwire is test support for the raw item path: it writes
// DynamoDB Query response bodies as DynamoDB sends them, from SDK-typed
// items (Body, or a Writer that varies the spelling at random), and serves
// them to a real dynamodb.Client in process (Fake), so that tests and
// benchmarks reach the items through the capture middleware and the
// transcoder, as production does. FuzzBodies are seed bodies for fuzzing.
package ddbwire

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Writer writes attribute values as DynamoDB's wire JSON. With R, it makes
// random choices where JSON allows several spellings: member order, white
// space and string escapes (\uXXXX, surrogate pairs, \/). Without, it
// writes one spelling: members in key order, no white space, the fewest
// escapes.
type Writer struct {
	R *rand.Rand
}

// chance reports true with probability 1/n, and never without R.
func (w Writer) chance(n int) bool { return w.R != nil && w.R.IntN(n) == 0 }

// intN is R.IntN(n), or 0 without R.
func (w Writer) intN(n int) int {
	if w.R == nil {
		return 0
	}
	return w.R.IntN(n)
}

// space appends a white space character, sometimes.
func (w Writer) space(dst []byte) []byte {
	if w.chance(8) {
		return append(dst, " \n\t\r"[w.R.IntN(4)])
	}
	return dst
}

// str appends s as a JSON string with random escaping.
func (w Writer) str(dst []byte, s string) []byte {
	mode := w.intN(4) // 0, 1: minimal escaping; 2: some escapes; 3: heavy
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			if mode >= 2 && w.chance(2) {
				dst = fmt.Appendf(dst, `\u%04x`, c)
			} else {
				dst = append(dst, '\\', byte(c))
			}
		case c < 0x20:
			switch {
			case c == '\n' && w.chance(2):
				dst = append(dst, `\n`...)
			case c == '\t' && w.chance(2):
				dst = append(dst, `\t`...)
			case c == '\r' && w.chance(2):
				dst = append(dst, `\r`...)
			case c == '\b' && w.chance(2):
				dst = append(dst, `\b`...)
			case c == '\f' && w.chance(2):
				dst = append(dst, `\f`...)
			default:
				dst = fmt.Appendf(dst, `\u%04X`, c)
			}
		case c == '/' && mode >= 2 && w.chance(2):
			dst = append(dst, `\/`...)
		case mode == 3 && w.chance(3) || mode == 2 && c >= 0x80 && w.chance(3):
			if c >= 0x10000 {
				r1, r2 := utf16.EncodeRune(c)
				dst = fmt.Appendf(dst, `\u%04x\u%04X`, r1, r2)
			} else {
				dst = fmt.Appendf(dst, `\u%04x`, c)
			}
		default:
			dst = utf8.AppendRune(dst, c)
		}
	}
	return append(dst, '"')
}

// item appends item as a JSON object of attribute values.
func (w Writer) item(dst []byte, item map[string]types.AttributeValue) []byte {
	keys := make([]string, 0, len(item))
	for k := range item {
		keys = append(keys, k)
	}
	if w.R != nil {
		w.R.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	} else {
		slices.Sort(keys)
	}
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = w.space(dst)
		dst = w.str(dst, k)
		dst = w.space(dst)
		dst = append(dst, ':')
		dst = w.space(dst)
		dst = w.value(dst, item[k])
	}
	dst = w.space(dst)
	return append(dst, '}')
}

// b64 appends b as a base64 JSON string.
func (w Writer) b64(dst []byte, b []byte) []byte {
	s := base64.StdEncoding.EncodeToString(b)
	return w.str(dst, s)
}

// value appends av as a JSON object holding its type descriptor.
func (w Writer) value(dst []byte, av types.AttributeValue) []byte {
	open := func(desc string) {
		dst = append(dst, '{')
		dst = w.space(dst)
		dst = w.str(dst, desc)
		dst = append(dst, ':')
		dst = w.space(dst)
	}
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		open("S")
		dst = w.str(dst, v.Value)
	case *types.AttributeValueMemberN:
		open("N")
		dst = w.str(dst, v.Value)
	case *types.AttributeValueMemberB:
		open("B")
		dst = w.b64(dst, v.Value)
	case *types.AttributeValueMemberBOOL:
		open("BOOL")
		dst = strconv.AppendBool(dst, v.Value)
	case *types.AttributeValueMemberNULL:
		open("NULL")
		dst = append(dst, "true"...)
	case *types.AttributeValueMemberL:
		open("L")
		dst = append(dst, '[')
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
				dst = w.space(dst)
			}
			dst = w.value(dst, e)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberM:
		open("M")
		dst = w.item(dst, v.Value)
	case *types.AttributeValueMemberSS:
		open("SS")
		dst = append(dst, '[')
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = w.str(dst, e)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberNS:
		open("NS")
		dst = append(dst, '[')
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = w.str(dst, e)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberBS:
		open("BS")
		dst = append(dst, '[')
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = w.b64(dst, e)
		}
		dst = append(dst, ']')
	default:
		panic(fmt.Sprintf("Writer: %T", av))
	}
	dst = w.space(dst)
	return append(dst, '}')
}

// Body writes a whole Query response holding items, with Count,
// ScannedCount, LastEvaluatedKey (when lek is not nil) and
// ConsumedCapacity (in a random order, with R).
func (w Writer) Body(items []map[string]types.AttributeValue, lek map[string]types.AttributeValue) []byte {
	var parts [][]byte
	arr := []byte{'['}
	for i, it := range items {
		if i > 0 {
			arr = append(arr, ',')
			arr = w.space(arr)
		}
		arr = w.item(arr, it)
	}
	arr = append(arr, ']')
	parts = append(parts, append([]byte(`"Items":`), arr...))
	parts = append(parts, fmt.Appendf(nil, `"Count":%d`, len(items)))
	parts = append(parts, fmt.Appendf(nil, `"ScannedCount" : %d`, len(items)+w.intN(5)))
	if lek != nil {
		parts = append(parts, w.item([]byte(`"LastEvaluatedKey":`), lek))
	}
	parts = append(parts, []byte(`"ConsumedCapacity":{"TableName":"t","CapacityUnits":12.5,"Table":{"CapacityUnits":12.5},"GlobalSecondaryIndexes":{"gsi1":{"ReadCapacityUnits":1e0}}}`))
	if w.chance(2) {
		parts = append(parts, []byte(`"FutureMember":[1,{"a":[true,false,null,"x\"]"]},-0.5e-3]`))
	}
	if w.R != nil {
		w.R.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	}
	out := []byte{'{'}
	for i, p := range parts {
		if i > 0 {
			out = append(out, ',')
		}
		out = w.space(out)
		out = append(out, p...)
	}
	out = w.space(out)
	return append(out, '}')
}

// Body is Writer{}.Body: a Query response body holding items, and
// LastEvaluatedKey lek unless it is nil.
func Body(items []map[string]types.AttributeValue, lek map[string]types.AttributeValue) []byte {
	return Writer{}.Body(items, lek)
}
