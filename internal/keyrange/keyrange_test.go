package keyrange

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func n(s string) types.AttributeValue { return &types.AttributeValueMemberN{Value: s} }
func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func b(v ...byte) types.AttributeValue {
	return &types.AttributeValueMemberB{Value: v}
}

func text(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("S:%q", v.Value)
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("B:%x", v.Value)
	}
	return "?"
}

func TestSucc(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0." + strings.Repeat("0", 129) + "1"},
		{"1", "1." + strings.Repeat("0", 36) + "1"},
		{"-1", "-0." + strings.Repeat("9", 38)},
		{"10", "10." + strings.Repeat("0", 35) + "1"},
		{"-10", "-9." + strings.Repeat("9", 37)},
		{"12345678901234567890123456789012345678", "12345678901234567890123456789012345679"},
		{"-12345678901234567890123456789012345678", "-12345678901234567890123456789012345677"},
		{"1E+100", "1" + strings.Repeat("0", 36) + "1" + strings.Repeat("0", 63)},
		{"2.5", "2.5" + strings.Repeat("0", 35) + "1"},
		{"1E-100", "0." + strings.Repeat("0", 99) + "1" + strings.Repeat("0", 36) + "1"},
		{"-1E-130", "0"},
	} {
		got, ok := Succ(n(tc.in))
		if !ok || got.(*types.AttributeValueMemberN).Value != tc.want {
			t.Errorf("Succ(%s) = %v, want %s", tc.in, text(got), tc.want)
		}
		if c, err := Compare(got, n(tc.in)); err != nil || c <= 0 {
			t.Errorf("Succ(%s) = %s is not greater (%d, %v)", tc.in, text(got), c, err)
		}
	}
	if got, _ := Succ(s("ab")); got.(*types.AttributeValueMemberS).Value != "ab\x00" {
		t.Errorf("Succ(S ab) = %s", text(got))
	}
	if got, _ := Succ(b(1, 2)); !bytes.Equal(got.(*types.AttributeValueMemberB).Value, []byte{1, 2, 0}) {
		t.Errorf("Succ(B 0102) = %s", text(got))
	}
}

// TestSuccHasNothingBetween: no 38-digit number lies strictly between a
// number and its successor.
func TestSuccHasNothingBetween(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		digits := fmt.Sprint(r.Uint64())
		x := digits + "E" + fmt.Sprint(r.IntN(200)-100)
		if r.IntN(2) == 0 {
			x = "-" + x
		}
		next, ok := Succ(n(x))
		if !ok {
			t.Fatalf("no successor for %s", x)
		}
		// The successor has at most 38 significant digits, and one unit
		// less in its last digit is not greater than x.
		v := next.(*types.AttributeValueMemberN).Value
		sig := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(v), "0")
		if len(sig) > maxDigits {
			t.Fatalf("Succ(%s) = %s has %d significant digits", x, v, len(sig))
		}
		if c, _ := Compare(next, n(x)); c <= 0 {
			t.Fatalf("Succ(%s) = %s is not greater", x, v)
		}
	}
}

