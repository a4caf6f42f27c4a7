// Package keyrange splits what is left of a Query's sort-key range into
// intervals that concurrent readers can query on their own, and joins their
// output back in the Query's order.
//
// An interval is closed, [Lo, Hi], and is read with the key condition
// "<partition key condition> AND <sort key> BETWEEN :lo AND :hi", which
// DynamoDB documents for every sort-key type. Neighbouring intervals meet at
// a split point v: the lower one ends at v, the upper one starts at
// Succ(v), the least sort-key value greater than v (v followed by a zero
// byte for strings and binary; v plus one unit in the 38th significant digit
// for numbers), so no value falls between them. Items whose sort keys are
// equal (an index's sort key repeats) are therefore never split: they are
// read by one interval's reader, in DynamoDB's order.
//
// Split points are interpolated in the key's own space: numbers as exact
// decimals, strings and binary values as base-256 fractions. The
// interpolation only chooses where readers start; any split point is
// correct, a poor one only makes one reader's work longer, which the
// export's rebalancing then splits again.
package keyrange

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
)

// Kind is a key attribute's type: "N", "S" or "B".
type Kind string

// The key types DynamoDB allows.
const (
	N Kind = "N"
	S Kind = "S"
	B Kind = "B"
)

// KindOf returns v's key type, or "" when v is not a key value.
func KindOf(v types.AttributeValue) Kind {
	switch v.(type) {
	case *types.AttributeValueMemberN:
		return N
	case *types.AttributeValueMemberS:
		return S
	case *types.AttributeValueMemberB:
		return B
	}
	return ""
}

// Key bounds: DynamoDB keeps 38 significant digits of a number, whose
// magnitude is 1E-130 or more and below 1E+126; a sort key value is at most
// 1024 bytes.
const (
	maxDigits   = 38
	minExp      = -130 // the smallest magnitude, 1E-130
	maxKeyBytes = 1024
)

// Compare orders two key values of the same kind as DynamoDB does: numbers
// by value, strings by their UTF-8 bytes, binary bytewise.
func Compare(a, b types.AttributeValue) (int, error) {
	switch a := a.(type) {
	case *types.AttributeValueMemberN:
		b, ok := b.(*types.AttributeValueMemberN)
		if !ok {
			break
		}
		x, err := attr.ParseDecimal(a.Value)
		if err != nil {
			return 0, err
		}
		y, err := attr.ParseDecimal(b.Value)
		if err != nil {
			return 0, err
		}
		return x.Cmp(y), nil
	case *types.AttributeValueMemberS:
		if b, ok := b.(*types.AttributeValueMemberS); ok {
			return strings.Compare(a.Value, b.Value), nil
		}
	case *types.AttributeValueMemberB:
		if b, ok := b.(*types.AttributeValueMemberB); ok {
			return bytes.Compare(a.Value, b.Value), nil
		}
	}
	return 0, fmt.Errorf("keyrange: cannot compare %T with %T", a, b)
}

// Succ returns the least key value greater than v: no value lies strictly
// between them. ok is false when there is none (a number at DynamoDB's
// largest magnitude).
func Succ(v types.AttributeValue) (types.AttributeValue, bool) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		if len(v.Value) >= maxKeyBytes {
			return nil, false
		}
		return &types.AttributeValueMemberS{Value: v.Value + "\x00"}, true
	case *types.AttributeValueMemberB:
		if len(v.Value) >= maxKeyBytes {
			return nil, false
		}
		return &types.AttributeValueMemberB{Value: append(bytes.Clone(v.Value), 0)}, true
	case *types.AttributeValueMemberN:
		d, err := attr.ParseDecimal(v.Value)
		if err != nil {
			return nil, false
		}
		s, ok := succDecimal(d)
		if !ok {
			return nil, false
		}
		return &types.AttributeValueMemberN{Value: s}, true
	}
	return nil, false
}

// dec is an exact decimal m × 10^e.
type dec struct {
	m *big.Int
	e int64
}

func toDec(d attr.Decimal) dec {
	m, _ := new(big.Int).SetString(d.Digits, 10)
	if m == nil { // zero
		return dec{m: new(big.Int), e: 0}
	}
	if d.Neg {
		m.Neg(m)
	}
	// d is 0.Digits × 10^Exp.
	return dec{m: m, e: d.Exp - int64(len(d.Digits))}
}

// scaled returns x's mantissa at exponent e (e ≤ x.e).
func (x dec) scaled(e int64) *big.Int {
	return new(big.Int).Mul(x.m, pow10(x.e-e))
}

func pow10(n int64) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil)
}

