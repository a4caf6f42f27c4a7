// Package lines turns DynamoDB items into manifest lines: one JSON object
// per item, a newline after each, in either format of config.Format (plain
// JSON or DynamoDB JSON).
//
// A Transcoder writes the lines straight from the raw Items array of a
// Query response body (internal/query captures it), without decoding the
// items into types.AttributeValue: it is how the export writes every page.
// An Encoder writes the same lines from SDK-typed items; it serves where
// values arrive SDK-typed (the LastEvaluatedKey in a step's output, the
// CLI's dry run) and is the independent oracle the transcoder's property
// tests and fuzzing compare with, byte for byte and error for error. Both
// share the string, number and error primitives in this package.
//
// The lines are written by hand rather than with encoding/json: they are
// appended to a caller's buffer, scratch space is reused and nothing is
// allocated per item in steady state. Numbers keep exactly DynamoDB's
// digits and never pass through float64; object keys are sorted by code
// point (Go string order) at every level; output is compact UTF-8 without a
// byte order mark.
//
// Two decisions go beyond JSON's rules. Numbers that DynamoDB's grammar allows
// and JSON's does not ("+5", ".5", "5.", "007") are rewritten in plain format
// to the JSON spelling of the same value with the same digits (see
// attr.AppendJSONNumber), and kept as DynamoDB's string in dynamodb format;
// anything that is not a number is an error. Strings and keys that are not
// valid UTF-8 are an error rather than silently replaced with U+FFFD: DynamoDB
// stores only UTF-8, so such a string did not come from it unchanged.
package lines
