package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/render"
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

// dryRun plans ev with a handler whose only AWS access is pointer reads: a
// template that goes through an _s3_output_pointer reads it with a GET, as
// the real run would, and the AWS clients are built for that read only.
// Without credentials or a region it exits with ExitNoAWS, saying the
// config cannot be validated without AWS access.
func dryRun(parent context.Context, env Env, opts *options, ev *step.Event) int {
	ctx, cancel := withTimeout(parent, opts)
	defer cancel()
	if err := setAWSEnv(env, opts); err != nil {
		return fail(env.Stderr, err)
	}
	pointers := &lazyPointers{env: env}
	cfg, err := step.New(step.Deps{Pointers: pointers}).Plan(ctx, ev)
	if err != nil {
		if pointers.setupErr != nil && parent.Err() == nil {
			fmt.Fprintf(env.Stderr, "manifest-cli: cannot validate without AWS access: the templates read an _s3_output_pointer from S3, "+
				"and the AWS setup failed: %v\n%v\n", pointers.setupErr, err)
			return ExitNoAWS
		}
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

// lazyPointers reads _s3_output_pointer objects for a dry run with the
// clients env.Deps builds, on the first read: a dry run whose templates read
// no pointer needs no AWS setup at all. It is not safe for concurrent use,
// and need not be: a Renderer reads pointers one at a time.
type lazyPointers struct {
	env      Env
	reader   render.PointerReader
	setupErr error // why the clients could not be built
}

var _ render.PointerReader = (*lazyPointers)(nil)

// ReadJSON implements render.PointerReader.
func (l *lazyPointers) ReadJSON(ctx context.Context, bucket, key, versionID string) (any, error) {
	if l.reader == nil && l.setupErr == nil {
		deps, err := l.env.Deps(ctx, slog.New(slog.DiscardHandler))
		switch {
		case err != nil:
			l.setupErr = err
		case deps.Pointers == nil:
			l.setupErr = errors.New("no S3 client for pointer reads")
		default:
			l.reader = deps.Pointers
		}
	}
	if l.setupErr != nil {
		return nil, fmt.Errorf("cannot validate without AWS access: %w", l.setupErr)
	}
	return l.reader.ReadJSON(ctx, bucket, key, versionID)
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
	return lines.AppendDynamoJSON(nil, m)
}
