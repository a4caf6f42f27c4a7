package render

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aymerick/raymond/ast"

	"github.com/allma/ddb-query-to-s3-manifest/internal/render/internal/parser"
)

// maxOutputBytes caps the text one template may render to: config values are small, and a
// template such as nested #each over the same array could otherwise grow without bound.
const maxOutputBytes = 4 << 20

// parseErrorLine finds the line number in raymond's parse errors ("Parse error on line 3:\n...").
var parseErrorLine = regexp.MustCompile(`^Parse error on line (\d+):\s*`)

// lexerError finds the message in raymond's lexer errors (`Lexer error Token: Error{"..."}`).
var lexerError = regexp.MustCompile(`^Lexer error Token: Error\{"(.*)"\}$`)

// maxTemplateBytes caps the size of one template (a string holding `{{`): config values are
// keys, expressions and attribute values, far smaller; parsing is linear in the template, and
// its AST a multiple of it. A string without `{{` is not a template and has no such limit.
const maxTemplateBytes = 64 << 10

// parse parses tmpl with raymond's parser (a copy whose lexer goroutine always ends). A syntax
// error, a panic inside the parser or a template over maxTemplateBytes is an *Error without a
// field.
func parse(tmpl string) (prog *ast.Program, err *Error) {
	if len(tmpl) > maxTemplateBytes {
		return nil, &Error{Msg: fmt.Sprintf("template of %d bytes: at most %d bytes may hold {{...}} (a longer literal string has no {{ and no limit)", len(tmpl), maxTemplateBytes)}
	}
	defer func() {
		if p := recover(); p != nil {
			prog, err = nil, &Error{Msg: fmt.Sprintf("syntax error: %v", p)}
		}
	}()
	prog, perr := parser.Parse(tmpl)
	if perr != nil {
		return nil, syntaxError(perr)
	}
	return prog, nil
}

// syntaxError turns raymond's multi-line parse error into a one-line *Error with its line.
func syntaxError(err error) *Error {
	msg := err.Error()
	line := 0
	if m := parseErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if m := lexerError.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	} else if i := strings.Index(msg, " Token: "); i > 0 {
		msg = msg[:i]
	}
	return &Error{Line: line, Msg: "syntax error: " + msg}
}

// wholeValue returns the template's only statement if it is a mustache and nothing else (empty
// content left by whitespace control does not count), or nil.
func wholeValue(prog *ast.Program) *ast.MustacheStatement {
	var found *ast.MustacheStatement
	for _, n := range prog.Body {
		switch n := n.(type) {
		case *ast.ContentStatement:
			if n.Value != "" {
				return nil
			}
		case *ast.MustacheStatement:
			if found != nil {
				return nil
			}
			found = n
		default:
			return nil
		}
	}
	return found
}

// output collects rendered text up to a limit.
type output struct {
	strings.Builder
	limit int
}

// newOutput returns an empty output with the Renderer's limit.
func (e *evaluator) newOutput() *output {
	return &output{limit: e.r.maxOutput}
}

// add appends s, or fails if the output would grow beyond its limit.
func (o *output) add(s string) error {
	if o.Len()+len(s) > o.limit {
		return fmt.Errorf("rendered text exceeds %d bytes", o.limit)
	}
	o.WriteString(s)
	return nil
}
