package lines_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
)

// richPageBytes is the size the rich page grows to, like ddbwire's bench pages.
const richPageBytes = 1 << 20

// Pools the rich items draw their strings from: text that needs no escaping
// but is not ASCII (CJK, emoji, accented Latin, Cyrillic, Arabic), and text
// that does (quotes, backslashes, control characters, <>&, which the encoder
// keeps as they are, and U+2028, which it escapes).
var (
	richText = []string{
		"東京都渋谷区神南一丁目の倉庫から発送されました。",
		"Zoë Müller a commandé une crème brûlée à Málaga, façon Ångström.",
		"Доставка ожидается в течение трёх рабочих дней.",
		"تم شحن الطلب إلى العنوان المسجل",
		"🎉🚀 order shipped 📦✨ thanks! 👍🏽 — see you soon ☕",
		"서울특별시 강남구 테헤란로 152, 강남파이낸스센터",
		"Plain ASCII description of an order line, nothing special in it at all.",
	}
	richEscaped = []string{
		"He said \"ship it\" and left; path C:\\orders\\2024\\05\\17.",
		"line one\nline two\n\tindented\r\nend",
		"<b>bold</b> & <i>italic</i> \"quoted\" \u2028 next\u2029para",
		"ctl \x01\x02\x1f bell\a back\b form\f done",
		"{\"embedded\":\"json\",\"n\":[1,2,3],\"s\":\"a\\\\b\"}",
	}
	richNumbers = []string{
		"12345678901234567890123456789012345678",
		"-98765432109876543210987654321",
		"1.2345678901234567890123456789E+100",
		"-3.14159265358979323846264338327950288e-50",
		"99999999999999999999.000000000000000001",
		"-0.00000000000000000000012345678901234567",
		"6.02214076e23",
		"100000000000000000000",
	}
)

// richItem returns an item of about 2.5 KB of wire JSON with nested maps and
// lists three and four levels deep, non-ASCII and escaped strings, numbers
// of 20 to 38 digits, all three kinds of set and binaries.
func richItem(r *rand.Rand, n int) map[string]types.AttributeValue {
	pick := func(pool []string) string { return pool[r.IntN(len(pool))] }
	num := func() *avN { return &avN{Value: pick(richNumbers)} }
	bin := func(size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	text := func(parts int) string {
		var sb strings.Builder
		for i := range parts {
			if i > 0 {
				sb.WriteByte(' ')
			}
			if r.IntN(3) == 0 {
				sb.WriteString(pick(richEscaped))
			} else {
				sb.WriteString(pick(richText))
			}
		}
		return sb.String()
	}
	line := func(i int) *avM {
		return &avM{Value: item{
			"sku":   &avS{Value: fmt.Sprintf("SKU-%05d", r.IntN(100000))},
			"name":  &avS{Value: pick(richText)},
			"qty":   &avN{Value: fmt.Sprint(1 + r.IntN(9))},
			"price": num(),
			"attrs": &avM{Value: item{
				"colour": &avS{Value: pick(richText)},
				"notes":  &avL{Value: attrs{&avS{Value: pick(richEscaped)}, num(), &avBOOL{Value: i%2 == 0}}},
				"dims":   &avM{Value: item{"w": num(), "h": num(), "unit": &avS{Value: "mm"}}},
			}},
		}}
	}
	return item{
		"pk":          &avS{Value: fmt.Sprintf("TENANT#%04d", n%7)},
		"sk":          &avS{Value: fmt.Sprintf("ORDER#2024-05-17T10:32:11.512Z#%06d", n)},
		"title":       &avS{Value: pick(richText)},
		"description": &avS{Value: text(3)},
		"balance":     num(),
		"exposure":    num(),
		"active":      &avBOOL{Value: n%3 != 0},
		"deleted":     &avNULL{Value: true},
		"customer": &avM{Value: item{
			"name":  &avS{Value: pick(richText)},
			"email": &avS{Value: "zoë.müller+orders@exämple.com"},
			"address": &avM{Value: item{
				"lines": &avL{Value: attrs{&avS{Value: pick(richText)}, &avS{Value: pick(richEscaped)}}},
				"geo": &avM{Value: item{
					"lat": num(), "lon": num(),
					"tags": &avSS{Value: []string{"近い", "café", "🚚", "a\"b"}},
				}},
			}},
		}},
		"lines": &avL{Value: attrs{line(0), line(1)}},
		"tags":  &avSS{Value: []string{"priority", "fragile", "日本語", "émoji 🎁", "back\\slash"}},
		"scores": &avNS{Value: []string{
			richNumbers[0], richNumbers[1], richNumbers[2], richNumbers[3],
		}},
		"thumb":  &avB{Value: bin(64 + r.IntN(64))},
		"hashes": &avBS{Value: [][]byte{bin(32), bin(32), bin(20)}},
	}
}

// richPage returns a ~1 MB Query response body of rich items, spelt as
// DynamoDB spells it: members in no particular order (shuffled), no white
// space, only the escapes JSON requires.
func richPage() []byte {
	r := rand.New(rand.NewPCG(7, 2500))
	body := []byte(`{"Items":[`)
	n := 0
	for len(body) < richPageBytes {
		if n > 0 {
			body = append(body, ',')
		}
		body = richMap(body, r, richItem(r, n))
		n++
	}
	body = fmt.Appendf(body, `],"Count":%d,"ScannedCount":%d,"LastEvaluatedKey":`, n, n)
	body = richMap(body, r, item{"pk": &avS{Value: "TENANT#0001"}, "sk": &avS{Value: "ORDER#x"}})
	return append(body, '}')
}

// richMap appends m as wire JSON with its members in random order.
func richMap(dst []byte, r *rand.Rand, m map[string]types.AttributeValue) []byte {
	keys := slices.Sorted(maps.Keys(m))
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = richString(dst, k)
		dst = append(dst, ':')
		dst = richValue(dst, r, m[k])
	}
	return append(dst, '}')
}

