// Package attrtest generates random DynamoDB items for property tests and
// compares items the way DynamoDB stores them.
//
// RandomItem makes items that DynamoDB (and dynalite) accept as they are: every
// type, nested lists and maps, unicode from every plane, numbers of up to 38
// digits across DynamoDB's whole range, sets with distinct members and never
// empty, and a size well below the 400 KB item limit. Canonical and Diff
// compare items up to what DynamoDB changes when it stores one (the spelling of
// numbers, the order of set members), for round trips through a table.
package attrtest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Defaults for the zero Options.
const (
	DefaultMaxDepth = 4
	DefaultMaxAttrs = 12
	DefaultMaxSize  = 16 << 10
	// MaxItemSize is DynamoDB's limit on an item's size.
	MaxItemSize = 400_000
	// maxSetMembers bounds the members of a generated set.
	maxSetMembers = 6
	// maxListMembers bounds the members of a generated list or map.
	maxListMembers = 6
	// maxBinary bounds the length of a generated binary value.
	maxBinary = 48
	// maxShortRunes bounds the runes of a short string (set members, names).
	maxShortRunes = 12
	// numberSize is what this package counts for a number in an item's size:
	// DynamoDB counts at most 21 bytes.
	numberSize = 21
)

// Options shape RandomItem's items. The zero value works.
type Options struct {
	// MaxDepth is how deeply lists and maps nest, at most attr.MaxDepth
	// (0: DefaultMaxDepth).
	MaxDepth int
	// MaxAttrs is the most top-level attributes generated, at least 1
	// (0: DefaultMaxAttrs).
	MaxAttrs int
	// MaxSize bounds the item's size as DynamoDB counts it, in bytes; at most
	// MaxItemSize minus what the caller adds (0: DefaultMaxSize). Some items
	// hold one large string or binary that takes much of it.
	MaxSize int
	// Exclude lists top-level attribute names never generated, such as the
	// table's key attributes, which the caller sets.
	Exclude []string
}

