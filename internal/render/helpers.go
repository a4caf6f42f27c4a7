package render

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aymerick/raymond/ast"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/suggest"
)

// helperSpec describes one helper: how many arguments it takes, whether its first argument may
// name something missing, and whether it is a block helper ({{#name}}...{{/name}}).
type helperSpec struct {
	minArgs, maxArgs int
	optionalFirst    bool
	block            bool
	fn               func(e *evaluator, c *helperCall) (any, error)
}

// helperCall is one call of a helper: its evaluated arguments and where it was called.
type helperCall struct {
	name  string
	args  []any
	src   []string // each argument as written, for error messages
	hash  map[string]any
	blk   *ast.BlockStatement // the block, for block helpers
	scope scope
	line  int
}

// helperNames lists every helper, for did-you-mean suggestions.
func helperNames() []string {
	return []string{"base64", "default", "each", "eq", "gt", "if", "json", "lookup", "lt", "neq", "slice", "unless", "with", "with_json_path"}
}

// helperFor returns the helper called name.
func helperFor(name string) (helperSpec, bool) {
	switch name {
	case "if":
		return helperSpec{minArgs: 1, maxArgs: 1, optionalFirst: true, block: true, fn: helperIf}, true
	case "unless":
		return helperSpec{minArgs: 1, maxArgs: 1, optionalFirst: true, block: true, fn: helperUnless}, true
	case "each":
		return helperSpec{minArgs: 1, maxArgs: 1, block: true, fn: helperEach}, true
	case "with":
		return helperSpec{minArgs: 1, maxArgs: 1, block: true, fn: helperWith}, true
	case "with_json_path":
		return helperSpec{minArgs: 1, maxArgs: 1, block: true, fn: helperWithJSONPath}, true
	case "lookup":
		return helperSpec{minArgs: 2, maxArgs: 2, fn: helperLookup}, true
	case "json":
		return helperSpec{minArgs: 1, maxArgs: 1, fn: helperJSON}, true
	case "default":
		return helperSpec{minArgs: 2, maxArgs: 2, optionalFirst: true, fn: helperDefault}, true
	case "eq":
		return helperSpec{minArgs: 2, maxArgs: 2, fn: func(_ *evaluator, c *helperCall) (any, error) {
			return strictEqual(c.args[0], c.args[1]), nil
		}}, true
	case "neq":
		return helperSpec{minArgs: 2, maxArgs: 2, fn: func(_ *evaluator, c *helperCall) (any, error) {
			return !strictEqual(c.args[0], c.args[1]), nil
		}}, true
	case "gt":
		return helperSpec{minArgs: 2, maxArgs: 2, fn: func(_ *evaluator, c *helperCall) (any, error) {
			return order(c.args[0], c.args[1]) > 0, nil
		}}, true
	case "lt":
		return helperSpec{minArgs: 2, maxArgs: 2, fn: func(_ *evaluator, c *helperCall) (any, error) {
			return order(c.args[0], c.args[1]) < 0, nil
		}}, true
	case "base64":
		return helperSpec{minArgs: 1, maxArgs: 1, fn: helperBase64}, true
	case "slice":
		return helperSpec{minArgs: 2, maxArgs: 3, fn: helperSlice}, true
	}
	return helperSpec{}, false
}

// callHelper checks how helper h is used, evaluates its arguments and calls it.
func (e *evaluator) callHelper(h helperSpec, name string, x *ast.Expression, s scope, blk *ast.BlockStatement, sub bool) (any, error) {
	switch {
	case h.block && blk == nil:
		return nil, e.fail(x.Line, name, fmt.Sprintf("helper %q is a block helper: write {{#%s ...}}...{{/%s}}", name, name, name))
	case !h.block && blk != nil:
		return nil, e.fail(x.Line, name, fmt.Sprintf("helper %q is not a block helper: write {{%s ...}} or {{#if (%s ...)}}", name, name, name))
	case len(x.Params) < h.minArgs || len(x.Params) > h.maxArgs:
		return nil, e.fail(x.Line, name, fmt.Sprintf("helper %q takes %s, got %d", name, arity(h), len(x.Params)))
	}
	c := &helperCall{name: name, blk: blk, scope: s, line: x.Line}
	for i, p := range x.Params {
		v, err := e.param(p, s, h.optionalFirst && i == 0)
		if err != nil {
			return nil, err
		}
		if i == 0 && (name == "each" || name == "slice") { // iterating the wrapper would be nonsense
			if v, err = e.data(v, x.Line, source(p)); err != nil {
				return nil, err
			}
		}
		c.args = append(c.args, v)
		c.src = append(c.src, source(p))
	}
	if x.Hash != nil {
		c.hash = map[string]any{}
		for _, pair := range x.Hash.Pairs {
			v, err := e.param(pair.Val, s, false)
			if err != nil {
				return nil, err
			}
			c.hash[pair.Key] = v
		}
	}
	return h.fn(e, c)
}