func TestPoint(t *testing.T) {
	for _, tc := range []struct {
		lo, hi types.AttributeValue
	}{
		{n("0"), n("100")},
		{n("-5.5"), n("1E+30")},
		{n("1"), n("1.00000000000000000000000000000000000001")},
		{n("-99999999999999999999999999999999999999"), n("99999999999999999999999999999999999999")},
		{s("a"), s("b")},
		{s("2024-01-01T00:00:00Z"), s("2024-12-31T23:59:59Z")},
		{s("ключ-1"), s("ключ-9")},
		{s("abc"), s("abc\x00\x01")},
		{b(0), b(255, 255)},
		{b(1, 2, 3), b(1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)},
	} {
		for k := int64(1); k < 8; k++ {
			v, ok := Point(tc.lo, tc.hi, k, 8)
			if !ok {
				continue
			}
			if c, _ := Compare(v, tc.lo); c < 0 {
				t.Errorf("Point(%s, %s, %d/8) = %s is below lo", text(tc.lo), text(tc.hi), k, text(v))
			}
			if sv, ok := v.(*types.AttributeValueMemberS); ok && !utf8.ValidString(sv.Value) {
				t.Errorf("Point(%s, %s, %d/8) = %s is not UTF-8", text(tc.lo), text(tc.hi), k, text(v))
			}
			if c, _ := Compare(v, tc.hi); c >= 0 {
				t.Errorf("Point(%s, %s, %d/8) = %s is not below hi", text(tc.lo), text(tc.hi), k, text(v))
			}
		}
		if v, ok := Point(tc.lo, tc.hi, 1, 2); ok {
			t.Logf("%s .. %s: midpoint %s", text(tc.lo), text(tc.hi), text(v))
		}
	}
	if v, ok := Point(n("0"), n("100"), 1, 2); !ok || v.(*types.AttributeValueMemberN).Value != "50" {
		t.Errorf("midpoint of 0 and 100: %v %v", text(v), ok)
	}
	if _, ok := Point(n("5"), n("5"), 1, 2); ok {
		t.Error("a point inside an empty interval")
	}
}

func TestParseCondition(t *testing.T) {
	names := map[string]string{"#p": "pk", "#s": "sk", "#f": "other"}
	for _, tc := range []struct {
		expr, part, ref, op string
		err                 bool
	}{
		{expr: "pk = :pk", part: "pk = :pk"},
		{expr: "#p = :pk AND #s BETWEEN :a AND :b", part: "#p = :pk", ref: "#s", op: "BETWEEN"},
		{expr: "(#p = :pk) and begins_with(sk, :pre)", part: "(#p = :pk)", ref: "sk", op: "begins_with"},
		{expr: "(sk >= :x AND pk = :v)", part: "pk = :v", ref: "sk", op: ">="},
		{expr: "sk < :x", err: true},
		{expr: "pk = :v AND #f = :x", err: true},
		{expr: "pk = :v AND sk = :x AND sk > :y", err: true},
		{expr: "pk = :keyrangeLo", err: true},
		{expr: "pk =", err: true},
	} {
		c, err := ParseCondition(tc.expr, names, "pk", "sk")
		if tc.err {
			if err == nil {
				t.Errorf("%q: no error", tc.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if c.Partition != tc.part || c.SortRef != tc.ref || c.SortOp != tc.op {
			t.Errorf("%q: %+v", tc.expr, c)
		}
	}
}

func TestBetweenPrunes(t *testing.T) {
	c, err := ParseCondition("#p = :pk AND #s BETWEEN :a AND :b", map[string]string{"#p": "pk", "#s": "sk", "#x": "x"}, "pk", "sk")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Between(map[string]string{"#p": "pk", "#s": "sk", "#x": "x"},
		map[string]types.AttributeValue{":pk": s("p"), ":a": n("1"), ":b": n("9"), ":f": n("3")},
		"#x > :f", "", n("2"), n("5"))
	if r.KeyConditionExpression != "#p = :pk AND #s BETWEEN :keyrangeLo AND :keyrangeHi" {
		t.Errorf("expr %q", r.KeyConditionExpression)
	}
	if len(r.ExpressionAttributeValues) != 4 || r.ExpressionAttributeValues[":a"] != nil || r.ExpressionAttributeValues[":f"] == nil {
		t.Errorf("values %v", r.ExpressionAttributeValues)
	}
	if len(r.ExpressionAttributeNames) != 3 {
		t.Errorf("names %v", r.ExpressionAttributeNames)
	}
	c, _ = ParseCondition("pk = :pk", nil, "pk", "sk")
	r = c.Between(nil, map[string]types.AttributeValue{":pk": s("p")}, "", "", n("2"), n("5"))
	if r.KeyConditionExpression != "pk = :pk AND #keyrangeSort BETWEEN :keyrangeLo AND :keyrangeHi" || r.ExpressionAttributeNames["#keyrangeSort"] != "sk" {
		t.Errorf("%+v", r)
	}
}
