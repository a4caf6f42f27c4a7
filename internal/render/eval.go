package render

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aymerick/raymond/ast"
)

// evaluator renders one template against one context for one field.
type evaluator struct {
	ctx   context.Context
	r     *Renderer
	field string
	root  any
	steps int // statements, block bodies and JSONPath nodes evaluated; see tick
}

// checkEvery is how many evaluation steps go between two looks at ctx: often enough that a
// template stops within microseconds of its deadline, rarely enough to cost nothing.
const checkEvery = 256

// tick counts one evaluation step and, every checkEvery steps, fails once ctx is done (the
// invocation's deadline margin, or the CLI's --timeout or Ctrl-C): nested #each over large
// arrays may take longer than any deadline. The *Error wraps context.Cause(ctx), so callers
// classify it as they classify the deadline or cancellation itself.
func (e *evaluator) tick(line int) error {
	e.steps++
	if e.steps%checkEvery != 0 || e.ctx.Err() == nil {
		return nil
	}
	return stopped(e.ctx, e.field, line)
}

// stopped is the error of a rendering that ctx ended.
func stopped(ctx context.Context, field string, line int) *Error {
	return &Error{Field: field, Line: line, Msg: "template evaluation stopped", Err: context.Cause(ctx)}
}

// newEvaluator returns an evaluator of templates for field against root.
func newEvaluator(ctx context.Context, r *Renderer, field string, root any) *evaluator {
	return &evaluator{ctx: ctx, r: r, field: field, root: root}
}

// scope is what a program sees: its context (`this`), the contexts `../` climbs through, the
// data variables (@index, @root, ...) and the block params in lexical scope.
type scope struct {
	this   any
	depths *depth
	data   *dataFrame
	params *paramFrame
}

// depth is handlebars.js 4.x's depths stack, innermost first. A block pushes its context only
// when it differs from the current one, so `{{#if}}` does not count as a level for `../`.
type depth struct {
	ctx  any
	next *depth
}

// dataFrame holds data variables; lookups fall through to the parent frame, as in
// handlebars.js, where a child frame starts as a copy of its parent.
type dataFrame struct {
	parent *dataFrame
	vars   map[string]any
}