// arity describes how many arguments h takes, for error messages.
func arity(h helperSpec) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return strconv.Itoa(n) + " arguments"
	}
	if h.minArgs == h.maxArgs {
		return plural(h.minArgs)
	}
	return fmt.Sprintf("%d to %s", h.minArgs, plural(h.maxArgs))
}

// nearestHelper returns the helper name closest to name (edit distance at most 2), or "".
func nearestHelper(name string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, h := range helperNames() {
		if d := suggest.Distance(strings.ToLower(name), h); d < bestDist {
			best, bestDist = h, d
		}
	}
	return best
}

// helperIf renders the block if its condition is truthy (zero too with includeZero=true) and
// not an empty array, else the else part.
func helperIf(e *evaluator, c *helperCall) (any, error) {
	s, b := c.scope, c.blk
	if ifCondition(c) {
		return e.invoke(b.Program, s, s.this, nil, nil)
	}
	return e.invoke(b.Inverse, s, s.this, nil, nil)
}

// helperUnless is if with its two parts swapped.
func helperUnless(e *evaluator, c *helperCall) (any, error) {
	s, b := c.scope, c.blk
	if ifCondition(c) {
		return e.invoke(b.Inverse, s, s.this, nil, nil)
	}
	return e.invoke(b.Program, s, s.this, nil, nil)
}

// ifCondition is handlebars.js's test in #if.
func ifCondition(c *helperCall) bool {
	v := c.args[0]
	includeZero := truthy(c.hash["includeZero"])
	return !(!includeZero && !truthy(v) || isEmpty(v))
}

// helperEach renders the block once per array element or object entry (objects in sorted key
// order), with @index, @key, @first, @last and block params |value key|; the else part when
// there is none.
func helperEach(e *evaluator, c *helperCall) (any, error) {
	switch v := c.args[0].(type) {
	case []any:
		return e.each(c.blk, c.scope, v)
	case map[string]any:
		return e.eachEntry(c.blk, c.scope, v)
	}
	return e.invoke(c.blk.Inverse, c.scope, c.scope.this, nil, nil)
}

// each iterates an array.
func (e *evaluator) each(b *ast.BlockStatement, s scope, arr []any) (string, error) {
	if len(arr) == 0 {
		return e.invoke(b.Inverse, s, s.this, nil, nil)
	}
	out := e.newOutput()
	for i, v := range arr {
		idx := json.Number(strconv.Itoa(i))
		frame := iterationFrame(s.data, idx, idx, i, len(arr))
		str, err := e.invoke(b.Program, s, v, frame, []any{v, idx})
		if err != nil {
			return "", err
		}
		if err := out.add(str); err != nil {
			return "", e.fail(b.Line, "", err.Error())
		}
	}
	return out.String(), nil
}

// eachEntry iterates an object in sorted key order.
func (e *evaluator) eachEntry(b *ast.BlockStatement, s scope, m map[string]any) (string, error) {
	if len(m) == 0 {
		return e.invoke(b.Inverse, s, s.this, nil, nil)
	}
	out := e.newOutput()
	for i, k := range slices.Sorted(maps.Keys(m)) {
		frame := iterationFrame(s.data, k, json.Number(strconv.Itoa(i)), i, len(m))
		str, err := e.invoke(b.Program, s, m[k], frame, []any{m[k], k})
		if err != nil {
			return "", err
		}
		if err := out.add(str); err != nil {
			return "", e.fail(b.Line, "", err.Error())
		}
	}
	return out.String(), nil
}

// iterationFrame is the data frame of one #each iteration.
func iterationFrame(parent *dataFrame, key, index any, i, n int) *dataFrame {
	return &dataFrame{parent: parent, vars: map[string]any{
		"key": key, "index": index, "first": i == 0, "last": i == n-1,
	}}
}

// helperWith renders the block with its argument as the context (and block param), or the
// else part when the argument is empty.
func helperWith(e *evaluator, c *helperCall) (any, error) {
	v := c.args[0]
	if isEmpty(v) {
		return e.invoke(c.blk.Inverse, c.scope, c.scope.this, nil, nil)
	}
	return e.invoke(c.blk.Program, c.scope, v, nil, []any{v})
}

