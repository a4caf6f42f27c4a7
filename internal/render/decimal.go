package render

import (
	"encoding/json"
	"strconv"
	"strings"
)

// decimal is an exact decimal number: (-1)^neg × 0.digits × 10^exp, with digits holding no
// leading or trailing zeros (empty for zero). It exists so numbers compare exactly, never
// through float64.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExponent bounds exponents so that absurd inputs such as 1e999999999999 neither overflow
// nor cost anything: numbers beyond it compare as if they were at it.
const maxExponent = 1 << 30

// parseDecimal parses a JSON number (leading "+" and leading zeros tolerated). ok is false when
// s is not a number.
func parseDecimal(s string) (d decimal, ok bool) {
	if s == "" {
		return d, false
	}
	if s[0] == '-' || s[0] == '+' {
		d.neg = s[0] == '-'
		s = s[1:]
	}
	mant, expPart, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expPart)
		if err != nil && !isIntegerOverflow(err) {
			return d, false
		}
		exp = clamp(e)
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return d, false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp += len(intPart) - (len(intPart+frac) - len(digits))
	d.digits = strings.TrimRight(digits, "0")
	d.exp = clamp(exp)
	if d.digits == "" {
		d.neg, d.exp = false, 0
	}
	return d, true
}

// isIntegerOverflow reports whether err is strconv's range error.
func isIntegerOverflow(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// clamp limits an exponent to ±maxExponent.
func clamp(e int) int {
	return max(-maxExponent, min(maxExponent, e))
}

// allDigits reports whether s holds only ASCII digits (true for "").
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isZero reports whether d is zero (of either sign).
func (d decimal) isZero() bool { return d.digits == "" }

// compare returns -1, 0 or +1 as d is less than, equal to or greater than o.
func (d decimal) compare(o decimal) int {
	switch {
	case d.isZero() && o.isZero():
		return 0
	case d.isZero():
		return o.sign() * -1
	case o.isZero():
		return d.sign()
	case d.neg != o.neg:
		return d.sign()
	}
	return d.sign() * compareMagnitudes(d, o)
}

// sign returns -1, 0 or +1.
func (d decimal) sign() int {
	switch {
	case d.isZero():
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// compareMagnitudes compares |d| and |o|, both non-zero.
func compareMagnitudes(d, o decimal) int {
	if d.exp != o.exp {
		if d.exp < o.exp {
			return -1
		}
		return 1
	}
	return strings.Compare(d.digits, o.digits) // no trailing zeros: plain string order is numeric
}

// compareNumbers compares two numbers exactly; a malformed number compares as zero.
func compareNumbers(a, b json.Number) int {
	da, _ := parseDecimal(string(a))
	db, _ := parseDecimal(string(b))
	return da.compare(db)
}
