package attr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DynamoDB's limits on numbers, from the Developer Guide ("Data types", "Number").
const (
	// MaxNumberDigits is the most significant digits a DynamoDB number may have.
	MaxNumberDigits = 38
	// MaxNumberExponent is the largest decimal exponent (in scientific notation,
	// d.ddd × 10^e) of a DynamoDB number: magnitudes must be below 1e126.
	MaxNumberExponent = 125
	// MinNumberExponent is the smallest decimal exponent of a non-zero DynamoDB
	// number: magnitudes must be at least 1e-130.
	MinNumberExponent = -130
)

// exponentClamp bounds the exponents this package computes with, far outside
// DynamoDB's range, so that absurd inputs ("1e99999999999999999999") neither
// overflow nor pass.
const exponentClamp = 1 << 40

// number is a decimal number split into its parts, as written, without
// interpretation. The digits are ASCII decimal digits.
type number struct {
	neg     bool   // a leading '-'
	plus    bool   // a leading '+'
	intPart string // digits before the point, possibly empty or with leading zeros
	point   bool   // a '.' was written
	frac    string // digits after the point, possibly empty
	expText string // what follows 'e' or 'E' (sign and digits), empty when absent
	expChar byte   // 'e' or 'E', 0 when absent
	exp     int64  // the exponent's value, clamped to ±exponentClamp
}

var errNotNumber = errors.New("expected a decimal number such as 12, -0.5 or 1.5e3")

// scanNumber splits s according to the lenient grammar that DynamoDB (like
// Java's BigDecimal) accepts: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
func scanNumber(s string) (number, error) {
	var n number
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		n.neg = s[i] == '-'
		n.plus = s[i] == '+'
		i++
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	n.intPart = s[i:j]
	i = j
	if i < len(s) && s[i] == '.' {
		n.point = true
		i++
		j = i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		n.frac = s[i:j]
		i = j
	}
	if n.intPart == "" && n.frac == "" {
		return n, errNotNumber
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		n.expChar = s[i]
		i++
		n.expText = s[i:]
		k := i
		neg := false
		if k < len(s) && (s[k] == '-' || s[k] == '+') {
			neg = s[k] == '-'
			k++
		}
		if k == len(s) {
			return n, errNotNumber
		}
		var e int64
		for ; k < len(s); k++ {
			if !isDigit(s[k]) {
				return n, errNotNumber
			}
			if e < exponentClamp {
				e = e*10 + int64(s[k]-'0')
			}
		}
		e = min(e, exponentClamp)
		if neg {
			e = -e
		}
		n.exp = e
		i = len(s)
	}
	if i != len(s) {
		return n, errNotNumber
	}
	return n, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isJSONNumber reports whether s matches the JSON number grammar of RFC 8259:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i == len(s):
		return false
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i == len(s)
}

// AppendJSONNumber appends the DynamoDB number s to dst as a JSON number and
// returns the extended buffer. A string that already is a JSON number is
// appended byte for byte, so "1.50" stays "1.50" and "1E+5" stays "1E+5". The
// forms DynamoDB's grammar allows and JSON's does not are rewritten without
// changing the value or the digits that carry it: a leading '+' is dropped
// ("+5" → "5"), a lone point gets its digits or goes (".5" → "0.5", "5." → "5",
// "5.e3" → "5e3"), and leading zeros go ("007" → "7", "-00.5" → "-0.5").
// Anything else (empty, "NaN", "Infinity", "0x1F", spaces) is an error and dst
// is returned unchanged. AppendJSONNumber checks the grammar only, not
// DynamoDB's digit and range limits (see CheckNumber). It does not allocate.
func AppendJSONNumber(dst []byte, s string) ([]byte, error) {
	if isJSONNumber(s) {
		return append(dst, s...), nil
	}
	n, err := scanNumber(s)
	if err != nil {
		return dst, err
	}
	if n.neg {
		dst = append(dst, '-')
	}
	ip := n.intPart
	for len(ip) > 1 && ip[0] == '0' {
		ip = ip[1:]
	}
	if ip == "" {
		ip = "0"
	}
	dst = append(dst, ip...)
	if n.frac != "" {
		dst = append(dst, '.')
		dst = append(dst, n.frac...)
	}
	if n.expChar != 0 {
		dst = append(dst, n.expChar)
		dst = append(dst, n.expText...)
	}
	return dst, nil
}

// IsNumber reports whether s is a number in DynamoDB's grammar (see
// AppendJSONNumber), without checking DynamoDB's digit and range limits.
func IsNumber(s string) bool {
	if isJSONNumber(s) {
		return true
	}
	_, err := scanNumber(s)
	return err == nil
}

