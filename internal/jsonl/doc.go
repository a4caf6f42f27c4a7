// Package jsonl writes DynamoDB items as JSON, one object per manifest line, in
// the two manifest formats: plain JSON and DynamoDB JSON.
//
// The encoder is written by hand rather than on encoding/json: it appends to a
// caller's buffer, reuses its scratch space and allocates nothing per item in
// steady state. Numbers keep exactly DynamoDB's digits and never pass through
// float64; object keys are sorted by code point (Go string order) at every
// level; output is compact UTF-8 without a byte order mark.
//
// Two decisions go beyond JSON's rules. Numbers that DynamoDB's grammar allows
// and JSON's does not ("+5", ".5", "5.", "007") are rewritten in plain format
// to the JSON spelling of the same value with the same digits (see
// attr.AppendJSONNumber), and kept as DynamoDB's string in dynamodb format;
// anything that is not a number is an error. Strings and keys that are not
// valid UTF-8 are an error rather than silently replaced with U+FFFD: DynamoDB
// stores only UTF-8, so such a string did not come from it unchanged.
package jsonl