func (o Options) withDefaults() Options {
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	o.MaxDepth = min(o.MaxDepth, attr.MaxDepth)
	if o.MaxAttrs <= 0 {
		o.MaxAttrs = DefaultMaxAttrs
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	return o
}

// gen carries the generator's state for one item.
type gen struct {
	r      *rand.Rand
	o      Options
	budget int // bytes of item size left
}

// RandomItem returns a random item that DynamoDB accepts: 1 to o.MaxAttrs
// top-level attributes of every type, none named in o.Exclude, of size (as
// Size counts it) at most o.MaxSize plus a few hundred bytes. The same r state gives the same item.
func RandomItem(r *rand.Rand, o Options) map[string]types.AttributeValue {
	o = o.withDefaults()
	g := &gen{r: r, o: o, budget: o.MaxSize}
	n := 1 + r.IntN(o.MaxAttrs)
	item := make(map[string]types.AttributeValue, n)
	for range n {
		name := g.name()
		if slices.Contains(o.Exclude, name) || item[name] != nil {
			continue
		}
		cost := len(name)
		if cost+numberSize > g.budget {
			break
		}
		g.budget -= cost
		item[name] = g.value(1)
	}
	for len(item) == 0 {
		if name := g.name(); !slices.Contains(o.Exclude, name) {
			item[name] = &types.AttributeValueMemberBOOL{Value: true}
		}
	}
	return item
}

// RandomValue returns a random attribute value of any type, nested at most
// o.MaxDepth levels, of size about o.MaxSize at most.
func RandomValue(r *rand.Rand, o Options) types.AttributeValue {
	o = o.withDefaults()
	g := &gen{r: r, o: o, budget: o.MaxSize}
	return g.value(1)
}

// value returns a value at nesting level level, charging its size to the budget.
func (g *gen) value(level int) types.AttributeValue {
	r := g.r
	for {
		k := r.IntN(12)
		if g.budget < 64 {
			k = r.IntN(4) // scalars only: S (short), N, BOOL, NULL
		}
		switch k {
		case 0, 1:
			s := g.string()
			return &types.AttributeValueMemberS{Value: s}
		case 2:
			g.budget -= numberSize
			return &types.AttributeValueMemberN{Value: RandomNumber(r)}
		case 3:
			g.budget--
			if r.IntN(2) == 0 {
				return &types.AttributeValueMemberBOOL{Value: r.IntN(2) == 0}
			}
			return &types.AttributeValueMemberNULL{Value: true}
		case 4:
			b := g.binary()
			return &types.AttributeValueMemberB{Value: b}
		case 5:
			n := 1 + r.IntN(maxSetMembers)
			seen := map[string]bool{}
			var ss []string
			for range n {
				s := g.shortString(maxShortRunes)
				if !seen[s] {
					seen[s] = true
					ss = append(ss, s)
					g.budget -= len(s)
				}
			}
			return &types.AttributeValueMemberSS{Value: ss}
		case 6:
			n := 1 + r.IntN(maxSetMembers)
			seen := map[string]bool{}
			var ns []string
			for range n {
				s := RandomNumber(r)
				c, _ := attr.CanonicalNumber(s)
				if !seen[c] {
					seen[c] = true
					ns = append(ns, s)
					g.budget -= numberSize
				}
			}
			return &types.AttributeValueMemberNS{Value: ns}
		case 7:
			n := 1 + r.IntN(maxSetMembers)
			seen := map[string]bool{}
			var bs [][]byte
			for range n {
				b := make([]byte, r.IntN(maxBinary))
				fill(r, b)
				if !seen[string(b)] {
					seen[string(b)] = true
					bs = append(bs, b)
					g.budget -= len(b)
				}
			}
			return &types.AttributeValueMemberBS{Value: bs}
		case 8, 9:
			if level >= g.o.MaxDepth {
				continue
			}
			n := r.IntN(maxListMembers + 1)
			g.budget -= 3 + n
			l := make([]types.AttributeValue, 0, n)
			for range n {
				if g.budget < numberSize {
					break
				}
				l = append(l, g.value(level+1))
			}
			return &types.AttributeValueMemberL{Value: l}
		default:
			if level >= g.o.MaxDepth {
				continue
			}
			n := r.IntN(maxListMembers + 1)
			g.budget -= 3 + n
			m := make(map[string]types.AttributeValue, n)
			for range n {
				name := g.name()
				if g.budget < len(name)+numberSize {
					break
				}
				g.budget -= len(name)
				m[name] = g.value(level + 1)
			}
			return &types.AttributeValueMemberM{Value: m}
		}
	}
}

// name returns a non-empty attribute or map key name.
func (g *gen) name() string {
	for {
		if s := g.shortString(maxShortRunes); s != "" {
			return s
		}
	}
}

// string returns a string for an S value: mostly short, sometimes long, and
// rarely one that takes a large share of the remaining budget.
func (g *gen) string() string {
	var s string
	switch n := g.r.IntN(20); {
	case n == 0 && g.budget > 4096:
		s = RandomString(g.r, g.r.IntN(g.budget/2/utf8.UTFMax))
	case n < 4:
		s = RandomString(g.r, g.r.IntN(min(200, max(g.budget/utf8.UTFMax, 1))))
	default:
		s = g.shortString(min(maxShortRunes, max(g.budget/utf8.UTFMax, 1)))
	}
	g.budget -= len(s)
	return s
}

func (g *gen) shortString(maxRunes int) string {
	return RandomString(g.r, g.r.IntN(maxRunes+1))
}

// binary returns a B value, sometimes empty, rarely large.
func (g *gen) binary() []byte {
	n := g.r.IntN(maxBinary)
	if g.r.IntN(20) == 0 && g.budget > 4096 {
		n = g.r.IntN(g.budget / 2)
	}
	b := make([]byte, n)
	fill(g.r, b)
	g.budget -= n
	return b
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// runeClasses are the kinds of characters RandomString draws from, each a
// closed range of code points, chosen to exercise JSON escaping and UTF-8.
var runeClasses = [][2]rune{
	{'a', 'z'},
	{'0', '9'},
	{' ', '~'},           // printable ASCII, with '"' and '\'
	{0, 0x1f},            // control characters, NUL included
	{0x7f, 0x9f},         // DEL and C1 controls
	{0xa0, 0x2ff},        // Latin-1 and Latin extended
	{0x300, 0x36f},       // combining diacritical marks
	{0x2028, 0x2029},     // line and paragraph separators
	{0x4e00, 0x9fff},     // CJK
	{0xe000, 0xfffd},     // private use to the replacement character
	{0x1f300, 0x1faff},   // emoji, astral plane
	{0x10000, 0x10ffff},  // anything astral
	{'"', '"'},           // quote
	{'\\', '\\'},         // backslash
	{0xfeff, 0xfeff},     // byte order mark as a character
	{0x0800, 0xd7ff},     // three-byte UTF-8 below the surrogates
	{0x10fffe, 0x10ffff}, // the last code points
}

// RandomString returns a valid UTF-8 string of n runes drawn from ASCII,
// control characters, combining marks, CJK, U+2028/U+2029 and the astral
// planes (never surrogates).
func RandomString(r *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n)
	// Most strings stay within one or two classes, as real text does.
	c1 := runeClasses[r.IntN(len(runeClasses))]
	c2 := runeClasses[r.IntN(len(runeClasses))]
	for range n {
		c := c1
		if r.IntN(4) == 0 {
			c = c2
		}
		b.WriteRune(c[0] + r.Int32N(c[1]-c[0]+1))
	}
	return b.String()
}

// RandomNumber returns a number DynamoDB accepts: zero, or up to 38
// significant digits with a magnitude from 1e-130 to below 1e126, spelt as an
// integer, a decimal or in scientific notation (e or E, with or without an
// exponent sign), sometimes with trailing zeros. No spelling has more than 38
// digits after its leading zeros, so DynamoDB's count of digits cannot differ
// from attr.CheckNumber's.
func RandomNumber(r *rand.Rand) string {
	neg := r.IntN(2) == 0
	sign := ""
	if neg {
		sign = "-"
	}
	switch r.IntN(12) {
	case 0:
		return "0"
	case 1:
		return sign + strconv.FormatInt(r.Int64N(1000), 10)
	case 2:
		return sign + strconv.FormatUint(r.Uint64(), 10)
	case 3: // the extremes
		return sign + []string{"1E-130", "9.9999999999999999999999999999999999999E+125", "1e125", "99999999999999999999999999999999999999"}[r.IntN(4)]
	}
	// digits: 1 to 38 significant digits, the first non-zero.
	nd := 1 + r.IntN(attr.MaxNumberDigits)
	if r.IntN(3) == 0 {
		nd = attr.MaxNumberDigits
	}
	d := make([]byte, nd)
	d[0] = byte('1' + r.IntN(9))
	for i := 1; i < nd; i++ {
		d[i] = byte('0' + r.IntN(10))
	}
	digits := string(d)
	// e: the exponent of the scientific form d.ddd × 10^e.
	e := attr.MinNumberExponent + r.IntN(attr.MaxNumberExponent-attr.MinNumberExponent+1)
	if r.IntN(2) == 0 {
		e = r.IntN(2*attr.MaxNumberDigits) - attr.MaxNumberDigits
	}
	switch {
	case r.IntN(3) == 0 || e >= attr.MaxNumberDigits || e < -attr.MaxNumberDigits:
		// Scientific: d.dddE±x.
		s := sign + digits[:1]
		if nd > 1 {
			s += "." + digits[1:]
		}
		exp := strconv.Itoa(e)
		if e >= 0 && r.IntN(2) == 0 {
			exp = "+" + exp
		}
		return s + []string{"e", "E"}[r.IntN(2)] + exp
	case e < 0:
		return sign + "0." + strings.Repeat("0", -e-1) + digits
	case e+1 >= nd:
		// An integer, padded with zeros while the spelling keeps 38 digits.
		return sign + digits + strings.Repeat("0", min(e+1-nd, attr.MaxNumberDigits-nd))
	default:
		return sign + digits[:e+1] + "." + digits[e+1:]
	}
}

// Canonical returns av as a comparable tree in DynamoDB JSON shape
// (map[string]any{"N": ...}), up to what DynamoDB changes when it stores a
// value: numbers in attr.CanonicalNumber's spelling and set members sorted.
// B and BS members are strings of the raw bytes. A nil or unknown value gives
// map[string]any{"?": "<its Go type>"}.
func Canonical(av types.AttributeValue) any {
	if attr.IsNilMember(av) {
		return map[string]any{"?": "nil"}
	}
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": canonicalNumber(v.Value)}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": string(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = Canonical(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": CanonicalItem(v.Value)}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": sorted(v.Value, func(s string) string { return s })}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": sorted(v.Value, canonicalNumber)}
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": sorted(v.Value, func(b []byte) string { return string(b) })}
	}
	return map[string]any{"?": fmt.Sprintf("%T", av)}
}

func sorted[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	slices.Sort(out)
	return out
}

func canonicalNumber(s string) string {
	c, err := attr.CanonicalNumber(s)
	if err != nil {
		return "not a number: " + s
	}
	return c
}

// CanonicalItem returns Canonical of every attribute of item.
func CanonicalItem(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = Canonical(v)
	}
	return m
}

