package attr_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

// decode parses JSON text as the Lambda's event is parsed: numbers as json.Number.
func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

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

// nest returns JSON for an array nested depth levels deep: [[...[1]...]].
func nest(depth int, open, inner, close string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

// nestAV returns depth lists nested around v.
func nestAV(depth int, v types.AttributeValue) types.AttributeValue {
	for range depth {
		v = &avL{Value: attrs{v}}
	}
	return v
}

func TestFromJSON(t *testing.T) {
	digits38 := "-1234567890.1234567890123456789012345678"
	tests := []struct {
		name string
		in   string
		want types.AttributeValue
	}{
		{"string", `"USER#42"`, &avS{Value: "USER#42"}},
		{"empty string", `""`, &avS{Value: ""}},
		{"unicode string", `"é😀\u2028"`, &avS{Value: "é😀\u2028"}},
		{"integer", `42`, &avN{Value: "42"}},
		{"digits kept exactly", `1.50`, &avN{Value: "1.50"}},
		{"38 digits", digits38, &avN{Value: digits38}},
		{"beyond float64 precision", `12345678901234567890123`, &avN{Value: "12345678901234567890123"}},
		{"exponent", `-1E-130`, &avN{Value: "-1E-130"}},
		{"true", `true`, &avBOOL{Value: true}},
		{"false", `false`, &avBOOL{Value: false}},
		{"null", `null`, &avNULL{Value: true}},
		{"array", `["a", 1, [true]]`, &avL{Value: attrs{&avS{Value: "a"}, &avN{Value: "1"}, &avL{Value: attrs{&avBOOL{Value: true}}}}}},
		{"empty array", `[]`, &avL{Value: attrs{}}},
		{"object", `{"a": "x", "b": {"c": null}}`, &avM{Value: item{"a": &avS{Value: "x"}, "b": &avM{Value: item{"c": &avNULL{Value: true}}}}}},
		{"empty object", `{}`, &avM{Value: item{}}},
		{"object with two descriptor keys is plain", `{"S": "x", "N": "1"}`, &avM{Value: item{"S": &avS{Value: "x"}, "N": &avS{Value: "1"}}}},
		{"lower-case descriptor is plain", `{"s": "x"}`, &avM{Value: item{"s": &avS{Value: "x"}}}},
		{"descriptor S", `{"S": "x"}`, &avS{Value: "x"}},
		{"descriptor N", `{"N": "1.50"}`, &avN{Value: "1.50"}},
		{"descriptor N leading point", `{"N": ".5"}`, &avN{Value: ".5"}},
		// A template {"N": "{{n}}"} yields a JSON number: naming N says it is one.
		{"descriptor N as a JSON number keeps its digits", `{"N": 12345678901234567890.50}`, &avN{Value: "12345678901234567890.50"}},
		{"descriptor N as a JSON number with exponent", `{"N": 1.5E+3}`, &avN{Value: "1.5E+3"}},
		{"descriptor NS with JSON numbers", `{"NS": [1, "2.5", 3.0]}`, &avNS{Value: []string{"1", "2.5", "3.0"}}},
		{"descriptor SS with a JSON number gets its text", `{"SS": ["a", 10.50]}`, &avSS{Value: []string{"a", "10.50"}}},
		{"descriptor S with a JSON number gets its text", `{"S": 7.10}`, &avS{Value: "7.10"}},
		{"descriptor B", `{"B": "AQID"}`, &avB{Value: []byte{1, 2, 3}}},
		{"descriptor B empty", `{"B": ""}`, &avB{Value: []byte{}}},
		{"descriptor SS", `{"SS": ["a", "b"]}`, &avSS{Value: []string{"a", "b"}}},
		{"descriptor NS", `{"NS": ["1", "2.5"]}`, &avNS{Value: []string{"1", "2.5"}}},
		{"descriptor BS", `{"BS": ["AQ==", "Ag=="]}`, &avBS{Value: [][]byte{{1}, {2}}}},
		{"descriptor BOOL", `{"BOOL": false}`, &avBOOL{Value: false}},
		{"descriptor NULL", `{"NULL": true}`, &avNULL{Value: true}},
		{"descriptor L", `{"L": [{"S": "a"}, {"N": "1"}]}`, &avL{Value: attrs{&avS{Value: "a"}, &avN{Value: "1"}}}},
		{"descriptor L empty", `{"L": []}`, &avL{Value: attrs{}}},
		{"descriptor M", `{"M": {"a": {"S": "x"}, "b": {"M": {}}}}`, &avM{Value: item{"a": &avS{Value: "x"}, "b": &avM{Value: item{}}}}},
		{"plain inside plain object", `{"a": {"N": "5"}}`, &avM{Value: item{"a": &avN{Value: "5"}}}},
		{"32 levels", nest(32, "[", "1", "]"), nestAV(32, &avN{Value: "1"})},
		{"32 levels of DynamoDB JSON", nest(32, `{"L":[`, `{"N":"1"}`, "]}"), nestAV(32, &avN{Value: "1"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attr.FromJSON(decode(t, tc.in))
			if err != nil {
				t.Fatalf("FromJSON(%s): %v", tc.in, err)
			}
			if diff := attrtest.ExactDiff(tc.want, got); diff != "" {
				t.Errorf("FromJSON(%s) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestFromJSONGoValues(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want types.AttributeValue
	}{
		{"int", 42, &avN{Value: "42"}},
		{"int64 min", int64(-1 << 63), &avN{Value: "-9223372036854775808"}},
		{"uint64 max", uint64(1<<64 - 1), &avN{Value: "18446744073709551615"}},
		{"uint8", uint8(7), &avN{Value: "7"}},
		{"json.Number", json.Number("1.0"), &avN{Value: "1.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := attr.FromJSON(tc.in)
			if err != nil {
				t.Fatalf("FromJSON(%v): %v", tc.in, err)
			}
			if diff := attrtest.ExactDiff(tc.want, got); diff != "" {
				t.Errorf("FromJSON(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestFromJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		in   any // JSON text when a string, else a Go value
		want attr.Error
	}{
		{"N as a boolean", `{"N": true}`, attr.Error{Path: ".N", Msg: "expected a string holding a number, got a boolean"}},
		{"N as a JSON number out of range", `{"N": 1e126}`, attr.Error{Path: ".N", Msg: `expected a magnitude below 1e126 (number overflow), got "1e126"`}},
		{"N not a number", `{"N": "five"}`, attr.Error{Path: ".N", Msg: `expected a decimal number such as 12, -0.5 or 1.5e3, got "five"`}},
		{"N leading plus", `{"N": "+5"}`, attr.Error{Path: ".N", Msg: `expected a decimal number such as 12, -0.5 or 1.5e3, got "+5"`}},
		{"N 39 digits", `{"N": "123456789012345678901234567890123456789"}`, attr.Error{Path: ".N", Msg: `expected at most 38 significant digits, got 39 in "123456789012345678901234567890123456789"`}},
		{"N overflow", `{"N": "1e126"}`, attr.Error{Path: ".N", Msg: `expected a magnitude below 1e126 (number overflow), got "1e126"`}},
		{"N underflow", `{"N": "1e-131"}`, attr.Error{Path: ".N", Msg: `expected a magnitude of at least 1e-130 (number underflow), got "1e-131"`}},
		{"plain number 39 digits", `123456789012345678901234567890123456789`, attr.Error{Msg: `expected at most 38 significant digits, got 39 in "123456789012345678901234567890123456789"`}},
		{"plain number overflow", `[1, 2, 1e200]`, attr.Error{Path: "[2]", Msg: `expected a magnitude below 1e126 (number overflow), got "1e200"`}},
		{"S not a string", `{"S": [1]}`, attr.Error{Path: ".S", Msg: "expected a string, got an array"}},
		{"B not base64", `{"B": "not base64!"}`, attr.Error{Path: ".B", Msg: `expected a string holding standard base64 (RFC 4648, with padding), got "not base64!": illegal base64 data at input byte 3`}},
		{"B unpadded", `{"B": "AQ"}`, attr.Error{Path: ".B", Msg: `expected a string holding standard base64 (RFC 4648, with padding), got "AQ": illegal base64 data at input byte 0`}},
		{"B URL alphabet", `{"B": "-_8="}`, attr.Error{Path: ".B", Msg: `expected a string holding standard base64 (RFC 4648, with padding), got "-_8=": illegal base64 data at input byte 0`}},
		{"B not a string", `{"B": [1]}`, attr.Error{Path: ".B", Msg: "expected a string holding standard base64, got an array"}},
		{"SS not an array", `{"SS": "x"}`, attr.Error{Path: ".SS", Msg: "expected a non-empty array of strings, got a string"}},
		{"SS empty", `{"SS": []}`, attr.Error{Path: ".SS", Msg: "expected a non-empty array of strings (DynamoDB has no empty sets), got an empty array"}},
		{"SS duplicate", `{"SS": ["a", "b", "a"]}`, attr.Error{Path: ".SS[2]", Msg: "expected distinct set members, got a duplicate of element 0"}},
		{"SS member not a string", `{"SS": ["a", null]}`, attr.Error{Path: ".SS[1]", Msg: "expected a string, got null"}},
		{"NS empty", `{"NS": []}`, attr.Error{Path: ".NS", Msg: "expected a non-empty array of strings holding numbers (DynamoDB has no empty sets), got an empty array"}},
		{"NS member a boolean", `{"NS": ["1", true]}`, attr.Error{Path: ".NS[1]", Msg: "expected a string holding a number, got a boolean"}},
		{"NS duplicate JSON number", `{"NS": ["2.0", 2]}`, attr.Error{Path: ".NS[1]", Msg: "expected distinct set members, got a duplicate of element 0"}},
		{"SS duplicate JSON number text", `{"SS": ["2", 2]}`, attr.Error{Path: ".SS[1]", Msg: "expected distinct set members, got a duplicate of element 0"}},
		{"NS duplicate by value", `{"NS": ["1.5", "1.50"]}`, attr.Error{Path: ".NS[1]", Msg: "expected distinct set members, got a duplicate of element 0"}},
		{"BS empty", `{"BS": []}`, attr.Error{Path: ".BS", Msg: "expected a non-empty array of strings holding standard base64 (DynamoDB has no empty sets), got an empty array"}},
		{"BS duplicate", `{"BS": ["AQ==", "AQ=="]}`, attr.Error{Path: ".BS[1]", Msg: "expected distinct set members, got a duplicate of element 0"}},
		{"BS member not base64", `{"BS": ["AQ==", "%"]}`, attr.Error{Path: ".BS[1]", Msg: `expected a string holding standard base64 (RFC 4648, with padding), got "%": illegal base64 data at input byte 0`}},
		{"BOOL not a boolean", `{"BOOL": "true"}`, attr.Error{Path: ".BOOL", Msg: "expected true or false, got a string"}},
		{"NULL false", `{"NULL": false}`, attr.Error{Path: ".NULL", Msg: "expected true (DynamoDB's NULL holds true), got false"}},
		{"NULL null", `{"NULL": null}`, attr.Error{Path: ".NULL", Msg: "expected true (DynamoDB's NULL holds true), got null"}},
		{"L not an array", `{"L": {}}`, attr.Error{Path: ".L", Msg: "expected an array of DynamoDB JSON values, got an object"}},
		{"L element plain", `{"L": [{"S": "a"}, "b"]}`, attr.Error{Path: ".L[1]", Msg: "expected a DynamoDB JSON value (an object with one key: S, N, B, SS, NS, BS, BOOL, NULL, L or M), got a string"}},
		{"M not an object", `{"M": []}`, attr.Error{Path: ".M", Msg: "expected an object whose values are DynamoDB JSON, got an array"}},
		{"M value plain object", `{"M": {"a": {"x": 1}}}`, attr.Error{Path: ".M.a", Msg: "expected a DynamoDB JSON value (an object with one key: S, N, B, SS, NS, BS, BOOL, NULL, L or M), got an object"}},
		{"M nested error", `{"M": {"x": {"N": true}}}`, attr.Error{Path: ".M.x.N", Msg: "expected a string holding a number, got a boolean"}},
		{"quoted key in path", `{"M": {"a b.c": {"N": true}}}`, attr.Error{Path: `.M["a b.c"].N`, Msg: "expected a string holding a number, got a boolean"}},
		{"empty key in path", `{"": {"N": true}}`, attr.Error{Path: `[""].N`, Msg: "expected a string holding a number, got a boolean"}},
		{"plain nested error", `{"tags": [1, {"N": false}]}`, attr.Error{Path: ".tags[1].N", Msg: "expected a string holding a number, got a boolean"}},
		{"33 levels", nest(33, "[", "1", "]"), attr.Error{Path: strings.Repeat("[0]", 32), Msg: "expected lists and maps nested at most 32 levels deep"}},
		{"33 levels of DynamoDB JSON", nest(33, `{"M":{"a":`, `{"N":"1"}`, "}}"), attr.Error{Path: strings.Repeat(".M.a", 32) + ".M", Msg: "expected lists and maps nested at most 32 levels deep"}},
		{"float64", float64(1.5), attr.Error{Msg: "expected a JSON value (string, number, boolean, null, array or object), got a float64 (decode with json.Decoder.UseNumber to keep every digit)"}},
		{"float64 in a list", []any{"a", 1e300}, attr.Error{Path: "[1]", Msg: "expected a JSON value (string, number, boolean, null, array or object), got a float64 (decode with json.Decoder.UseNumber to keep every digit)"}},
		{"Go struct", struct{}{}, attr.Error{Msg: "expected a JSON value (string, number, boolean, null, array or object), got a Go struct {}"}},
		{"invalid UTF-8 string", []any{"a\xffb"}, attr.Error{Path: "[0]", Msg: "expected valid UTF-8, got byte 0xff at offset 1 of the string"}},
		{"invalid UTF-8 in S", map[string]any{"S": "\xc0"}, attr.Error{Path: ".S", Msg: "expected valid UTF-8, got byte 0xc0 at offset 0 of the string"}},
		{"invalid UTF-8 in SS", map[string]any{"SS": []any{"ok", "\xed\xa0\x80"}}, attr.Error{Path: ".SS[1]", Msg: "expected valid UTF-8, got byte 0xed at offset 0 of the string"}},
		{"invalid UTF-8 in a key", map[string]any{"a": map[string]any{"k\xff": "v"}}, attr.Error{Path: `.a["k\xff"]`, Msg: "expected valid UTF-8, got byte 0xff at offset 1 of the string"}},
		{"invalid UTF-8 in an M key", map[string]any{"M": map[string]any{"\xff": map[string]any{"S": "v"}}}, attr.Error{Path: `.M["\xff"]`, Msg: "expected valid UTF-8, got byte 0xff at offset 0 of the string"}},
		{"invalid json.Number", json.Number("0x10"), attr.Error{Msg: `expected a decimal number such as 12, -0.5 or 1.5e3, got "0x10"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if s, ok := in.(string); ok {
				in = decode(t, s)
			}
			got, err := attr.FromJSON(in)
			if err == nil {
				t.Fatalf("FromJSON(%v) = %v, want an error", tc.in, got)
			}
			var ae *attr.Error
			if !errors.As(err, &ae) {
				t.Fatalf("FromJSON(%v) error %T %v, want *attr.Error", tc.in, err, err)
			}
			if diff := cmp.Diff(tc.want, *ae); diff != "" {
				t.Errorf("FromJSON(%v) error (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *attr.Error
		want string
	}{
		{&attr.Error{Path: ".N", Msg: "expected a string"}, ".N: expected a string"},
		{&attr.Error{Msg: "expected a string"}, "expected a string"},
		{(&attr.Error{Path: ".:pk.N", Msg: "m"}).In("query.expressionAttributeValues"), "query.expressionAttributeValues.:pk.N: m"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestKeyStep(t *testing.T) {
	tests := map[string]string{
		"pk":     ".pk",
		":pk":    ".:pk",
		"#n":     ".#n",
		"a-b_c@": ".a-b_c@",
		"":       `[""]`,
		"a.b":    `["a.b"]`,
		"a b":    `["a b"]`,
		"é":      `["é"]`,
		"a\"b":   `["a\"b"]`,
		"\xff":   `["\xff"]`,
	}
	for in, want := range tests {
		if got := attr.KeyStep(in); got != want {
			t.Errorf("KeyStep(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestItemFromJSON(t *testing.T) {
	got, err := attr.ItemFromJSON(decode(t, `{":pk": "USER#1", ":n": 1.50, ":b": {"B": "AQ=="}, ":l": [1, "x"]}`).(map[string]any))
	if err != nil {
		t.Fatal(err)
	}
	want := item{
		":pk": &avS{Value: "USER#1"},
		":n":  &avN{Value: "1.50"},
		":b":  &avB{Value: []byte{1}},
		":l":  &avL{Value: attrs{&avN{Value: "1"}, &avS{Value: "x"}}},
	}
	if diff := attrtest.ExactDiff(want, got); diff != "" {
		t.Errorf("ItemFromJSON (-want +got):\n%s", diff)
	}

	_, err = attr.ItemFromJSON(decode(t, `{":z": {"N": true}, ":a": {"N": false}}`).(map[string]any))
	want2 := &attr.Error{Path: ".:a.N", Msg: "expected a string holding a number, got a boolean"}
	if diff := cmp.Diff(want2, err); diff != "" {
		t.Errorf("ItemFromJSON error (-want +got):\n%s", diff)
	}
	if got := err.Error(); got != ".:a.N: expected a string holding a number, got a boolean" {
		t.Errorf("Error() = %q", got)
	}
}

func TestPlainValue(t *testing.T) {
	tests := []struct {
		name string
		in   types.AttributeValue
		want any
	}{
		{"S", &avS{Value: "x"}, "x"},
		{"N exact", &avN{Value: "1.50"}, json.Number("1.50")},
		{"N normalised", &avN{Value: "+.5"}, json.Number("0.5")},
		{"N invalid kept", &avN{Value: "NaN"}, json.Number("NaN")},
		{"B", &avB{Value: []byte{0xff, 0}}, "/wA="},
		{"B empty", &avB{}, ""},
		{"BOOL", &avBOOL{Value: true}, true},
		{"NULL", &avNULL{Value: true}, nil},
		{"L", &avL{Value: attrs{&avS{Value: "a"}, &avNULL{Value: true}}}, []any{"a", nil}},
		{"M", &avM{Value: item{"a": &avN{Value: "1"}}}, map[string]any{"a": json.Number("1")}},
		{"SS", &avSS{Value: []string{"b", "a"}}, []any{"b", "a"}},
		{"NS", &avNS{Value: []string{"2", "007"}}, []any{json.Number("2"), json.Number("7")}},
		{"BS", &avBS{Value: [][]byte{{1}, {}}}, []any{"AQ==", ""}},
		{"nil", nil, nil},
		{"nil member", (*avS)(nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, attr.PlainValue(tc.in)); diff != "" {
				t.Errorf("PlainValue (-want +got):\n%s", diff)
			}
		})
	}
}