// significant returns the significant digits of n (no leading or trailing
// zeros) and the exponent e of its scientific form d.ddd × 10^e. For zero it
// returns "" and 0.
func (n number) significant() (digits string, sciExp int64) {
	all := n.intPart + n.frac
	first := -1
	last := -1
	for i := 0; i < len(all); i++ {
		if all[i] != '0' {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return "", 0
	}
	sciExp = int64(len(n.intPart)-first-1) + n.exp
	return all[first : last+1], sciExp
}

// CheckNumber returns nil when DynamoDB accepts s as a number, and otherwise an
// error saying what was expected. The grammar is the one DynamoDB Local and
// dynalite accept: -? (digits [. digits?] | . digits) ([eE] [+-]? digits)?, so
// "1.50", ".5", "5." and "007" pass and "+5", " 5", "NaN" and "0x10" do not. A
// number may have at most MaxNumberDigits significant digits (leading and
// trailing zeros do not count) and, unless it is zero, a magnitude from 1e-130
// up to but excluding 1e126.
func CheckNumber(s string) error {
	n, err := scanNumber(s)
	if err != nil || n.plus {
		return fmt.Errorf("%w, got %q", errNotNumber, abbreviate(s))
	}
	digits, e := n.significant()
	if digits == "" {
		return nil
	}
	switch {
	case len(digits) > MaxNumberDigits:
		return fmt.Errorf("expected at most %d significant digits, got %d in %q", MaxNumberDigits, len(digits), abbreviate(s))
	case e > MaxNumberExponent:
		return fmt.Errorf("expected a magnitude below 1e126 (number overflow), got %q", abbreviate(s))
	case e < MinNumberExponent:
		return fmt.Errorf("expected a magnitude of at least 1e-130 (number underflow), got %q", abbreviate(s))
	}
	return nil
}

// CanonicalNumber returns a canonical spelling of the DynamoDB number s: two
// numbers have the same canonical spelling exactly when they are equal
// ("1.50", "1.5" and "15e-1" all give "1.5e0"; zero gives "0"). The result is
// for comparing, not for storing. It returns an error when s is not a number
// in the grammar of AppendJSONNumber.
func CanonicalNumber(s string) (string, error) {
	n, err := scanNumber(s)
	if err != nil {
		return "", err
	}
	digits, e := n.significant()
	if digits == "" {
		return "0", nil
	}
	b := make([]byte, 0, len(digits)+8)
	if n.neg {
		b = append(b, '-')
	}
	b = append(b, digits[0])
	if len(digits) > 1 {
		b = append(b, '.')
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	b = strconv.AppendInt(b, e, 10)
	return string(b), nil
}

// Decimal is an exact decimal number: -1 if Neg, times 0.Digits, times
// 10^Exp. Digits holds the significant digits, without leading or trailing
// zeros, and is empty for zero (then Neg is false and Exp 0). So 1.50 is
// {Digits: "15", Exp: 1} and -0.007 is {Neg: true, Digits: "7", Exp: -2}.
// It exists so that numbers compare exactly, never through float64.
type Decimal struct {
	Neg    bool
	Digits string
	Exp    int64 // clamped to ±2^40, far beyond any number DynamoDB or JSON tools use
}

// ParseDecimal parses s in DynamoDB's lenient grammar (see
// AppendJSONNumber: a leading '+', leading zeros and a lone point are
// accepted), without checking DynamoDB's digit and range limits.
func ParseDecimal(s string) (Decimal, error) {
	n, err := scanNumber(s)
	if err != nil {
		return Decimal{}, err
	}
	digits, sciExp := n.significant()
	if digits == "" {
		return Decimal{}, nil
	}
	return Decimal{Neg: n.neg, Digits: digits, Exp: max(-exponentClamp, min(exponentClamp, sciExp+1))}, nil
}

// IsZero reports whether d is zero (of either sign as written).
func (d Decimal) IsZero() bool { return d.Digits == "" }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.IsZero():
		return 0
	case d.Neg:
		return -1
	}
	return 1
}

// Cmp returns -1, 0 or +1 as d is less than, equal to or greater than o.
func (d Decimal) Cmp(o Decimal) int {
	if d.Sign() != o.Sign() {
		if d.Sign() < o.Sign() {
			return -1
		}
		return 1
	}
	if d.IsZero() {
		return 0
	}
	m := 0 // compare magnitudes
	switch {
	case d.Exp < o.Exp:
		m = -1
	case d.Exp > o.Exp:
		m = 1
	default:
		m = strings.Compare(d.Digits, o.Digits) // no trailing zeros: string order is numeric
	}
	return d.Sign() * m
}
