package render

import (
	"strconv"
	"strings"
)

// Error is one failing field: where it failed (config field, template line), what it named
// (a template path or a JSONPath) and why. When the cause is an error from elsewhere (a pointer
// read from S3), Err holds it and Unwrap returns it, so callers can classify it with errors.As.
type Error struct {
	Field string // config path, e.g. destination.key or a.b[2]; empty when rendering a bare value
	Line  int    // 1-based template line, 0 if not applicable
	Path  string // the template path or JSONPath involved, if any
	Msg   string // what went wrong, without the field and line
	Err   error  // underlying cause, if any
}

// Error reads like `destination.key: template line 1: path "userId" not found in the context`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		b.WriteString("template line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every failing field of a config, in field order (map keys sorted, array elements
// in index order).
type Errors []*Error

// Error joins the errors with "; ".
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
