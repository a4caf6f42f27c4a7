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
// Besides those pre-built pages, the fake DynamoDB serves a
// ddbrange.Partition (AddPartition): items
// sorted by their sort key (N as exact decimals, S and B bytewise), queried
// with the key conditions DynamoDB accepts (=, <, <=, >, >=, BETWEEN,
// begins_with), in either order, from any ExclusiveStartKey, on the table
// or on an index whose sort keys repeat; pages are cut at 1 MB of items,
// take a latency proportional to their size, and the partition answers
// ProvisionedThroughputExceededException above its read cap. It answers
// DescribeTable too. These are what a parallel export's range readers meet.
//
// Nothing here is used by the function itself; cmd/benchdriver and this
// package's benchmarks are its only callers.
package bench
