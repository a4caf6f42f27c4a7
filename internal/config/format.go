package config

import "fmt"

// Format is a manifest line format (output.format).
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

// Container is how the manifest holds its items (output.container).
type Container uint8

const (
	// JSONL is one item per line, each line ending in a newline.
	JSONL Container = iota
	// Array is one JSON array: "[", the items separated by ",\n", "]"
	// ("[]" when there are none), for readers that take one JSON document
	// (a Distributed Map's ItemReader with InputType JSON).
	Array
)

// ArrayContentType is the manifest's default Content-Type with the array
// container.
const ArrayContentType = "application/json"

// ParseContainer reads output.container: "jsonl" (or empty) or "array".
func ParseContainer(s string) (Container, error) {
	switch s {
	case "", "jsonl":
		return JSONL, nil
	case "array":
		return Array, nil
	}
	return JSONL, fmt.Errorf(`unknown container %q: expected "jsonl" or "array"`, s)
}

// String returns the configuration name of c: "jsonl" or "array".
func (c Container) String() string {
	if c == Array {
		return "array"
	}
	return "jsonl"
}