// String is x as plain decimal text (DynamoDB accepts it, and its
// significant digits are x's own).
func (x dec) String() string {
	if x.m.Sign() == 0 {
		return "0"
	}
	neg := x.m.Sign() < 0
	digits := new(big.Int).Abs(x.m).String()
	e := x.e
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	var s string
	switch {
	case e >= 0:
		s = digits + strings.Repeat("0", int(e))
	case -e < int64(len(digits)):
		s = digits[:int64(len(digits))+e] + "." + digits[int64(len(digits))+e:]
	default:
		s = "0." + strings.Repeat("0", int(-e-int64(len(digits)))) + digits
	}
	if neg {
		return "-" + s
	}
	return s
}

// succDecimal is the next number DynamoDB can hold after d: one unit more in
// the 38th significant digit of d's magnitude.
func succDecimal(d attr.Decimal) (string, bool) {
	if d.IsZero() {
		return dec{m: big.NewInt(1), e: minExp}.String(), true
	}
	x := toDec(d)
	top := d.Exp - 1 // 10^top ≤ |d| < 10^(top+1)
	unit := top - (maxDigits - 1)
	if d.Neg && strings.TrimRight(d.Digits, "0") == "1" {
		// |d| is a power of ten: just below it the digits are one place
		// finer.
		unit--
	}
	if d.Neg && top == minExp && strings.TrimRight(d.Digits, "0") == "1" {
		return "0", true // nothing lies between -1E-130 and 0
	}
	if top >= 125 && !d.Neg && d.Digits == strings.Repeat("9", maxDigits) {
		return "", false
	}
	e := min(x.e, unit)
	m := new(big.Int).Add(x.scaled(e), new(big.Int).Mul(big.NewInt(1), pow10(unit-e)))
	return dec{m: m, e: e}.String(), true
}

// errNoPoint: the interval holds no point strictly inside.
var errNoPoint = errors.New("keyrange: no split point")

// Point returns a key value v with lo ≤ v < hi, about num/den of the way
// from lo to hi in the key's own space. ok is false when there is no such
// value the interpolation can find.
func Point(lo, hi types.AttributeValue, num, den int64) (types.AttributeValue, bool) {
	if c, err := Compare(lo, hi); err != nil || c >= 0 || den <= 0 || num < 0 || num >= den {
		return nil, false
	}
	var v types.AttributeValue
	var err error
	switch lo := lo.(type) {
	case *types.AttributeValueMemberN:
		v, err = pointN(lo.Value, hi.(*types.AttributeValueMemberN).Value, num, den)
	case *types.AttributeValueMemberS:
		v = &types.AttributeValueMemberS{Value: pointString(lo.Value, hi.(*types.AttributeValueMemberS).Value, num, den)}
	case *types.AttributeValueMemberB:
		v = &types.AttributeValueMemberB{Value: pointBytes(lo.Value, hi.(*types.AttributeValueMemberB).Value, num, den)}
	}
	if err != nil || v == nil || size(v) > maxKeyBytes {
		return nil, false
	}
	if c, _ := Compare(v, lo); c < 0 {
		return nil, false
	}
	if c, _ := Compare(v, hi); c >= 0 {
		return nil, false
	}
	return v, true
}

func pointN(lo, hi string, num, den int64) (types.AttributeValue, error) {
	a, err := attr.ParseDecimal(lo)
	if err != nil {
		return nil, err
	}
	b, err := attr.ParseDecimal(hi)
	if err != nil {
		return nil, err
	}
	x, y := toDec(a), toDec(b)
	e := min(x.e, y.e) - 4 // a few digits finer than either end
	ma, mb := x.scaled(e), y.scaled(e)
	diff := new(big.Int).Sub(mb, ma)
	m := new(big.Int).Mul(diff, big.NewInt(num))
	m.Quo(m, big.NewInt(den))
	m.Add(m, ma)
	// Keep DynamoDB's 38 significant digits, rounding down (Point rejects
	// a result that falls below lo).
	if n := int64(len(new(big.Int).Abs(m).String())); n > maxDigits {
		q := pow10(n - maxDigits)
		floorDiv(m, q)
		m.Mul(m, q)
	}
	if m.Sign() != 0 && e+int64(len(new(big.Int).Abs(m).String()))-1 < minExp {
		return nil, errNoPoint // below DynamoDB's smallest magnitude
	}
	return &types.AttributeValueMemberN{Value: dec{m: m, e: e}.String()}, nil
}

// floorDiv sets m to ⌊m / q⌋.
func floorDiv(m, q *big.Int) {
	var r big.Int
	m.QuoRem(m, q, &r)
	if r.Sign() < 0 {
		m.Sub(m, big.NewInt(1))
	}
}

// fracBytes is how many bytes past the common prefix the interpolation of
// strings and binary values looks at.
const fracBytes = 8

