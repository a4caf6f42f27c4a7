package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem with one field of the configuration.
type FieldError struct {
	Field string // path relative to the config, e.g. "query.tableName"
	Msg   string // what is wrong and what was expected
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errors is every problem found in one configuration, in field order.
type Errors []*FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns each FieldError, for errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es *Errors) add(field, format string, args ...any) {
	*es = append(*es, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}
