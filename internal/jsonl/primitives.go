package jsonl

// This file exports the encoder's primitives, unchanged, for packages that
// produce the same lines from other input (internal/wire transcodes a raw
// Query response body). Escaping and number normalisation stay in one place.

// AppendString appends s as a JSON string, escaped exactly as AppendItem
// escapes strings and keys (see appendString). A string that is not valid
// UTF-8 is an *Error (with an empty Path) and dst is returned unchanged.
func AppendString(dst []byte, s string) ([]byte, error) {
	out, err := appendString(dst, s)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendNumber appends the DynamoDB number n as e's format writes it: a JSON
// number (normalised as attr.AppendJSONNumber does) in Plain, the string as
// given, quoted, in DynamoDB format. A string that is not a number is an
// *Error (with an empty Path) and dst is returned unchanged.
func (e *Encoder) AppendNumber(dst []byte, n string) ([]byte, error) {
	dst, err := e.appendNumber(dst, n)
	if err != nil {
		return dst, err
	}
	return dst, nil
}

// NilValueError returns the *Error AppendItem reports for an attribute whose
// value is nil (what the SDK decodes from {"X": ...} with an unknown type
// descriptor, or from null), with an empty Path.
func NilValueError() *Error { return nilValue(nil) }

// TooDeepError returns the *Error AppendItem reports for a list or map
// nested deeper than attr.MaxDepth, with an empty Path.
func TooDeepError() *Error { return tooDeep() }
