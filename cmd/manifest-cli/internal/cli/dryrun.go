package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonl"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// Plan is what --dry-run prints: the first Query request in the DynamoDB
// API's own JSON (what `aws dynamodb query --cli-input-json` takes), the
// item limit, and where and how the manifest would be written.
type Plan struct {
	DryRun               bool            `json:"dryRun"`
	Shape                string          `json:"shape"`
	Query                QueryRequest    `json:"query"`
	Limit                int64           `json:"limit,omitempty"` // total items; 0: all
	Destination          DestinationPlan `json:"destination"`
	Format               string          `json:"format"`
	EnableItemOffloading bool            `json:"enableItemOffloading"`
}

// QueryRequest is a dynamodb.QueryInput in the API's JSON field names, with
// attribute values in DynamoDB JSON.
type QueryRequest struct {
	TableName                 string            `json:"TableName"`
	IndexName                 string            `json:"IndexName,omitempty"`
	KeyConditionExpression    string            `json:"KeyConditionExpression"`
	FilterExpression          string            `json:"FilterExpression,omitempty"`
	ProjectionExpression      string            `json:"ProjectionExpression,omitempty"`
	ExpressionAttributeNames  map[string]string `json:"ExpressionAttributeNames,omitempty"`
	ExpressionAttributeValues json.RawMessage   `json:"ExpressionAttributeValues,omitempty"`
	ExclusiveStartKey         json.RawMessage   `json:"ExclusiveStartKey,omitempty"`
	ScanIndexForward          *bool             `json:"ScanIndexForward,omitempty"`
	ConsistentRead            *bool             `json:"ConsistentRead,omitempty"`
	Limit                     *int32            `json:"Limit,omitempty"` // of the first request
}

// DestinationPlan is where the manifest would be written.
type DestinationPlan struct {
	Bucket               string `json:"bucket"`
	Key                  string `json:"key"`
	ContentType          string `json:"contentType"`
	Overwrite            bool   `json:"overwrite"`
	ServerSideEncryption string `json:"serverSideEncryption,omitempty"`
	KMSKeyID             string `json:"kmsKeyId,omitempty"`
	ExpectedBucketOwner  string `json:"expectedBucketOwner,omitempty"`
}

// dryRun plans ev with a handler that has no AWS clients at all, so nothing
// can reach the network; a template that goes through an
// _s3_output_pointer fails here, since reading it would need S3.
func dryRun(parent context.Context, env Env, opts *options, ev *step.Event) int {
	ctx, cancel := withTimeout(parent, opts)
	defer cancel()
	cfg, err := step.New(step.Deps{}).Plan(ctx, ev)
	if err != nil {
		return failRun(parent, env.Stderr, err)
	}
	p, err := NewPlan(ev.Shape, cfg)
	if err != nil {
		return fail(env.Stderr, err)
	}
	if err := printJSON(env.Stdout, p); err != nil {
		fmt.Fprintf(env.Stderr, "manifest-cli: write output: %v\n", err)
		return ExitTransient
	}
	return ExitOK
}

// NewPlan describes what running cfg would do.
func NewPlan(shape step.Shape, cfg *config.Config) (*Plan, error) {
	in := query.Input(&cfg.Query)
	q := QueryRequest{
		TableName:                aws.ToString(in.TableName),
		IndexName:                aws.ToString(in.IndexName),
		KeyConditionExpression:   aws.ToString(in.KeyConditionExpression),
		FilterExpression:         aws.ToString(in.FilterExpression),
		ProjectionExpression:     aws.ToString(in.ProjectionExpression),
		ExpressionAttributeNames: in.ExpressionAttributeNames,
		ScanIndexForward:         in.ScanIndexForward,
		ConsistentRead:           in.ConsistentRead,
		Limit:                    firstLimit(cfg.Query.Limit, cfg.Query.PageSize),
	}
	var err error
	if q.ExpressionAttributeValues, err = dynamoJSON(in.ExpressionAttributeValues); err != nil {
		return nil, fmt.Errorf("query.expressionAttributeValues: %w", err)
	}
	if q.ExclusiveStartKey, err = dynamoJSON(in.ExclusiveStartKey); err != nil {
		return nil, fmt.Errorf("query.exclusiveStartKey: %w", err)
	}
	d := cfg.Destination
	return &Plan{
		DryRun: true,
		Shape:  shape.String(),
		Query:  q,
		Limit:  cfg.Query.Limit,
		Destination: DestinationPlan{
			Bucket: d.BucketName, Key: d.Key, ContentType: d.ContentType, Overwrite: d.Overwrite,
			ServerSideEncryption: d.ServerSideEncryption, KMSKeyID: d.KMSKeyID, ExpectedBucketOwner: d.ExpectedBucketOwner,
		},
		Format:               cfg.Output.Format.String(),
		EnableItemOffloading: cfg.EnableItemOffloading,
	}, nil
}

// firstLimit is the Limit of the first request: the page size, capped by
// the item limit.
func firstLimit(limit int64, pageSize int32) *int32 {
	n := int64(pageSize)
	if limit > 0 && (n == 0 || limit < n) {
		n = limit
	}
	if n <= 0 {
		return nil
	}
	return aws.Int32(int32(min(n, config.MaxPageSize)))
}

func dynamoJSON(m map[string]types.AttributeValue) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return jsonl.AppendDynamoJSON(nil, m)
}
