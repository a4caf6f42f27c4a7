package keyrange

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Condition is a Query's key condition taken apart: the partition key's
// condition, as written, and how the expression names the sort key.
type Condition struct {
	// Partition is the text of the partition key's condition, as the
	// expression wrote it ("#pk = :pk").
	Partition string
	// SortRef is how the expression names the sort key ("#sk" or "sk");
	// empty when it has no condition on it.
	SortRef string
	// SortOp is the sort key's operator as written ("=", "<", "BETWEEN",
	// "begins_with", ...); empty when there is none.
	SortOp string
	// SortKey is the sort key's attribute name.
	SortKey string
}

// Placeholders the range conditions add. Key conditions and placeholders
// in DynamoDB are made of letters, digits and _; these are unlikely in a
// user's expression, and ParseCondition refuses an expression that uses
// them.
const (
	loValue  = ":keyrangeLo"
	hiValue  = ":keyrangeHi"
	sortName = "#keyrangeSort"
)

// CheckReserved fails when one of exprs uses a placeholder the range
// conditions add.
func CheckReserved(exprs ...string) error {
	for _, e := range exprs {
		for _, p := range []string{loValue, hiValue, sortName} {
			if strings.Contains(e, p) {
				return fmt.Errorf("keyrange: the expression %q uses the placeholder %s, which splitting the query needs", e, p)
			}
		}
	}
	return nil
}

// ParseCondition takes expr, a KeyConditionExpression, apart. hashKey and
// rangeKey are the attribute names of the key schema queried (the table's or
// the index's); names resolves #placeholders.
func ParseCondition(expr string, names map[string]string, hashKey, rangeKey string) (Condition, error) {
	if err := CheckReserved(expr); err != nil {
		return Condition{}, err
	}
	toks, err := tokenize(expr)
	if err != nil {
		return Condition{}, err
	}
	for len(toks) > 2 && toks[0].s == "(" && toks[len(toks)-1].s == ")" && closes(toks) == len(toks)-1 {
		toks = toks[1 : len(toks)-1]
	}
	conds, err := splitConditions(expr, toks)
	if err != nil {
		return Condition{}, err
	}
	c := Condition{SortKey: rangeKey}
	for _, k := range conds {
		name := k.attr
		if strings.HasPrefix(name, "#") {
			n, ok := names[name]
			if !ok {
				return Condition{}, fmt.Errorf("keyrange: %s is not in expressionAttributeNames", name)
			}
			name = n
		}
		switch {
		case name == hashKey && k.op == "=" && c.Partition == "":
			c.Partition = k.text
		case name == rangeKey && c.SortRef == "":
			c.SortRef, c.SortOp = k.attr, k.op
		default:
			return Condition{}, fmt.Errorf("keyrange: condition %q is on neither the partition key %s nor the sort key %s", k.text, hashKey, rangeKey)
		}
	}
	if c.Partition == "" {
		return Condition{}, fmt.Errorf("keyrange: no equality condition on the partition key %s in %q", hashKey, expr)
	}
	return c, nil
}

// Request is the parts of a Query request one interval changes.
type Request struct {
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string // nil when none is used
	ExpressionAttributeValues map[string]types.AttributeValue
}

// Between is the request for the interval [lo, hi]: the partition key's
// condition and "sort BETWEEN lo AND hi", with the names and values the
// request's expressions (the key condition, filter and projection) use and
// no others, as DynamoDB requires.
func (c Condition) Between(names map[string]string, values map[string]types.AttributeValue, filter, projection string, lo, hi types.AttributeValue) Request {
	ref := c.SortRef
	names = maps.Clone(names)
	if ref == "" {
		ref = sortName
		if names == nil {
			names = map[string]string{}
		}
		names[sortName] = c.SortKey
	}
	expr := fmt.Sprintf("%s AND %s BETWEEN %s AND %s", c.Partition, ref, loValue, hiValue)
	values = maps.Clone(values)
	values[loValue], values[hiValue] = lo, hi
	names, values = prune(names, values, expr, filter, projection)
	return Request{KeyConditionExpression: expr, ExpressionAttributeNames: names, ExpressionAttributeValues: values}
}

// SortName returns the placeholder and names a request needs to name the
// sort key (the expression's own, or one added).
func (c Condition) SortName(names map[string]string) (string, map[string]string) {
	if c.SortRef != "" && strings.HasPrefix(c.SortRef, "#") {
		return c.SortRef, map[string]string{c.SortRef: names[c.SortRef]}
	}
	return sortName, map[string]string{sortName: c.SortKey}
}

