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
//
// The middleware runs on the goroutine that sends the next request, which
// needs this page's LastEvaluatedKey, at the end of the body: so it does
// not validate the Items array (Locate, about a third of Scan's time), and
// the Transcoder, which parses every byte of it anyway, rejects malformed
// items with a *SyntaxError. Between them they reject what Scan rejects.
// It does even that much while the body arrives: a Follower delimits the
// Items array and the CRC32 is updated piece by piece, so that after the
// last byte only LocateFollowed's walk over the few other members is left
// (microseconds instead of half a millisecond per 1 MB page).
package wire