// get returns the data variable name, looking through parent frames.
func (f *dataFrame) get(name string) (any, bool) {
	for ; f != nil; f = f.parent {
		if v, ok := f.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// paramFrame holds the block params a program declares (`as |item index|`) and the values the
// helper gave them.
type paramFrame struct {
	parent *paramFrame
	names  []string
	values []any
}

// get returns the block param name from the innermost program declaring it; a declared param
// the helper gave no value is missing.
func (f *paramFrame) get(name string) (any, bool) {
	for ; f != nil; f = f.parent {
		for i, n := range f.names {
			if n != name {
				continue
			}
			if i < len(f.values) {
				return f.values[i], true
			}
			return missing{}, true
		}
	}
	return nil, false
}

// rootScope is the scope of the template itself.
func (e *evaluator) rootScope() scope {
	return scope{
		this:   e.root,
		depths: &depth{ctx: e.root},
		data:   &dataFrame{vars: map[string]any{"root": e.root}},
	}
}

// fail returns an *Error for this evaluator's field.
func (e *evaluator) fail(line int, path, msg string) *Error {
	return &Error{Field: e.field, Line: line, Path: path, Msg: msg}
}

// text renders the whole template prog.
func (e *evaluator) text(prog *ast.Program) (string, error) {
	out := e.newOutput()
	if err := e.program(prog, e.rootScope(), out); err != nil {
		return "", err
	}
	return out.String(), nil
}

// program renders the statements of p in scope s into out.
func (e *evaluator) program(p *ast.Program, s scope, out *output) error {
	for _, n := range p.Body {
		if err := e.tick(n.Location().Line); err != nil {
			return err
		}
		var str string
		switch n := n.(type) {
		case *ast.ContentStatement:
			str = n.Value
		case *ast.CommentStatement:
			continue
		case *ast.MustacheStatement:
			v, err := e.mustacheValue(n, s)
			if err != nil {
				return err
			}
			if str, err = e.inText(v, n.Line, n.Expression); err != nil {
				return err
			}
		case *ast.BlockStatement:
			v, err := e.block(n, s)
			if err != nil {
				return err
			}
			str = v
		case *ast.PartialStatement:
			return e.fail(n.Line, "", "partials ({{> name}}) are not supported")
		}
		if err := out.add(str); err != nil {
			return e.fail(n.Location().Line, "", err.Error())
		}
	}
	return nil
}

// inText returns v as the text it adds to a larger string. An object or an array is an error:
// handlebars.js would print "[object Object]" or join the elements with commas, which silently
// makes a wrong key or query value. x is the mustache's expression, named in the error.
func (e *evaluator) inText(v any, line int, x *ast.Expression) (string, error) {
	var kind string
	switch v.(type) {
	case map[string]any:
		kind = "an object"
	case []any:
		kind = "an array"
	default:
		return text(v), nil
	}
	src := source(x)
	what := strconv.Quote(src)
	if p, ok := x.Path.(*ast.PathExpression); ok && len(x.Params) == 0 && x.Hash == nil {
		what = "path " + strconv.Quote(p.Original)
	}
	return "", e.fail(line, src, fmt.Sprintf("%s is %s, which cannot be part of a larger string: write {{json %s}} for its JSON text, or make the whole string {{%s}} to keep the value itself",
		what, kind, parenthesize(x, src), src))
}

// parenthesize returns src as an argument of a helper: a helper call goes in parentheses.
func parenthesize(x *ast.Expression, src string) string {
	if len(x.Params) > 0 || x.Hash != nil {
		return "(" + src + ")"
	}
	return src
}

// source writes an expression back as template text, for error messages: `items.[1].name`,
// `slice arr 1`, `eq (default x "y") 2`.
func source(n ast.Node) string {
	switch n := n.(type) {
	case *ast.PathExpression:
		return n.Original
	case *ast.StringLiteral:
		return strconv.Quote(n.Value)
	case *ast.NumberLiteral:
		return n.Original
	case *ast.BooleanLiteral:
		return strconv.FormatBool(n.Value)
	case *ast.SubExpression:
		return "(" + source(n.Expression) + ")"
	case *ast.Expression:
		parts := []string{source(n.Path)}
		for _, p := range n.Params {
			parts = append(parts, source(p))
		}
		if n.Hash != nil {
			for _, pair := range n.Hash.Pairs {
				parts = append(parts, pair.Key+"="+source(pair.Val))
			}
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("%T", n)
}

// invoke renders program p (a block's body or its else) with context ctx, as handlebars.js's
// wrapProgram does: a new depth only if ctx differs from the current one, the given data frame
// (or the enclosing one) and the block params the program declares. A nil p renders nothing.
func (e *evaluator) invoke(p *ast.Program, parent scope, ctx any, data *dataFrame, params []any) (string, error) {
	if p == nil {
		return "", nil
	}
	if err := e.tick(p.Line); err != nil {
		return "", err
	}
	s := scope{this: ctx, depths: parent.depths, data: parent.data, params: parent.params}
	if data != nil {
		s.data = data
	}
	if !sameContext(ctx, parent.depths.ctx) {
		s.depths = &depth{ctx: ctx, next: parent.depths}
	}
	if len(p.BlockParams) > 0 {
		s.params = &paramFrame{parent: parent.params, names: p.BlockParams, values: params}
	}
	out := e.newOutput()
	if err := e.program(p, s, out); err != nil {
		return "", err
	}
	return out.String(), nil
}

// mustacheValue evaluates `{{...}}`: a helper call or a path.
func (e *evaluator) mustacheValue(m *ast.MustacheStatement, s scope) (any, error) {
	return e.expression(m.Expression, s, nil, false)
}

// block renders `{{#...}}...{{/...}}`: a block helper, or a section over a value as
// handlebars.js's blockHelperMissing does.
func (e *evaluator) block(b *ast.BlockStatement, s scope) (string, error) {
	v, err := e.expression(b.Expression, s, b, false)
	if err != nil {
		return "", err
	}
	str, _ := v.(string)
	return str, nil
}

// helperName returns the name a mustache, block or subexpression would call as a helper, and
// whether it is a simple identifier (one part, not scoped, no `../`, not @data), the only kind
// that can name a helper. Literals in that position name a property, as in handlebars.js.
func helperName(x *ast.Expression) (name string, simple bool) {
	switch p := x.Path.(type) {
	case *ast.PathExpression:
		parts := cleanParts(p.Parts)
		if len(parts) == 0 {
			return p.Original, false
		}
		return parts[0], len(parts) == 1 && !p.Scoped && p.Depth == 0 && !p.Data
	default:
		lit, _ := ast.LiteralStr(x.Path)
		if n, ok := x.Path.(*ast.NumberLiteral); ok {
			lit = n.Original
		}
		return lit, !scopedLiteral.MatchString(lit)
	}
}

// scopedLiteral is handlebars.js's scopedId test, applied to literals used as paths.
var scopedLiteral = regexp.MustCompile(`^\.|this\b`)

// expression evaluates a mustache's, block's or subexpression's expression. blk is the block
// statement for a block, nil otherwise; sub is true for a subexpression, which is always a
// helper call. The result of a block is its rendered text.
func (e *evaluator) expression(x *ast.Expression, s scope, blk *ast.BlockStatement, sub bool) (any, error) {
	name, simple := helperName(x)
	_, isParam := s.params.get(name)
	isParam = isParam && simple
	hasArgs := len(x.Params) > 0 || x.Hash != nil
	if !isParam && simple {
		if h, ok := helperFor(name); ok {
			return e.callHelper(h, name, x, s, blk, sub)
		}
	}
	if !isParam && (hasArgs || sub) {
		return nil, e.unknownHelper(name, x)
	}
	if isParam && hasArgs {
		return nil, e.fail(x.Line, name, fmt.Sprintf("%q is a block parameter here, not a helper: it takes no arguments (rename the block parameter to call the helper)", name))
	}
	v, err := e.headValue(x, s)
	if err != nil {
		return nil, err
	}
	if blk != nil {
		return e.section(blk, s, v)
	}
	return v, nil
}

// unknownHelper is the error for a call of something that is not a helper.
func (e *evaluator) unknownHelper(name string, x *ast.Expression) *Error {
	if p, ok := x.Path.(*ast.PathExpression); ok {
		name = p.Original
	}
	msg := "unknown helper " + strconv.Quote(name)
	if near := nearestHelper(name); near != "" {
		msg += " (did you mean " + strconv.Quote(near) + "?)"
	}
	return e.fail(x.Line, name, msg)
}

// headValue looks up the path in an expression's head position (a literal there names a
// property, as `{{"foo bar"}}` means `{{[foo bar]}}`).
func (e *evaluator) headValue(x *ast.Expression, s scope) (any, error) {
	if p, ok := x.Path.(*ast.PathExpression); ok {
		return e.lookup(p, s, false)
	}
	name, _ := helperName(x)
	p := &ast.PathExpression{Loc: x.Loc, Original: name, Parts: []string{name}}
	return e.lookup(p, s, false)
}

// section renders a block over a value that is not a helper, as handlebars.js's
// blockHelperMissing does: true renders the body with the same context; false, null and empty
// arrays render the else part; arrays iterate like #each; anything else becomes the context.
func (e *evaluator) section(b *ast.BlockStatement, s scope, v any) (string, error) {
	v, err := e.data(v, b.Line, source(b.Expression))
	if err != nil {
		return "", err
	}
	switch t := v.(type) {
	case bool:
		if t {
			return e.invoke(b.Program, s, s.this, nil, nil)
		}
		return e.invoke(b.Inverse, s, s.this, nil, nil)
	case nil, missing:
		return e.invoke(b.Inverse, s, s.this, nil, nil)
	case []any:
		return e.each(b, s, t)
	}
	return e.invoke(b.Program, s, v, nil, nil)
}

// param evaluates one argument of a helper. allowMissing lets a path that names nothing
// evaluate to missing instead of failing.
func (e *evaluator) param(n ast.Node, s scope, allowMissing bool) (any, error) {
	switch n := n.(type) {
	case *ast.StringLiteral:
		return n.Value, nil
	case *ast.BooleanLiteral:
		return n.Value, nil
	case *ast.NumberLiteral:
		return e.numberLiteral(n)
	case *ast.SubExpression:
		return e.expression(n.Expression, s, nil, true)
	case *ast.PathExpression:
		if !n.Data && !n.Scoped && n.Depth == 0 && len(n.Parts) == 1 {
			switch n.Original {
			case "null":
				return nil, nil
			case "undefined":
				return missing{}, nil
			}
		}
		return e.lookup(n, s, allowMissing)
	}
	return nil, e.fail(n.Location().Line, "", "unsupported expression "+source(n))
}

// numberLiteralSyntax is handlebars.js's NUMBER token.
var numberLiteralSyntax = regexp.MustCompile(`^-?[0-9]+(?:\.[0-9]+)?$`)

// numberLiteral returns a number literal with its exact digits (leading zeros dropped, so it
// is a valid JSON number).
func (e *evaluator) numberLiteral(n *ast.NumberLiteral) (any, error) {
	s := n.Original
	if !numberLiteralSyntax.MatchString(s) {
		return nil, e.fail(n.Line, "", "invalid number literal "+strconv.Quote(s))
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if hasFrac {
		intPart += "." + frac
	}
	return json.Number(sign + intPart), nil
}

// cleanParts strips the brackets of segment literals ([foo bar] names the key "foo bar").
func cleanParts(parts []string) []string {
	out := parts
	for i, p := range parts {
		if len(p) >= 2 && p[0] == '[' && p[len(p)-1] == ']' {
			if &out[0] == &parts[0] {
				out = append([]string(nil), parts...)
			}
			out[i] = p[1 : len(p)-1]
		}
	}
	return out
}

// lookup resolves a path: a block param, a data variable (@index, @root.x, @../key) or a path
// on the context, `../` climbing handlebars.js 4.x depths. A path that names nothing is an error
// unless allowMissing.
func (e *evaluator) lookup(p *ast.PathExpression, s scope, allowMissing bool) (any, error) {
	parts := cleanParts(p.Parts)
	if p.Data {
		return e.lookupData(p, parts, s, allowMissing)
	}
	if !p.Scoped && p.Depth == 0 && len(parts) > 0 {
		if v, ok := s.params.get(parts[0]); ok {
			return e.walk(p, v, parts[1:], allowMissing)
		}
	}
	base := s.this
	if p.Depth > 0 {
		d := s.depths
		for i := 0; i < p.Depth && d != nil; i++ {
			d = d.next
		}
		if d == nil {
			if allowMissing {
				return missing{}, nil
			}
			return nil, e.fail(p.Line, p.Original, "path "+strconv.Quote(p.Original)+" climbs above the root context (#if, #unless and blocks that keep the context do not add a level for ../)")
		}
		base = d.ctx
	}
	return e.walk(p, base, parts, allowMissing)
}

// lookupData resolves a data variable such as @index, @root.a or @../key.
func (e *evaluator) lookupData(p *ast.PathExpression, parts []string, s scope, allowMissing bool) (any, error) {
	f := s.data
	for i := 0; i < p.Depth && f != nil; i++ {
		f = f.parent
	}
	var v any = missing{}
	if len(parts) > 0 {
		if found, ok := f.get(parts[0]); ok {
			v = found
		}
	}
	if _, ok := v.(missing); ok {
		if allowMissing {
			return v, nil
		}
		return nil, e.fail(p.Line, p.Original, "data variable "+strconv.Quote(p.Original)+" is not defined here")
	}
	return e.walk(p, v, parts[1:], allowMissing)
}

// walk follows parts from v, reading through `_s3_output_pointer` objects on the way.
func (e *evaluator) walk(p *ast.PathExpression, v any, parts []string, allowMissing bool) (any, error) {
	for _, part := range parts {
		next, found, perr := e.child(v, part)
		if perr != nil {
			return nil, &Error{Field: e.field, Line: p.Line, Path: p.Original,
				Msg: "path " + strconv.Quote(p.Original) + ": " + perr.what(), Err: perr.err}
		}
		if !found {
			v = missing{}
			break
		}
		v = next
	}
	if _, ok := v.(missing); ok && !allowMissing {
		return nil, e.fail(p.Line, p.Original, "path "+strconv.Quote(p.Original)+" not found in the context")
	}
	return v, nil
}

// data returns v, or what v points to when v is an `_s3_output_pointer` object. What is
// iterated (#each, slice, a section block) goes through the pointer, like a path that steps
// into it; elsewhere a value that ends at a pointer stays the pointer object (it may be a
// manifest, which must never be read as JSON).
func (e *evaluator) data(v any, line int, what string) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	target, isPointer, perr := e.r.through(e.ctx, m)
	if perr != nil {
		return nil, &Error{Field: e.field, Line: line, Path: what, Msg: "path " + strconv.Quote(what) + ": " + perr.what(), Err: perr.err}
	}
	if !isPointer {
		return v, nil
	}
	return target, nil
}

// child returns v[key] as handlebars.js's lookupProperty sees it: an object's own key, an
// array's index or length, a string's length or character. An object without the key that is
// an `_s3_output_pointer` is read and the key looked up in what it points to.
func (e *evaluator) child(v any, key string) (any, bool, *pointerError) {
	switch t := v.(type) {
	case map[string]any:
		if c, ok := t[key]; ok {
			return c, true, nil
		}
		target, isPointer, perr := e.r.through(e.ctx, t)
		if !isPointer || perr != nil {
			return nil, false, perr
		}
		if _, isMap := target.(map[string]any); isMap {
			return e.child(target, key)
		}
		c, ok := ownProperty(target, key)
		return c, ok, nil
	}
	c, ok := ownProperty(v, key)
	return c, ok, nil
}

// ownProperty returns an array's or string's own property key (an index or length).
func ownProperty(v any, key string) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		c, ok := t[key]
		return c, ok
	case []any:
		if key == "length" {
			return json.Number(strconv.Itoa(len(t))), true
		}
		if i, ok := arrayIndex(key); ok && i < len(t) {
			return t[i], true
		}
	case string:
		if key == "length" {
			return json.Number(strconv.Itoa(jsLength(t))), true
		}
		if i, ok := arrayIndex(key); ok {
			return jsCharAt(t, i)
		}
	}
	return nil, false
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

// arrayIndex parses a canonical array index ("0", "12"; not "01", "-1" or "+1").
func arrayIndex(key string) (int, bool) {
	if key == "" || len(key) > 9 || (key[0] == '0' && len(key) > 1) || !allDigits(key) {
		return 0, false
	}
	i, err := strconv.Atoi(key)
	return i, err == nil
}
