package attr

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendJSONNumber(t *testing.T) {
	digits38 := "12345678901234567890123456789012345678"
	tests := []struct {
		name string
		in   string
		want string // "" means an error
	}{
		{"zero", "0", "0"},
		{"negative zero kept", "-0", "-0"},
		{"integer", "42", "42"},
		{"negative", "-42", "-42"},
		{"trailing zeros kept", "1.50", "1.50"},
		{"exponent kept as written", "1E+5", "1E+5"},
		{"negative exponent", "-1.5e-130", "-1.5e-130"},
		{"exponent leading zeros are JSON", "1e007", "1e007"},
		{"38 digits", digits38, digits38},
		{"38 digits fraction", "-0." + digits38, "-0." + digits38},
		{"long integer from dynalite", "1" + strings.Repeat("0", 125), "1" + strings.Repeat("0", 125)},
		{"leading plus dropped", "+5", "5"},
		{"leading plus with fraction", "+0.25", "0.25"},
		{"leading point", ".5", "0.5"},
		{"negative leading point", "-.5", "-0.5"},
		{"trailing point", "5.", "5"},
		{"trailing point before exponent", "5.e3", "5e3"},
		{"leading zeros", "007", "7"},
		{"negative leading zeros", "-00.5", "-0.5"},
		{"all zeros", "000", "0"},
		{"leading zeros and exponent", "0012E-2", "12E-2"},
		{"empty", "", ""},
		{"sign only", "-", ""},
		{"point only", ".", ""},
		{"double sign", "--1", ""},
		{"NaN", "NaN", ""},
		{"Infinity", "Infinity", ""},
		{"hex", "0x1F", ""},
		{"space", " 5", ""},
		{"trailing space", "5 ", ""},
		{"underscore", "1_000", ""},
		{"exponent without digits", "1e", ""},
		{"exponent sign without digits", "1e+", ""},
		{"two points", "1.2.3", ""},
		{"comma", "1,5", ""},
		{"quote", `5"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendJSONNumber([]byte("x"), tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("AppendJSONNumber(%q) = %q, want an error", tc.in, got)
				}
				if string(got) != "x" {
					t.Errorf("AppendJSONNumber(%q) changed dst to %q on error", tc.in, got)
				}
				if IsNumber(tc.in) {
					t.Errorf("IsNumber(%q) = true, want false", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("AppendJSONNumber(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff("x"+tc.want, string(got)); diff != "" {
				t.Errorf("AppendJSONNumber(%q) (-want +got):\n%s", tc.in, diff)
			}
			if !isJSONNumber(tc.want) {
				t.Errorf("want %q is not a JSON number", tc.want)
			}
			if !IsNumber(tc.in) {
				t.Errorf("IsNumber(%q) = false, want true", tc.in)
			}
		})
	}
}

func TestAppendJSONNumberDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendJSONNumber(buf[:0], "+007.50e3")
		buf, _ = AppendJSONNumber(buf[:0], "-12.5")
	})
	if allocs != 0 {
		t.Errorf("AppendJSONNumber allocates %v times per run, want 0", allocs)
	}
}

func TestCheckNumber(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the error message with %q for the input, "" when valid
	}{
		{"zero", "0", ""},
		{"zero with exponent out of range", "0e999", ""},
		{"38 digits", "12345678901234567890123456789012345678", ""},
		{"38 digits with leading and trailing zeros", "000.123456789012345678901234567890123456780000", ""},
		{"integer with trailing zeros", "1" + strings.Repeat("0", 60), ""},
		{"largest", "9.9999999999999999999999999999999999999E+125", ""},
		{"smallest", "1E-130", ""},
		{"negative smallest", "-1e-130", ""},
		{"leading point", ".5", ""},
		{"trailing point", "5.", ""},
		{"leading zeros", "007", ""},
		{"exponent plus", "1e+5", ""},
		{"39 digits", "123456789012345678901234567890123456789",
			"expected at most 38 significant digits, got 39 in %q"},
		{"39 digits fraction", "0.100000000000000000000000000000000000001",
			"expected at most 38 significant digits, got 39 in %q"},
		{"overflow", "1E+126", "expected a magnitude below 1e126 (number overflow), got %q"},
		{"overflow long", "1" + strings.Repeat("0", 126), "expected a magnitude below 1e126 (number overflow), got %q"},
		{"overflow huge exponent", "1e99999999999999999999999", "expected a magnitude below 1e126 (number overflow), got %q"},
		{"underflow", "9.9E-131", "expected a magnitude of at least 1e-130 (number underflow), got %q"},
		{"underflow huge exponent", "-1e-99999999999999999999999", "expected a magnitude of at least 1e-130 (number underflow), got %q"},
		{"leading plus", "+5", "expected a decimal number such as 12, -0.5 or 1.5e3, got %q"},
		{"empty", "", "expected a decimal number such as 12, -0.5 or 1.5e3, got %q"},
		{"NaN", "NaN", "expected a decimal number such as 12, -0.5 or 1.5e3, got %q"},
		{"Infinity", "-Infinity", "expected a decimal number such as 12, -0.5 or 1.5e3, got %q"},
		{"space", "1 ", "expected a decimal number such as 12, -0.5 or 1.5e3, got %q"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := CheckNumber(tc.in); err != nil {
				got = err.Error()
			}
			want := tc.want
			if want != "" {
				want = fmt.Sprintf(want, abbreviate(tc.in))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CheckNumber(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestCanonicalNumber(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"0", "-0", "0.000", "0e99", "-.0"}, "0"},
		{[]string{"1.5", "1.50", "15e-1", "0.15E1", "+1.5", "001.5000"}, "1.5e0"},
		{[]string{"-100", "-1e2", "-1E+2", "-100.0", "-.1e3"}, "-1e2"},
		{[]string{"123.456", "123456e-3"}, "1.23456e2"},
		{[]string{"0.000001", "1e-6"}, "1e-6"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			for _, in := range tc.in {
				got, err := CanonicalNumber(in)
				if err != nil {
					t.Fatalf("CanonicalNumber(%q): %v", in, err)
				}
				if got != tc.want {
					t.Errorf("CanonicalNumber(%q) = %q, want %q", in, got, tc.want)
				}
			}
		})
	}
	if _, err := CanonicalNumber("abc"); err == nil {
		t.Error(`CanonicalNumber("abc") succeeded, want an error`)
	}
}

func TestIsJSONNumber(t *testing.T) {
	valid := []string{"0", "-0", "1", "10", "0.5", "-0.5e10", "1E+2", "1e-2", "123.456E789"}
	invalid := []string{"", "-", "01", "+1", ".5", "5.", "1e", "1e+", "0x1", "1.e2", "- 1", "00", "1.5.5"}
	for _, s := range valid {
		if !isJSONNumber(s) {
			t.Errorf("isJSONNumber(%q) = false, want true", s)
		}
	}
	for _, s := range invalid {
		if isJSONNumber(s) {
			t.Errorf("isJSONNumber(%q) = true, want false", s)
		}
	}
}

// FuzzNumber checks the number functions against each other and against
// encoding/json on arbitrary strings: AppendJSONNumber's output is always a
// valid JSON number with the same value, and what CheckNumber accepts the
// other functions accept too.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.50", "+5", ".5", "5.", "007", "1e+5", "1E-130", "9.9999999999999999999999999999999999999E+125", "1e126", "NaN", "", "-", "0x1F", " 1", "1e99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := AppendJSONNumber(nil, s)
		if (err == nil) != IsNumber(s) {
			t.Fatalf("AppendJSONNumber(%q) error %v, but IsNumber = %v", s, err, IsNumber(s))
		}
		if isJSONNumber(s) && !json.Valid([]byte(s)) {
			t.Fatalf("isJSONNumber(%q) but json.Valid is false", s)
		}
		if json.Valid([]byte(s)) && s != "" && strings.IndexByte("-0123456789", s[0]) >= 0 && strings.TrimSpace(s) == s && !isJSONNumber(s) {
			t.Fatalf("json.Valid(%q) but isJSONNumber is false", s)
		}
		if err != nil {
			if CheckNumber(s) == nil {
				t.Fatalf("CheckNumber(%q) accepts what AppendJSONNumber rejects", s)
			}
			return
		}
		if !isJSONNumber(string(out)) || !json.Valid(out) {
			t.Fatalf("AppendJSONNumber(%q) = %q, not a JSON number", s, out)
		}
		c1, err1 := CanonicalNumber(s)
		c2, err2 := CanonicalNumber(string(out))
		if err1 != nil || err2 != nil || c1 != c2 {
			t.Fatalf("AppendJSONNumber(%q) = %q changed the value: %q (%v) vs %q (%v)", s, out, c1, err1, c2, err2)
		}
		if (CheckNumber(s) == nil) != (CheckNumber(string(out)) == nil) && s[0] != '+' {
			t.Fatalf("CheckNumber disagrees on %q and its JSON form %q", s, out)
		}
	})
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in      string
		want    Decimal
		wantErr bool
	}{
		{in: "0", want: Decimal{}},
		{in: "-0.000", want: Decimal{}},
		{in: "1.50", want: Decimal{Digits: "15", Exp: 1}},
		{in: "-0.007", want: Decimal{Neg: true, Digits: "7", Exp: -2}},
		{in: "+1200", want: Decimal{Digits: "12", Exp: 4}},
		{in: "1.5E+3", want: Decimal{Digits: "15", Exp: 4}},
		{in: ".5", want: Decimal{Digits: "5", Exp: 0}},
		{in: "12345678901234567890123456789012345678", want: Decimal{Digits: "12345678901234567890123456789012345678", Exp: 38}},
		{in: "1e99999999999999999999", want: Decimal{Digits: "1", Exp: 1 << 40}},
		{in: "", wantErr: true}, {in: "NaN", wantErr: true}, {in: "1e", wantErr: true}, {in: " 1", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseDecimal(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseDecimal(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseDecimal(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestDecimalCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1.0", 0}, {"0", "-0", 0}, {"1e3", "1000", 0}, {"-2", "-1", -1}, {"-1", "1", -1},
		{"0.1", "0.09", 1}, {"0.123", "0.12", 1}, {"100", "99.999", 1}, {"-5", "0", -1}, {"0", "0.0001", -1},
		{"12345678901234567890", "12345678901234567891", -1}, {"-0.5", "-0.25", -1},
	}
	for _, tc := range tests {
		a, _ := ParseDecimal(tc.a)
		b, _ := ParseDecimal(tc.b)
		if got := a.Cmp(b); got != tc.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.Cmp(a); got != -tc.want {
			t.Errorf("Cmp(%s, %s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}