// pointBytes interpolates between byte strings read as base-256 fractions
// after their common prefix.
func pointBytes(lo, hi []byte, num, den int64) []byte {
	p := 0
	for p < len(lo) && p < len(hi) && lo[p] == hi[p] {
		p++
	}
	a := fraction(lo[p:])
	b := fraction(hi[p:])
	m := new(big.Int).Sub(b, a)
	m.Mul(m, big.NewInt(num))
	m.Quo(m, big.NewInt(den))
	m.Add(m, a)
	out := make([]byte, fracBytes)
	m.FillBytes(out)
	return append(bytes.Clone(lo[:p]), out...)
}

// String keys are UTF-8, whose byte order is code point order. Past their
// common prefix, the ends are read as fractions over fracRunes code points
// in the alphabet their own code points span (digits for "2024-03" and
// "2024-11", so that the midpoint is near "2024-07"), and every point is
// made of code points from that alphabet: valid UTF-8.
const fracRunes = 8

func pointString(lo, hi string, num, den int64) string {
	p := 0
	for p < len(lo) && p < len(hi) && lo[p] == hi[p] {
		p++
	}
	for p > 0 && p < len(lo) && !utf8.RuneStart(lo[p]) {
		p--
	}
	a, b := []rune(lo[p:]), []rune(hi[p:])
	cmin, cmax := utf8.MaxRune, rune(0)
	for _, r := range append(a[:min(len(a), fracRunes):min(len(a), fracRunes)], b[:min(len(b), fracRunes)]...) {
		cmin, cmax = min(cmin, r), max(cmax, r)
	}
	if cmax < cmin {
		return lo
	}
	// Digit 0 is "no more characters"; a code point c is c-cmin+1.
	base := big.NewInt(int64(cmax-cmin) + 2)
	fa, fb := alphabetFraction(a, cmin, base), alphabetFraction(b, cmin, base)
	m := new(big.Int).Sub(fb, fa)
	m.Mul(m, big.NewInt(num))
	m.Quo(m, big.NewInt(den))
	m.Add(m, fa)
	digits := make([]int64, fracRunes)
	var d big.Int
	for i := fracRunes - 1; i >= 0; i-- {
		m.QuoRem(m, base, &d)
		digits[i] = d.Int64()
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	var out strings.Builder
	out.WriteString(lo[:p])
	for _, d := range digits {
		r := cmin + rune(max(d-1, 0))
		if 0xD800 <= r && r <= 0xDFFF { // surrogates are not characters
			r = 0xE000
		}
		out.WriteRune(r)
	}
	return out.String()
}

func alphabetFraction(rs []rune, cmin rune, base *big.Int) *big.Int {
	m := new(big.Int)
	for i := range fracRunes {
		m.Mul(m, base)
		if i < len(rs) {
			m.Add(m, big.NewInt(int64(rs[i]-cmin)+1))
		}
	}
	return m
}

// fraction reads the first fracBytes bytes of b, zero-padded, as an
// integer.
func fraction(b []byte) *big.Int {
	var buf [fracBytes]byte
	copy(buf[:], b)
	return new(big.Int).SetBytes(buf[:])
}

// Width estimates how far apart lo and hi are, as a fraction of the way
// from a to b (a ≤ lo ≤ hi ≤ b): the export compares the work left in
// its readers' intervals with it. It is an estimate, used to choose, never
// a value written anywhere.
func Width(a, b, lo, hi types.AttributeValue) float64 {
	fa, fb := coord(a, a, b), coord(b, a, b)
	if fb <= fa {
		return 0
	}
	return (coord(hi, a, b) - coord(lo, a, b)) / (fb - fa)
}

// coord places v on a line where a and b are far apart.
func coord(v, a, b types.AttributeValue) float64 {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		r, ok := new(big.Rat).SetString(v.Value)
		if !ok {
			return 0
		}
		f, _ := r.Float64()
		return f
	case *types.AttributeValueMemberS:
		return coordBytes([]byte(v.Value), keyBytes(a), keyBytes(b))
	case *types.AttributeValueMemberB:
		return coordBytes(v.Value, keyBytes(a), keyBytes(b))
	}
	return 0
}

func keyBytes(v types.AttributeValue) []byte {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return []byte(v.Value)
	case *types.AttributeValueMemberB:
		return v.Value
	}
	return nil
}

func coordBytes(v, a, b []byte) float64 {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	if len(v) < p {
		return 0
	}
	f, _ := new(big.Float).SetInt(fraction(v[p:])).Float64()
	return f
}

// size is a string or binary key value's length in bytes (0 for a number).
func size(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	}
	return 0
}
