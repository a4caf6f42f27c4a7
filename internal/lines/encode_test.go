package lines_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
)

type (
	avS    = types.AttributeValueMemberS
	avN    = types.AttributeValueMemberN
	avB    = types.AttributeValueMemberB
	avBOOL = types.AttributeValueMemberBOOL
	avNULL = types.AttributeValueMemberNULL
	avL    = types.AttributeValueMemberL
	avM    = types.AttributeValueMemberM
	avSS   = types.AttributeValueMemberSS
	avNS   = types.AttributeValueMemberNS
	avBS   = types.AttributeValueMemberBS
)

type attrs = []types.AttributeValue
type item = map[string]types.AttributeValue

// nestL returns depth lists nested around v.
func nestL(depth int, v types.AttributeValue) types.AttributeValue {
	for range depth {
		v = &avL{Value: attrs{v}}
	}
	return v
}

// nestM returns depth maps, each with the one key "a", nested around v.
func nestM(depth int, v types.AttributeValue) types.AttributeValue {
	for range depth {
		v = &avM{Value: item{"a": v}}
	}
	return v
}

func TestAppendItem(t *testing.T) {
	digits38 := "-1234567890.1234567890123456789012345678"
	tests := []struct {
		name    string
		item    item
		plain   string
		dynamo  string
		comment string
	}{
		{name: "empty item", item: item{}, plain: `{}`, dynamo: `{}`},
		{name: "nil item", item: nil, plain: `{}`, dynamo: `{}`},
		{
			name:   "S",
			item:   item{"s": &avS{Value: "hello"}},
			plain:  `{"s":"hello"}`,
			dynamo: `{"s":{"S":"hello"}}`,
		},
		{
			name:   "empty S",
			item:   item{"s": &avS{}},
			plain:  `{"s":""}`,
			dynamo: `{"s":{"S":""}}`,
		},
		{
			name:   "N kept exactly",
			item:   item{"a": &avN{Value: "1.50"}, "b": &avN{Value: "-0"}, "c": &avN{Value: "1E+125"}},
			plain:  `{"a":1.50,"b":-0,"c":1E+125}`,
			dynamo: `{"a":{"N":"1.50"},"b":{"N":"-0"},"c":{"N":"1E+125"}}`,
		},
		{
			name:   "N 38 digits",
			item:   item{"n": &avN{Value: digits38}},
			plain:  `{"n":` + digits38 + `}`,
			dynamo: `{"n":{"N":"` + digits38 + `"}}`,
		},
		{
			name:   "N 126-digit integer as dynalite returns 1e125",
			item:   item{"n": &avN{Value: "1" + strings.Repeat("0", 125)}},
			plain:  `{"n":1` + strings.Repeat("0", 125) + `}`,
			dynamo: `{"n":{"N":"1` + strings.Repeat("0", 125) + `"}}`,
		},
		{
			name:    "N forms JSON does not allow",
			item:    item{"a": &avN{Value: "+5"}, "b": &avN{Value: ".5"}, "c": &avN{Value: "5."}, "d": &avN{Value: "007"}, "e": &avN{Value: "-00.50e3"}},
			plain:   `{"a":5,"b":0.5,"c":5,"d":7,"e":-0.50e3}`,
			dynamo:  `{"a":{"N":"+5"},"b":{"N":".5"},"c":{"N":"5."},"d":{"N":"007"},"e":{"N":"-00.50e3"}}`,
			comment: "plain rewrites them to JSON with the same value and digits; dynamodb keeps DynamoDB's string",
		},
		{
			name:   "B",
			item:   item{"b": &avB{Value: []byte{0, 1, 0xfe, 0xff}}, "e": &avB{}},
			plain:  `{"b":"AAH+/w==","e":""}`,
			dynamo: `{"b":{"B":"AAH+/w=="},"e":{"B":""}}`,
		},
		{
			name:   "BOOL and NULL",
			item:   item{"t": &avBOOL{Value: true}, "f": &avBOOL{}, "n": &avNULL{Value: true}, "z": &avNULL{}},
			plain:  `{"f":false,"n":null,"t":true,"z":null}`,
			dynamo: `{"f":{"BOOL":false},"n":{"NULL":true},"t":{"BOOL":true},"z":{"NULL":true}}`,
		},
		{
			name:   "L and M",
			item:   item{"l": &avL{Value: attrs{&avS{Value: "x"}, &avN{Value: "1"}, &avL{}, &avM{}}}, "m": &avM{Value: item{"k": &avBOOL{Value: true}}}},
			plain:  `{"l":["x",1,[],{}],"m":{"k":true}}`,
			dynamo: `{"l":{"L":[{"S":"x"},{"N":"1"},{"L":[]},{"M":{}}]},"m":{"M":{"k":{"BOOL":true}}}}`,
		},
		{
			name:   "sets in the order given",
			item:   item{"ss": &avSS{Value: []string{"b", "a"}}, "ns": &avNS{Value: []string{"10", "-.5", "2"}}, "bs": &avBS{Value: [][]byte{{2}, {1}, {}}}},
			plain:  `{"bs":["Ag==","AQ==",""],"ns":[10,-0.5,2],"ss":["b","a"]}`,
			dynamo: `{"bs":{"BS":["Ag==","AQ==",""]},"ns":{"NS":["10","-.5","2"]},"ss":{"SS":["b","a"]}}`,
		},
		{
			name:   "keys sorted by code point at every level",
			item:   item{"b": &avN{Value: "2"}, "a": &avM{Value: item{"é": &avN{Value: "3"}, "z": &avN{Value: "4"}, "Z": &avN{Value: "5"}, "😀": &avN{Value: "6"}, "中": &avN{Value: "7"}, "": &avN{Value: "8"}}}, "B": &avN{Value: "1"}, "aa": &avN{Value: "9"}},
			plain:  `{"B":1,"a":{"":8,"Z":5,"z":4,"é":3,"中":7,"😀":6},"aa":9,"b":2}`,
			dynamo: `{"B":{"N":"1"},"a":{"M":{"":{"N":"8"},"Z":{"N":"5"},"z":{"N":"4"},"é":{"N":"3"},"中":{"N":"7"},"😀":{"N":"6"}}},"aa":{"N":"9"},"b":{"N":"2"}}`,
		},
		{
			name:    "code point order, not UTF-16 order",
			item:    item{"\U0001F600": &avN{Value: "1"}, "\uFF61": &avN{Value: "2"}},
			plain:   `{"｡":2,"😀":1}`,
			dynamo:  `{"｡":{"N":"2"},"😀":{"N":"1"}}`,
			comment: "U+FF61 sorts before U+1F600 by code point and UTF-8 bytes, after it in UTF-16",
		},
		{
			name:   "escaping",
			item:   item{"s": &avS{Value: "q\" b\\ n\n r\r t\t b\b f\f nul\x00 us\x1f del\x7f </>&"}},
			plain:  `{"s":"q\" b\\ n\n r\r t\t b\b f\f nul\u0000 us\u001f del` + "\x7f" + ` </>&"}`,
			dynamo: `{"s":{"S":"q\" b\\ n\n r\r t\t b\b f\f nul\u0000 us\u001f del` + "\x7f" + ` </>&"}}`,
		},
		{
			name:   "line and paragraph separators escaped",
			item:   item{"s": &avS{Value: "a\u2028b\u2029c"}},
			plain:  `{"s":"a\u2028b\u2029c"}`,
			dynamo: `{"s":{"S":"a\u2028b\u2029c"}}`,
		},
		{
			name:   "keys escaped",
			item:   item{"a\"b\n": &avS{Value: "x"}},
			plain:  `{"a\"b\n":"x"}`,
			dynamo: `{"a\"b\n":{"S":"x"}}`,
		},
		{
			name:   "unicode as it is: astral, combining, BOM, replacement character",
			item:   item{"s": &avS{Value: "😀 𝄞 e\u0301 \uFEFF \uFFFD \U0010FFFF 中文"}},
			plain:  "{\"s\":\"😀 𝄞 e\u0301 \uFEFF \uFFFD \U0010FFFF 中文\"}",
			dynamo: "{\"s\":{\"S\":\"😀 𝄞 e\u0301 \uFEFF \uFFFD \U0010FFFF 中文\"}}",
		},
		{
			name:   "32 levels of lists",
			item:   item{"d": nestL(32, &avN{Value: "1"})},
			plain:  `{"d":` + strings.Repeat("[", 32) + "1" + strings.Repeat("]", 32) + `}`,
			dynamo: `{"d":` + strings.Repeat(`{"L":[`, 32) + `{"N":"1"}` + strings.Repeat("]}", 32) + `}`,
		},
		{
			name:   "32 levels of maps",
			item:   item{"d": nestM(32, &avNULL{Value: true})},
			plain:  `{"d":` + strings.Repeat(`{"a":`, 32) + "null" + strings.Repeat("}", 32) + `}`,
			dynamo: `{"d":` + strings.Repeat(`{"M":{"a":`, 32) + `{"NULL":true}` + strings.Repeat("}}", 32) + `}`,
		},
	}
	for _, tc := range tests {
		for _, f := range []config.Format{config.Plain, config.DynamoDB} {
			t.Run(tc.name+"/"+f.String(), func(t *testing.T) {
				want := tc.plain
				if f == config.DynamoDB {
					want = tc.dynamo
				}
				got, err := lines.NewEncoder(f).AppendItem([]byte("prefix\n"), tc.item)
				if err != nil {
					t.Fatalf("AppendItem: %v", err)
				}
				if diff := cmp.Diff("prefix\n"+want, string(got)); diff != "" {
					t.Errorf("AppendItem (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestAppendItemErrors(t *testing.T) {
	tests := []struct {
		name   string
		item   item
		plain  string // the error message for format plain
		dynamo string // for format dynamodb, when it differs from plain
	}{
		{
			name:  "nil value",
			item:  item{"a": nil},
			plain: "attribute a: expected an attribute value, got nil (<nil>)",
		},
		{
			name:  "nil member",
			item:  item{"a": &avL{Value: attrs{&avS{}, (*avS)(nil)}}},
			plain: "attribute a[1]: expected an attribute value, got nil (*types.AttributeValueMemberS)",
		},
		{
			name:  "unknown member",
			item:  item{"a": &avM{Value: item{"b c": &types.UnknownUnionMember{Tag: "X"}}}},
			plain: `attribute a["b c"]: expected a known attribute value type, got the unknown DynamoDB type "X"`,
		},
		{
			name:  "not a number",
			item:  item{"n": &avN{Value: "NaN"}},
			plain: `attribute n: expected a number such as 12, -0.5 or 1.5e3, got N "NaN"`,
		},
		{
			name:  "empty number",
			item:  item{"n": &avN{}},
			plain: `attribute n: expected a number such as 12, -0.5 or 1.5e3, got N ""`,
		},
		{
			name:  "number with JSON in it",
			item:  item{"n": &avN{Value: `1,"x":2`}},
			plain: `attribute n: expected a number such as 12, -0.5 or 1.5e3, got N "1,\"x\":2"`,
		},
		{
			name:  "not a number in a set",
			item:  item{"ns": &avNS{Value: []string{"1", "0x2"}}},
			plain: `attribute ns[1]: expected a number such as 12, -0.5 or 1.5e3, got N "0x2"`,
		},
		{
			name:  "long bad number abbreviated",
			item:  item{"n": &avN{Value: strings.Repeat("9", 70) + "x"}},
			plain: `attribute n: expected a number such as 12, -0.5 or 1.5e3, got N "` + strings.Repeat("9", 64) + `..."`,
		},
		{
			name:  "invalid UTF-8 in S",
			item:  item{"s": &avS{Value: "ok\xffno"}},
			plain: "attribute s: expected valid UTF-8, got byte 0xff at offset 2 of the string",
		},
		{
			name:  "truncated UTF-8 in S",
			item:  item{"s": &avS{Value: "é\xe2\x82"}},
			plain: "attribute s: expected valid UTF-8, got byte 0xe2 at offset 2 of the string",
		},
		{
			name:  "invalid UTF-8 in SS",
			item:  item{"ss": &avSS{Value: []string{"a", "\xc0\x80"}}},
			plain: "attribute ss[1]: expected valid UTF-8, got byte 0xc0 at offset 0 of the string",
		},
		{
			name:  "invalid UTF-8 in a key",
			item:  item{"m": &avM{Value: item{"k\xff": &avS{}}}},
			plain: `attribute m["k\xff"]: expected valid UTF-8, got byte 0xff at offset 1 of the string`,
		},
		{
			name:  "surrogate encoded in UTF-8",
			item:  item{"s": &avS{Value: "\xed\xa0\x80"}},
			plain: "attribute s: expected valid UTF-8, got byte 0xed at offset 0 of the string",
		},
		{
			name:  "33 levels of lists",
			item:  item{"d": nestL(33, &avN{Value: "1"})},
			plain: "attribute d" + strings.Repeat("[0]", 32) + ": expected lists and maps nested at most 32 levels deep",
		},
		{
			name:  "33 levels of maps",
			item:  item{"d": nestM(33, &avN{Value: "1"})},
			plain: "attribute d" + strings.Repeat(".a", 32) + ": expected lists and maps nested at most 32 levels deep",
		},
		{
			name:  "100000 levels, no stack blowup",
			item:  item{"d": nestL(100000, &avN{Value: "1"})},
			plain: "attribute d" + strings.Repeat("[0]", 32) + ": expected lists and maps nested at most 32 levels deep",
		},
	}
	for _, tc := range tests {
		for _, f := range []config.Format{config.Plain, config.DynamoDB} {
			t.Run(tc.name+"/"+f.String(), func(t *testing.T) {
				want := tc.plain
				if f == config.DynamoDB && tc.dynamo != "" {
					want = tc.dynamo
				}
				dst := []byte("prefix\n")
				got, err := lines.NewEncoder(f).AppendItem(dst, tc.item)
				if err == nil {
					t.Fatalf("AppendItem = %q, want error %q", got, want)
				}
				var je *lines.Error
				if !errors.As(err, &je) {
					t.Errorf("error is %T, want *lines.Error", err)
				}
				if diff := cmp.Diff(want, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if string(got) != "prefix\n" {
					t.Errorf("AppendItem returned %q on error, want dst unchanged", got)
				}
			})
		}
	}
}

// TestEncoderReuse checks that an encoder gives the same bytes when reused,
// after an error too, and that its scratch space does not leak between items.
func TestEncoderReuse(t *testing.T) {
	e := lines.NewEncoder(config.Plain)
	a := item{"z": &avM{Value: item{"y": &avS{Value: "1"}, "x": &avS{Value: "2"}}}, "a": &avN{Value: "1"}}
	b := item{"m": &avM{Value: item{"k": &avBOOL{}}}}
	bad := item{"a": &avM{Value: item{"b": &avM{Value: item{"c": &avN{Value: "x"}}}, "a": &avS{}}}}
	var buf []byte
	for i := range 3 {
		var err error
		buf, err = e.AppendItem(buf[:0], a)
		if err != nil || string(buf) != `{"a":1,"z":{"x":"2","y":"1"}}` {
			t.Fatalf("round %d: a = %s, %v", i, buf, err)
		}
		if _, err := e.AppendItem(buf[:0], bad); err == nil {
			t.Fatalf("round %d: bad item encoded", i)
		}
		buf, err = e.AppendItem(buf[:0], b)
		if err != nil || string(buf) != `{"m":{"k":false}}` {
			t.Fatalf("round %d: b = %s, %v", i, buf, err)
		}
	}
}

func TestAppendDynamoJSON(t *testing.T) {
	got, err := lines.AppendDynamoJSON([]byte(`"lastEvaluatedKey":`), item{"sk": &avN{Value: "10"}, "pk": &avS{Value: "USER#1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `"lastEvaluatedKey":{"pk":{"S":"USER#1"},"sk":{"N":"10"}}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("AppendDynamoJSON (-want +got):\n%s", diff)
	}
}
