// Package config owns the step's typed configuration: decoding a rendered
// customConfig tree, defaults, and validation that names the field of every
// error.
//
// Decode takes a JSON value tree as encoding/json produces it with
// Decoder.UseNumber (nil, bool, string, json.Number, []any, map[string]any),
// after templates have been rendered. It knows nothing of templates or AWS
// clients.
package config

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Defaults.
const (
	// DefaultContentType is the Content-Type of the manifest object.
	DefaultContentType = "application/x-jsonlines"
	// MaxKeyBytes is S3's limit on the length of an object key.
	MaxKeyBytes = 1024
	// MaxPageSize is the largest Limit this step sends in one Query request.
	// DynamoDB itself caps a page at 1 MB, so a larger Limit is pointless.
	MaxPageSize = 1 << 30
)

// Config is one step's validated configuration.
type Config struct {
	Query                Query
	Destination          Destination
	Output               Output
	EnableItemOffloading bool
	// Resumable: an export that cannot finish before its deadline hands
	// back a continuation for the next invocation instead of failing.
	Resumable bool
	// Digest identifies the rendered tree this config was decoded from
	// (set by the caller that rendered it); a continuation is bound to it.
	Digest string
}

// Query describes the DynamoDB Query to page through.
type Query struct {
	TableName                 string // a table name or a table ARN
	IndexName                 string // empty: the table itself
	KeyConditionExpression    string
	ExpressionAttributeValues map[string]types.AttributeValue
	ExpressionAttributeNames  map[string]string // nil when not given
	FilterExpression          string
	ProjectionExpression      string
	ScanIndexForward          *bool // nil: DynamoDB's default (ascending)
	ConsistentRead            *bool // nil: DynamoDB's default (eventually consistent)
	Limit                     int64 // total items to write; 0: no limit
	PageSize                  int32 // Limit of each Query request; 0: DynamoDB's 1 MB pages
	ExclusiveStartKey         map[string]types.AttributeValue
	Parallelism               Parallelism // concurrent range readers
}

// MaxParallelism is the most range readers an export runs at once.
const MaxParallelism = 16

// Parallelism is query.parallelism: a fixed number of concurrent range
// readers, or Auto (as many as raise throughput without throttling, up to
// MaxParallelism). The zero value is one reader: the sequential Query.
type Parallelism struct {
	N    int // readers when not Auto; 0 or 1: one
	Auto bool
}

// Max is the most readers p allows.
func (p Parallelism) Max() int {
	if p.Auto {
		return MaxParallelism
	}
	return max(p.N, 1)
}

func (p Parallelism) String() string {
	if p.Auto {
		return "auto"
	}
	return strconv.Itoa(max(p.N, 1))
}

// Destination says where the manifest is written.
type Destination struct {
	BucketName           string
	Key                  string
	ContentType          string
	Overwrite            bool // false: write only if no object exists at Key
	ServerSideEncryption string
	KMSKeyID             string
	ExpectedBucketOwner  string
}

// Output says how items are written.
type Output struct {
	Format    Format
	Container Container
}
