// Package wire turns raw DynamoDB Query response bodies straight into
// manifest lines, without the SDK decoding the items into
// types.AttributeValue.
//
// Scan finds the members of a response body (Items, Count, ScannedCount,
// LastEvaluatedKey) and checks that it is well-formed JSON, at about the
// speed of json.Valid. A Transcoder writes the Items array as JSON lines,
// byte for byte what jsonl's encoder writes for the items as the SDK would
// decode them, with the same errors. AddMiddleware installs a deserialize
// middleware on a DynamoDB client's Query that captures each successful
// response body (after checking its X-Amz-Crc32 itself) into a Capture
// carried by the request's context, and hands the SDK only Count,
// ScannedCount and LastEvaluatedKey to decode.
package wire
