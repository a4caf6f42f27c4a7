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

import (
	"fmt"
)

// Format is a manifest line format.
type Format uint8

const (
	// Plain writes each item as plain JSON: S → string, N → number with
	// DynamoDB's digits, B → base64 string, BOOL → boolean, NULL → null, L →
	// array, M → object, SS/NS/BS → arrays (NS as numbers, BS as base64).
	Plain Format = iota
	// DynamoDB writes each item in DynamoDB JSON, {"pk":{"S":"x"}}, which
	// attr.FromJSON reads back to the same item.
	DynamoDB
)

// Names of the formats in configuration (output.format).
const (
	plainName    = "plain"
	dynamoDBName = "dynamodb"
)

// ParseFormat returns the format named s: "plain", "dynamodb", or "" for the
// default, Plain. Any other name is an error listing the valid ones.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", plainName:
		return Plain, nil
	case dynamoDBName:
		return DynamoDB, nil
	}
	return Plain, fmt.Errorf("unknown format %q: expected %q or %q", s, plainName, dynamoDBName)
}

// String returns the configuration name of f: "plain" or "dynamodb".
func (f Format) String() string {
	switch f {
	case Plain:
		return plainName
	case DynamoDB:
		return dynamoDBName
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}