// Prune returns names and values without the entries exprs do not use.
func Prune(names map[string]string, values map[string]types.AttributeValue, exprs ...string) (map[string]string, map[string]types.AttributeValue) {
	return prune(maps.Clone(names), maps.Clone(values), exprs...)
}

// prune is Prune on maps of the caller's own, which it changes.
func prune(names map[string]string, values map[string]types.AttributeValue, exprs ...string) (map[string]string, map[string]types.AttributeValue) {
	used := placeholders(exprs...)
	maps.DeleteFunc(values, func(k string, _ types.AttributeValue) bool { return !used[k] })
	maps.DeleteFunc(names, func(k string, _ string) bool { return !used[k] })
	return nilIfEmpty(names), values
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

var placeholderRE = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

func placeholders(exprs ...string) map[string]bool {
	used := map[string]bool{}
	for _, e := range exprs {
		for _, p := range placeholderRE.FindAllString(e, -1) {
			used[p] = true
		}
	}
	return used
}

type token struct {
	s          string
	start, end int
}

func tokenize(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		r := rune(expr[i])
		switch {
		case unicode.IsSpace(r):
			i++
		case strings.ContainsRune("(),", r):
			toks = append(toks, token{expr[i : i+1], i, i + 1})
			i++
		case r == '<' || r == '>' || r == '=':
			j := i + 1
			if j < len(expr) && (expr[j] == '=' || expr[j] == '>') && r != '=' {
				j++
			}
			toks = append(toks, token{expr[i:j], i, j})
			i = j
		case r == '#' || r == ':' || r == '_' || r == '.' || r == '-' || r >= 0x80 || unicode.IsLetter(r) || unicode.IsDigit(r):
			j := i + 1
			for j < len(expr) {
				c := rune(expr[j])
				if !(c == '_' || c == '.' || c == '-' || c >= 0x80 || unicode.IsLetter(c) || unicode.IsDigit(c)) {
					break
				}
				j++
			}
			toks = append(toks, token{expr[i:j], i, j})
			i = j
		default:
			return nil, fmt.Errorf("keyrange: unexpected %q in the key condition", expr[i:i+1])
		}
	}
	return toks, nil
}

// closes returns the index of the token that closes toks[0]'s parenthesis.
func closes(toks []token) int {
	depth := 0
	for i, t := range toks {
		switch t.s {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// cond is one condition of a key condition expression.
type cond struct {
	attr, op, text string
}

// splitConditions parses "c [AND c]" where each c is "a op :v",
// "a BETWEEN :v AND :w" or "begins_with(a, :v)", optionally in parentheses.
func splitConditions(expr string, toks []token) ([]cond, error) {
	var out []cond
	i := 0
	bad := func() ([]cond, error) {
		return nil, fmt.Errorf("keyrange: cannot read the key condition %q", expr)
	}
	for {
		depth := 0
		if i >= len(toks) {
			return bad()
		}
		start := toks[i].start
		for i < len(toks) && toks[i].s == "(" {
			depth++
			i++
		}
		if i >= len(toks) {
			return bad()
		}
		var c cond
		switch {
		case strings.EqualFold(toks[i].s, "begins_with"):
			if i+5 >= len(toks) || toks[i+1].s != "(" || toks[i+3].s != "," || toks[i+5].s != ")" {
				return bad()
			}
			c = cond{attr: toks[i+2].s, op: "begins_with"}
			i += 6
		case i+2 < len(toks) && strings.EqualFold(toks[i+1].s, "BETWEEN"):
			if i+4 >= len(toks) || !strings.EqualFold(toks[i+3].s, "AND") {
				return bad()
			}
			c = cond{attr: toks[i].s, op: "BETWEEN"}
			i += 5
		case i+2 < len(toks) && strings.Contains("= < <= > >=", toks[i+1].s) && toks[i+1].s != "":
			c = cond{attr: toks[i].s, op: toks[i+1].s}
			i += 3
		default:
			return bad()
		}
		end := toks[i-1].end
		for ; depth > 0; depth-- {
			if i >= len(toks) || toks[i].s != ")" {
				return bad()
			}
			end = toks[i].end
			i++
		}
		c.text = expr[start:end]
		if strings.HasPrefix(c.attr, ":") {
			return bad()
		}
		out = append(out, c)
		if i == len(toks) {
			return out, nil
		}
		if !strings.EqualFold(toks[i].s, "AND") || len(out) == 2 {
			return bad()
		}
		i++
	}
}
