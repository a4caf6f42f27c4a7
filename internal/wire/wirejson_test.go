package wire_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// wireWriter writes attribute values as DynamoDB's wire JSON, making random
// choices where JSON allows several spellings: member order, white space and
// string escapes (\uXXXX, surrogate pairs, \/).
type wireWriter struct {
	r *rand.Rand
}

func (w wireWriter) space(dst []byte) []byte {
	if w.r.IntN(8) == 0 {
		return append(dst, " \n\t\r"[w.r.IntN(4)])
	}
	return dst
}

// str appends s as a JSON string with random escaping.
func (w wireWriter) str(dst []byte, s string) []byte {
	mode := w.r.IntN(4) // 0, 1: minimal escaping; 2: some escapes; 3: heavy
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			if mode >= 2 && w.r.IntN(2) == 0 {
				dst = fmt.Appendf(dst, `\u%04x`, c)
			} else {
				dst = append(dst, '\\', byte(c))
			}
		case c < 0x20:
			switch {
			case c == '\n' && w.r.IntN(2) == 0:
				dst = append(dst, `\n`...)
			case c == '\t' && w.r.IntN(2) == 0:
				dst = append(dst, `\t`...)
			case c == '\r' && w.r.IntN(2) == 0:
				dst = append(dst, `\r`...)
			case c == '\b' && w.r.IntN(2) == 0:
				dst = append(dst, `\b`...)
			case c == '\f' && w.r.IntN(2) == 0:
				dst = append(dst, `\f`...)
			default:
				dst = fmt.Appendf(dst, `\u%04X`, c)
			}
		case c == '/' && mode >= 2 && w.r.IntN(2) == 0:
			dst = append(dst, `\/`...)
		case mode == 3 && w.r.IntN(3) == 0 || mode == 2 && c >= 0x80 && w.r.IntN(3) == 0:
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

func (w wireWriter) item(dst []byte, item map[string]types.AttributeValue) []byte {
	keys := make([]string, 0, len(item))
	for k := range item {
		keys = append(keys, k)
	}
	w.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
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

func (w wireWriter) b64(dst []byte, b []byte) []byte {
	s := base64.StdEncoding.EncodeToString(b)
	return w.str(dst, s)
}

func (w wireWriter) value(dst []byte, av types.AttributeValue) []byte {
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
		panic(fmt.Sprintf("wireWriter: %T", av))
	}
	dst = w.space(dst)
	return append(dst, '}')
}

// body writes a whole Query response holding items, with Count,
// ScannedCount, LastEvaluatedKey (when lek is not nil) and ConsumedCapacity
// in a random order, and returns it with the raw Items array.
func (w wireWriter) body(items []map[string]types.AttributeValue, lek map[string]types.AttributeValue) []byte {
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
	parts = append(parts, fmt.Appendf(nil, `"ScannedCount" : %d`, len(items)+w.r.IntN(5)))
	if lek != nil {
		parts = append(parts, w.item([]byte(`"LastEvaluatedKey":`), lek))
	}
	parts = append(parts, []byte(`"ConsumedCapacity":{"TableName":"t","CapacityUnits":12.5,"Table":{"CapacityUnits":12.5},"GlobalSecondaryIndexes":{"gsi1":{"ReadCapacityUnits":1e0}}}`))
	if w.r.IntN(2) == 0 {
		parts = append(parts, []byte(`"FutureMember":[1,{"a":[true,false,null,"x\"]"]},-0.5e-3]`))
	}
	w.r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
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

// sdkDecode decodes body as the SDK decodes a Query response, through a real
// client whose HTTP client answers with body.
func sdkDecode(t testing.TB, body []byte) (*dynamodb.QueryOutput, error) {
	t.Helper()
	c := dynamodb.New(dynamodb.Options{
		Region:      "us-east-1",
		Credentials: aws.AnonymousCredentials{},
		HTTPClient: doerFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{
				StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
				Body:          io.NopCloser(strings.NewReader(string(body))),
				ContentLength: int64(len(body)),
				Request:       r,
			}, nil
		}),
		RetryMaxAttempts: 1,
	})
	return c.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String("t")})
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
