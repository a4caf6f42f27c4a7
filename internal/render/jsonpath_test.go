package render

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseJSONPath(t *testing.T) {
	tests := []struct {
		path    string
		want    []jpStep
		wantErr string
	}{
		{"$", nil, ""},
		{"$.a.b", []jpStep{{kind: jpName, name: "a"}, {kind: jpName, name: "b"}}, ""},
		{"$.a[0][-1]", []jpStep{{kind: jpName, name: "a"}, {kind: jpIndex, index: 0}, {kind: jpIndex, index: -1}}, ""},
		{"$['a b'][\"c.d\"]", []jpStep{{kind: jpName, name: "a b"}, {kind: jpName, name: "c.d"}}, ""},
		{"$['it\\'s']", []jpStep{{kind: jpName, name: "it's"}}, ""},
		{"$[ 'x' ]", []jpStep{{kind: jpName, name: "x"}}, ""},
		{"$.*[*]", []jpStep{{kind: jpWildcard, name: "*"}, {kind: jpWildcard}}, ""},
		{"$..name", []jpStep{{kind: jpName, name: "name", recursive: true}}, ""},
		{"$..[0]", []jpStep{{kind: jpIndex, index: 0, recursive: true}}, ""},
		{"$.:pk", []jpStep{{kind: jpName, name: ":pk"}}, ""},
		{"$.", nil, "missing name at offset 2"},
		{"$a", nil, "unexpected 'a' at offset 1"},
		{"$.a[", nil, "unclosed [ at offset 3"},
		{"$.a[x]", nil, "bad index [x] at offset 3"},
		{"$.a['x]", nil, "unterminated string at offset 3"},
		{"$.a['x' y]", nil, "expected ] at offset 8"},
		{"$.a b", nil, "unexpected ' ' at offset 3"},
		{"$.a]", nil, "unexpected ']' at offset 3"},
		{"$[99999999999]", nil, "bad index [99999999999] at offset 1"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := parseJSONPath(tc.path)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("parseJSONPath(%q) error = %v, want %q", tc.path, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJSONPath(%q): %v", tc.path, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(jpStep{})); diff != "" {
				t.Errorf("parseJSONPath(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestIsJSONPath(t *testing.T) {
	for s, want := range map[string]bool{
		"$": true, "$.a": true, "$[0]": true, "$..a": true,
		"": false, "$a": false, "a.$": false, " $.a": false, "$$": false, "US$": false,
	} {
		if got := isJSONPath(s); got != want {
			t.Errorf("isJSONPath(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCompareNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0},
		{"1", "1.0", 0},
		{"1.50", "1.5", 0},
		{"1e3", "1000", 0},
		{"1E+3", "1000.000", 0},
		{"0", "-0", 0},
		{"0.0", "0e10", 0},
		{"12345678901234567890", "12345678901234567891", -1},
		{"12345678901234567891", "12345678901234567890", 1},
		{"-1", "1", -1},
		{"-2", "-1", -1},
		{"0.1", "0.09", 1},
		{"0.123", "0.12", 1},
		{"100", "99.999", 1},
		{"1e-7", "0.0000001", 0},
		{"1e999999999999", "1e999999999998", 1},   // exact below attr.ParseDecimal's clamp (2^40)
		{"1e9999999999999", "1e9999999999998", 0}, // beyond it both saturate
		{"-5", "0", -1},
		{"0", "0.0001", -1},
	}
	for _, tc := range tests {
		if got := compareNumbers(json.Number(tc.a), json.Number(tc.b)); got != tc.want {
			t.Errorf("compareNumbers(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestTruthy(t *testing.T) {
	tests := []struct {
		v           any
		truthy, emp bool
	}{
		{nil, false, true},
		{missing{}, false, true},
		{false, false, true},
		{true, true, false},
		{"", false, true},
		{"0", true, false},
		{json.Number("0"), false, false},
		{json.Number("-0.0"), false, false},
		{json.Number("0.001"), true, false},
		{[]any{}, true, true},
		{[]any{nil}, true, false},
		{map[string]any{}, true, false},
	}
	for _, tc := range tests {
		if got := truthy(tc.v); got != tc.truthy {
			t.Errorf("truthy(%#v) = %v, want %v", tc.v, got, tc.truthy)
		}
		if got := isEmpty(tc.v); got != tc.emp {
			t.Errorf("isEmpty(%#v) = %v, want %v", tc.v, got, tc.emp)
		}
	}
}

func TestJSONText(t *testing.T) {
	v := map[string]any{
		"s":   "a\"b\\c\n\t\x01</script>\u2028é😀",
		"n":   json.Number("12345678901234567890.50"),
		"arr": []any{nil, missing{}, true, map[string]any{}},
		"b":   map[string]any{"z": 1, "a": 2.5},
	}
	want := `{"arr":[null,null,true,{}],"b":{"a":2.5,"z":1},"n":12345678901234567890.50,"s":"a\"b\\c\n\t\u0001</script>` + "\u2028é😀" + `"}`
	if diff := cmp.Diff(want, jsonText(v)); diff != "" {
		t.Errorf("jsonText (-want +got):\n%s", diff)
	}
}