// richValue appends av as wire JSON.
func richValue(dst []byte, r *rand.Rand, av types.AttributeValue) []byte {
	list := func(desc string, n int, el func(i int)) {
		dst = append(dst, `{"`+desc+`":[`...)
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			el(i)
		}
		dst = append(dst, "]}"...)
	}
	switch v := av.(type) {
	case *avS:
		dst = richString(append(dst, `{"S":`...), v.Value)
	case *avN:
		dst = richString(append(dst, `{"N":`...), v.Value)
	case *avB:
		dst = richString(append(dst, `{"B":`...), base64.StdEncoding.EncodeToString(v.Value))
	case *avBOOL:
		dst = strconv.AppendBool(append(dst, `{"BOOL":`...), v.Value)
	case *avNULL:
		dst = append(dst, `{"NULL":true`...)
	case *avM:
		dst = richMap(append(dst, `{"M":`...), r, v.Value)
	case *avL:
		list("L", len(v.Value), func(i int) { dst = richValue(dst, r, v.Value[i]) })
		return dst
	case *avSS:
		list("SS", len(v.Value), func(i int) { dst = richString(dst, v.Value[i]) })
		return dst
	case *avNS:
		list("NS", len(v.Value), func(i int) { dst = richString(dst, v.Value[i]) })
		return dst
	case *avBS:
		list("BS", len(v.Value), func(i int) { dst = richString(dst, base64.StdEncoding.EncodeToString(v.Value[i])) })
		return dst
	default:
		panic(fmt.Sprintf("richValue: %T", av))
	}
	return append(dst, '}')
}

// richString appends s as a JSON string with only the escapes JSON requires
// (short ones where there are), everything else as it is.
func richString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\b':
			dst = append(dst, `\b`...)
		case c == '\f':
			dst = append(dst, `\f`...)
		case c < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, c)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// benchPages returns ddbwire's bench pages and the rich page.
func benchPages() map[string][]byte {
	pages := ddbwire.BenchPages()
	pages["rich"] = richPage()
	return pages
}

// TestRichPage checks the rich benchmark page: the transcoder writes exactly
// the Encoder's lines for the items as the SDK decodes the page.
func TestRichPage(t *testing.T) {
	body := richPage()
	resp, err := query.Scan(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sdkDecode(t, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < richPageBytes || resp.Count < 300 || resp.Count > 500 {
		t.Errorf("rich page: %d bytes, %d items; want ~1 MB of ~2.5 KB items", len(body), resp.Count)
	}
	for _, f := range formats {
		want, err := encodeLines(t, f, out.Items)
		if err != nil {
			t.Fatalf("%v: encoder: %v", f, err)
		}
		var p lines.Page
		if err := lines.NewTranscoder(f).Items(&p, resp.Items); err != nil {
			t.Fatalf("%v: Items: %v", f, err)
		}
		if !bytes.Equal(p.Lines, want) {
			t.Fatalf("%v: lines differ:\n%s", f, lineDiff(want, p.Lines))
		}
	}
}
