// Package query owns the DynamoDB side of an export: it builds the Query
// request from a config and pages through it until DynamoDB returns no
// LastEvaluatedKey. A page may hold zero items and still carry a key, so an
// empty page is never taken as the end.
package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/wire"
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

// Page is one Query response, as far as the export needs it.
type Page struct {
	Number int // 1-based
	Count  int // items in the page
	// Items are the page's items as the SDK decoded them, unless RawItems.
	Items []map[string]types.AttributeValue
	// Raw, from RawPages, is the capture this page's request carried. The
	// caller owns it and hands it back to the pool it came from when done.
	Raw *wire.Capture
	// RawItems says that Raw.Response.Items holds this page's items,
	// undecoded (the wire middleware ran); else they are in Items.
	RawItems         bool
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

// Pages runs the Query described by in, calling fn for each page in order
// until DynamoDB returns no LastEvaluatedKey, ctx ends, or fn fails.
//
// limit, when positive, caps the total number of items: each request's Limit
// is at most the number still wanted, so no page holds more items than are
// wanted and the last page's LastEvaluatedKey is exactly where a caller
// continues. pageSize, when positive, is the Limit of every request.
// in is not modified.
func Pages(ctx context.Context, api API, in *dynamodb.QueryInput, limit int64, pageSize int32, fn func(*Page) error) (Result, error) {
	return pages(ctx, api, in, limit, pageSize, nil, fn)
}

// RawPages is Pages without decoding items: each request carries a
// wire.Capture from next (which blocks until one is free, and fails when
// the caller is done), and the SDK's wire middleware leaves the raw body in
// it, so items are transcoded later, on the caller's goroutine, and the next
// request leaves as soon as this one's body is read. A client that does not
// run the middleware (a fake) still works: its pages carry Items.
func RawPages(ctx context.Context, api API, in *dynamodb.QueryInput, limit int64, pageSize int32, next func() (*wire.Capture, error), fn func(*Page) error) (Result, error) {
	return pages(ctx, api, in, limit, pageSize, next, fn)
}

func pages(ctx context.Context, api API, in *dynamodb.QueryInput, limit int64, pageSize int32, next func() (*wire.Capture, error), fn func(*Page) error) (Result, error) {
	req := *in
	var res Result
	for {
		req.Limit = requestLimit(limit-res.Items, limit > 0, pageSize)
		p := &Page{Number: res.Pages + 1}
		qctx := ctx
		var optFns []func(*dynamodb.Options)
		attempts := 0
		if next != nil {
			c, err := next()
			if err != nil {
				return res, err
			}
			if c == nil {
				return res, errors.New("query: no capture buffer")
			}
			p.Raw, attempts = c, c.Attempts
			qctx = wire.WithCapture(ctx, c)
			optFns = append(optFns, wire.WithRawItems)
		}
		out, err := api.Query(qctx, &req, optFns...)
		if err != nil {
			return res, &Error{Table: aws.ToString(in.TableName), Index: aws.ToString(in.IndexName), Page: p.Number, Err: err}
		}
		// A client without the middleware (a fake) leaves the capture
		// untouched, and the SDK's items in out.Items.
		p.RawItems = p.Raw != nil && p.Raw.Attempts > attempts
		if p.RawItems {
			p.Count = int(out.Count)
		} else {
			p.Items, p.Count = out.Items, len(out.Items)
		}
		p.LastEvaluatedKey = out.LastEvaluatedKey
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
