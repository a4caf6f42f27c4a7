// Package bench measures an export end to end without AWS: it serves
// pre-built DynamoDB Query pages and a byte-counting S3 from in-process HTTP
// servers, runs the real handler (awsenv's clients, step.Handler) against
// them, and runs the floor the handler is compared with: the same pages
// fetched with the same client, each body checked with json.Valid and
// nothing else.
//
// The fakes behave like a real endpoint: they read the whole request body
// and answer a millisecond or more later. Against an endpoint that answers
// within microseconds on 127.0.0.1 the SDK can close a request body while
// Go's transport is still writing it, the connection drops mid-page, the
// CRC32 check fails and the page is fetched again; Stats counts requests per
// page so that such re-fetches show in the figures instead of hiding in them.
//
// Nothing here is used by the function itself; cmd/benchdriver and this
// package's benchmarks are its only callers.
package bench