// helperWithJSONPath evaluates a JSONPath against the current context and renders the block
// with the result as its block param: one match itself, several as an array, none missing.
func helperWithJSONPath(e *evaluator, c *helperCall) (any, error) {
	path, ok := c.args[0].(string)
	if !ok {
		return nil, e.fail(c.line, "", fmt.Sprintf("helper \"with_json_path\" needs a JSONPath string, got %s", typeName(c.args[0])))
	}
	matches, err := e.jsonPath(path, c.scope.this, c.line)
	if err != nil {
		return nil, err
	}
	var v any = missing{}
	if len(matches) > 0 {
		v = unwrapMatches(matches)
	}
	return e.invoke(c.blk.Program, c.scope, c.scope.this, nil, []any{v})
}

// helperLookup is handlebars.js's lookup: obj[field], strict about a missing field.
func helperLookup(e *evaluator, c *helperCall) (any, error) {
	obj, field := c.args[0], text(c.args[1])
	if !truthy(obj) {
		return obj, nil
	}
	v, found, perr := e.child(obj, field)
	if perr != nil {
		return nil, &Error{Field: e.field, Line: c.line, Path: field, Msg: "lookup " + strconv.Quote(field) + ": " + perr.what(), Err: perr.err}
	}
	if !found {
		return nil, e.fail(c.line, field, "lookup: "+strconv.Quote(field)+" not found in "+typeName(obj))
	}
	return v, nil
}

// helperJSON prints null and missing as null, a string as it is, anything else as compact
// JSON with exact numbers and sorted keys.
func helperJSON(_ *evaluator, c *helperCall) (any, error) {
	if s, ok := c.args[0].(string); ok {
		return s, nil
	}
	return jsonText(c.args[0]), nil
}

// helperDefault returns its first argument unless it is null or missing, else its second.
func helperDefault(_ *evaluator, c *helperCall) (any, error) {
	if isNull(c.args[0]) {
		return c.args[1], nil
	}
	return c.args[0], nil
}

// helperBase64 is the standard base64 of the argument's text (UTF-8); empty for null; an error
// for an object or an array, whose text would be "[object Object]" or joined elements.
func helperBase64(e *evaluator, c *helperCall) (any, error) {
	switch v := c.args[0].(type) {
	case map[string]any, []any:
		arg := c.src[0]
		if strings.Contains(arg, " ") && !strings.HasPrefix(arg, "(") {
			arg = "(" + arg + ")"
		}
		return nil, e.fail(c.line, c.src[0], fmt.Sprintf("helper \"base64\" needs text, got %s (write {{base64 (json %s)}} to encode its JSON)", typeName(v), arg))
	}
	if isNull(c.args[0]) {
		return "", nil
	}
	return base64.StdEncoding.EncodeToString([]byte(text(c.args[0]))), nil
}

// helperSlice is JavaScript's Array.prototype.slice on a copy; a non-array gives [].
func helperSlice(_ *evaluator, c *helperCall) (any, error) {
	arr, ok := c.args[0].([]any)
	if !ok {
		return []any{}, nil
	}
	n := len(arr)
	start := relativeIndex(c.args[1], n, 0)
	end := n
	if len(c.args) == 3 {
		end = relativeIndex(c.args[2], n, n)
	}
	if end <= start {
		return []any{}, nil
	}
	return append([]any{}, arr[start:end]...), nil
}

// relativeIndex is how Array.prototype.slice reads an index: truncated toward zero, negative
// counting from the end, clamped to [0, n]; missing gives def.
func relativeIndex(v any, n, def int) int {
	if _, ok := v.(missing); ok {
		return def
	}
	i := toInteger(v)
	if i < 0 {
		return max(n+i, 0)
	}
	return min(i, n)
}

// toInteger is JavaScript's ToIntegerOrInfinity, saturated to ±2^53: NaN and non-numbers are 0.
func toInteger(v any) int {
	d, ok := looseNumber(v)
	if !ok || d.IsZero() {
		return 0
	}
	const limit = 1 << 53
	if d.Exp > 16 {
		return limit * d.Sign()
	}
	if d.Exp <= 0 {
		return 0
	}
	intDigits := int(d.Exp) // 0.Digits × 10^Exp has Exp digits before the point
	digits := d.Digits
	if len(digits) < intDigits {
		digits += strings.Repeat("0", intDigits-len(digits))
	}
	i, err := strconv.Atoi(digits[:intDigits])
	if err != nil || i > limit {
		i = limit
	}
	return i * d.Sign()
}

// order compares two numbers exactly or two strings by code point; ok is false for anything
// else, which makes gt and lt false.
func order(a, b any) int {
	an, aok := number(a)
	bn, bok := number(b)
	if aok && bok {
		return compareNumbers(an, bn)
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.Compare(as, bs)
	}
	return 0
}

// typeName names v's JSON type for error messages; missing is "nothing".
func typeName(v any) string {
	if _, ok := v.(missing); ok {
		return "nothing"
	}
	return attr.Describe(v)
}
