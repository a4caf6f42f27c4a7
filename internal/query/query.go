// Package query owns the DynamoDB Query of an export: it builds the request
// from a config, pages through it until DynamoDB returns no
// LastEvaluatedKey (a page may hold zero items and still carry a key, so an
// empty page is never taken as the end), and hands each page over raw, its
// items undecoded.
//
// The SDK never decodes the items. A capture middleware (WithRawItems) on
// the Query reads each successful response body into the Capture the
// request's context carries, after checking its X-Amz-Crc32 itself, and
// hands the SDK only Count, ScannedCount and LastEvaluatedKey to decode.
// internal/lines then transcodes the captured Items array.
//
// Scan finds the members of a response body (Items, Count, ScannedCount,
// LastEvaluatedKey) and checks that it is well-formed JSON, at about the
// speed of json.Valid. The middleware runs on the goroutine that sends the
// next request, which needs this page's LastEvaluatedKey, at the end of the
// body: so it does not validate the Items array (Locate, about a third of
// Scan's time), and the transcoder, which parses every byte of it anyway,
// rejects malformed items with a *jsonlex.SyntaxError. Between them they
// reject what Scan rejects. It does even that much while the body arrives:
// a Follower delimits the Items array and the CRC32 is updated piece by
// piece, so that after the last byte only LocateFollowed's walk over the few
// other members is left (microseconds instead of half a millisecond per
// 1 MB page).
package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
)

// API is the one DynamoDB call this package makes.
type API interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Input builds the first Query request for q.
func Input(q *config.Query) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(q.TableName),
		KeyConditionExpression:    aws.String(q.KeyConditionExpression),
		ExpressionAttributeValues: q.ExpressionAttributeValues,
		ExpressionAttributeNames:  q.ExpressionAttributeNames,
		ScanIndexForward:          q.ScanIndexForward,
		ConsistentRead:            q.ConsistentRead,
		ExclusiveStartKey:         q.ExclusiveStartKey,
	}
	if q.IndexName != "" {
		in.IndexName = aws.String(q.IndexName)
	}
	if q.FilterExpression != "" {
		in.FilterExpression = aws.String(q.FilterExpression)
	}
	if q.ProjectionExpression != "" {
		in.ProjectionExpression = aws.String(q.ProjectionExpression)
	}
	return in
}

// Page is one Query response. Its items are not decoded: they are in
// Raw.Response.Items, as DynamoDB sent them.
type Page struct {
	Number int // 1-based
	Count  int // items in the page, as the response's Count says
	// Raw is the capture this page's request carried, holding the body.
	// The caller owns it and hands it back to the pool it came from when
	// done.
	Raw              *Capture
	LastEvaluatedKey map[string]types.AttributeValue // nil on the last page
}

// Result says how far paging got.
type Result struct {
	Pages int
	Items int64 // items handed to the callback
	// Truncated is true when the item limit stopped paging while DynamoDB
	// still had a LastEvaluatedKey; LastEvaluatedKey is where to continue.
	Truncated        bool
	LastEvaluatedKey map[string]types.AttributeValue
}

// errNotCaptured is a Query call that returned without the capture
// middleware reading its body: a client that does not run the per-call
// options it is given.
var errNotCaptured = errors.New("query: the response body was not captured (the client must run the options Query is given)")

// Pages runs the Query described by in, calling fn for each page in order
// until DynamoDB returns no LastEvaluatedKey, ctx ends, or fn fails.
//
// The SDK does not decode items: each request carries a Capture from next
// (which blocks until one is free, and fails when the caller is done), and
// the capture middleware (WithRawItems, added to each call) leaves the raw
// body in it, so items are transcoded later, on the caller's goroutine,
// and the next request leaves as soon as this one's body is read.
//
// limit, when positive, caps the total number of items: each request's Limit
// is at most the number still wanted, so no page holds more items than are
// wanted and the last page's LastEvaluatedKey is exactly where a caller
// continues. pageSize, when positive, is the Limit of every request.
// in is not modified.
func Pages(ctx context.Context, api API, in *dynamodb.QueryInput, limit int64, pageSize int32, next func() (*Capture, error), fn func(*Page) error) (Result, error) {
	req := *in
	var res Result
	for {
		req.Limit = requestLimit(limit-res.Items, limit > 0, pageSize)
		c, err := next()
		if err != nil {
			return res, err
		}
		p, out, err := One(ctx, api, &req, c, res.Pages+1)
		if err != nil {
			return res, err
		}
		res.Pages++
		res.Items += int64(p.Count)
		res.LastEvaluatedKey = out.LastEvaluatedKey
		if err := fn(p); err != nil {
			return res, err
		}
		if len(out.LastEvaluatedKey) == 0 {
			res.LastEvaluatedKey = nil
			return res, nil
		}
		if limit > 0 && res.Items >= limit {
			res.Truncated = true
			return res, nil
		}
		req.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// One sends req once (the SDK retrying as configured), with its body
// captured into c, and returns the page, numbered number. The page's Raw is
// c.
func One(ctx context.Context, api API, req *dynamodb.QueryInput, c *Capture, number int, optFns ...func(*dynamodb.Options)) (*Page, *dynamodb.QueryOutput, error) {
	if c == nil {
		return nil, nil, errors.New("query: no capture buffer")
	}
	p := &Page{Number: number, Raw: c}
	attempts := c.Attempts
	out, err := api.Query(WithCapture(ctx, c), req, append([]func(*dynamodb.Options){WithRawItems}, optFns...)...)
	if err != nil {
		return nil, nil, &Error{Table: aws.ToString(req.TableName), Index: aws.ToString(req.IndexName), Page: number, Err: err}
	}
	if c.Attempts == attempts {
		return nil, nil, &Error{Table: aws.ToString(req.TableName), Index: aws.ToString(req.IndexName), Page: number, Err: errNotCaptured}
	}
	p.Count = int(out.Count)
	p.LastEvaluatedKey = out.LastEvaluatedKey
	return p, out, nil
}

func requestLimit(remaining int64, limited bool, pageSize int32) *int32 {
	n := int64(pageSize)
	if limited && (n == 0 || remaining < n) {
		n = remaining
	}
	if n <= 0 {
		return nil
	}
	return aws.Int32(int32(min(n, config.MaxPageSize)))
}

// Error is a failed Query request; it says which table, index and page.
type Error struct {
	Table, Index string
	Page         int
	Err          error
}

func (e *Error) Error() string {
	where := "table " + e.Table
	if e.Index != "" {
		where += " index " + e.Index
	}
	return fmt.Sprintf("query %s (page %d): %v", where, e.Page, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