// Diff returns a human-readable difference between the items want and got up
// to what DynamoDB changes when it stores an item (see Canonical), or "" when
// they are equal.
func Diff(want, got map[string]types.AttributeValue) string {
	return cmp.Diff(CanonicalItem(want), CanonicalItem(got))
}

// Exact is a cmp option comparing attribute values field by field (numbers as
// spelt, sets in order), for cmp.Diff on the SDK's types, whose unexported
// fields cmp would otherwise refuse.
var Exact = cmpopts.IgnoreUnexported(
	types.AttributeValueMemberS{}, types.AttributeValueMemberN{}, types.AttributeValueMemberB{},
	types.AttributeValueMemberBOOL{}, types.AttributeValueMemberNULL{}, types.AttributeValueMemberL{},
	types.AttributeValueMemberM{}, types.AttributeValueMemberSS{}, types.AttributeValueMemberNS{},
	types.AttributeValueMemberBS{}, types.UnknownUnionMember{},
)

// ExactDiff returns cmp.Diff(want, got, Exact), or "" at once when the two are
// reflect.DeepEqual: cmp takes time exponential in the nesting depth of lists
// (2^32 steps for DynamoDB's deepest values), DeepEqual linear.
func ExactDiff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got, Exact)
}

// Size returns an upper bound of the size DynamoDB counts for item: attribute
// names and values in bytes, numbers as 21 bytes, 3 bytes plus 1 per member
// for lists and maps, 1 byte for BOOL and NULL.
func Size(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(av types.AttributeValue) int {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3 + len(v.Value)
		for _, e := range v.Value {
			n += valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + len(v.Value) + Size(v.Value)
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		return numberSize * len(v.Value)
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	}
	return 0
}

// SeededRand returns the random source for a property test and logs its
// seed, so a failure can be replayed: seed 0 picks a time-based seed.
func SeededRand(t interface{ Logf(string, ...any) }, seed uint64) *rand.Rand {
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// VariedOptions varies generated items: mostly shallow and small, one in ten
// nested as deep as DynamoDB allows, one in ten large (up to maxSize bytes).
func VariedOptions(r *rand.Rand, maxSize int) Options {
	switch r.IntN(10) {
	case 0:
		return Options{MaxDepth: attr.MaxDepth, MaxAttrs: 3}
	case 1:
		return Options{MaxSize: maxSize, MaxAttrs: 30}
	default:
		return Options{}
	}
}
