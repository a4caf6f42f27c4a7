// Package query owns the DynamoDB side of an export: it builds the Query
// request from a config and pages through it until DynamoDB returns no
// LastEvaluatedKey. A page may hold zero items and still carry a key, so an
// empty page is never taken as the end.
package query

import (
	"context"
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

// Page is one Query response, as far as the export needs it.
type Page struct {
	Number           int // 1-based
	Items            []map[string]types.AttributeValue
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
	req := *in
	var res Result
	for {
		req.Limit = requestLimit(limit-res.Items, limit > 0, pageSize)
		out, err := api.Query(ctx, &req)
		if err != nil {
			return res, &Error{Table: aws.ToString(in.TableName), Index: aws.ToString(in.IndexName), Page: res.Pages + 1, Err: err}
		}
		res.Pages++
		res.Items += int64(len(out.Items))
		res.LastEvaluatedKey = out.LastEvaluatedKey
		if err := fn(&Page{Number: res.Pages, Items: out.Items, LastEvaluatedKey: out.LastEvaluatedKey}); err != nil {
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
