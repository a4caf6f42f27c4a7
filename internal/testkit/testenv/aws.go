package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
)

var seq atomic.Int64

// Name returns a name unique within this process run, usable as a table or
// bucket name (lowercase letters, digits and dashes).
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// Table describes a table to create: hash key "pk" (S) and range key "sk"
// (S) unless Attrs says otherwise; GSIs and LSIs project everything.
type Table struct {
	Name       string
	HashKey    string
	RangeKey   string                               // empty: none
	Attrs      map[string]types.ScalarAttributeType // key attribute types; default S
	GSIs, LSIs []Index
}

// Index is a secondary index of a Table.
type Index struct{ Name, HashKey, RangeKey string }

// CreateTable creates t in dynalite and waits until it is active.
func (s *Stack) CreateTable(ctx context.Context, t Table) error {
	db := s.DynamoDB(ctx)
	attrType := func(n string) types.ScalarAttributeType {
		if v, ok := t.Attrs[n]; ok {
			return v
		}
		return types.ScalarAttributeTypeS
	}
	seen := map[string]bool{}
	var defs []types.AttributeDefinition
	def := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: attrType(n)})
		}
	}
	schema := func(h, r string) []types.KeySchemaElement {
		def(h)
		def(r)
		ks := []types.KeySchemaElement{{AttributeName: aws.String(h), KeyType: types.KeyTypeHash}}
		if r != "" {
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(r), KeyType: types.KeyTypeRange})
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(t.Name),
		KeySchema:   schema(t.HashKey, t.RangeKey),
		BillingMode: types.BillingModePayPerRequest,
	}
	for _, g := range t.GSIs {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(g.Name), KeySchema: schema(g.HashKey, g.RangeKey),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	for _, l := range t.LSIs {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(l.Name), KeySchema: schema(l.HashKey, l.RangeKey),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	in.AttributeDefinitions = defs
	if _, err := db.CreateTable(ctx, in); err != nil {
		return fmt.Errorf("create table %s: %w", t.Name, err)
	}
	return dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	}).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)}, 30*time.Second)
}

// PutItems writes items with BatchWriteItem, 25 at a time, retrying
// unprocessed items.
func (s *Stack) PutItems(ctx context.Context, table string, items []map[string]types.AttributeValue) error {
	db := s.DynamoDB(ctx)
	for start := 0; start < len(items); start += 25 {
		var reqs []types.WriteRequest
		for _, it := range items[start:min(start+25, len(items))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		pending := map[string][]types.WriteRequest{table: reqs}
		for len(pending) > 0 {
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("batch write %s: %w", table, err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// CreateBucket creates a bucket in versitygw, versioned when asked.
func (s *Stack) CreateBucket(ctx context.Context, name string, versioned bool) error {
	c := s.S3(ctx)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	if versioned {
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
		}); err != nil {
			return fmt.Errorf("enable versioning on %s: %w", name, err)
		}
	}
	return nil
}

// GetObject reads a whole object.
func (s *Stack) GetObject(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.S3(ctx).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// AssertNothingLeft fails t unless there is no object at bucket/key and no
// open multipart upload for it.
func (s *Stack) AssertNothingLeft(t testing.TB, ctx context.Context, bucket, key string) {
	t.Helper()
	c := s.S3(ctx)
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var api smithy.APIError
	if err == nil {
		t.Errorf("an object was left at s3://%s/%s", bucket, key)
	} else if !errors.As(err, &api) || (api.ErrorCode() != "NotFound" && api.ErrorCode() != "NoSuchKey" && api.ErrorCode() != "NoSuchBucket") {
		t.Errorf("HeadObject s3://%s/%s: %v", bucket, key, err)
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		if errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket" {
			return
		}
		t.Errorf("ListMultipartUploads %s: %v", bucket, err)
		return
	}
	for _, u := range ups.Uploads {
		if aws.ToString(u.Key) == key {
			t.Errorf("a multipart upload was left open for s3://%s/%s (upload id %s)", bucket, key, aws.ToString(u.UploadId))
		}
	}
}

// Lines splits a manifest into its lines, failing t unless every line ends
// in a newline.
func Lines(t testing.TB, body []byte) []string {
	t.Helper()
	if len(body) == 0 {
		return nil
	}
	s := string(body)
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("manifest does not end in a newline: %q", s[max(0, len(s)-80):])
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// CheckManifest reads the manifest at bucket/key and compares it line by line
// with the plain-format projection of want.
func (s *Stack) CheckManifest(t testing.TB, bucket, key string, want []map[string]types.AttributeValue) {
	t.Helper()
	body, err := s.GetObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	lines := Lines(t, body)
	if len(lines) != len(want) {
		t.Fatalf("manifest has %d lines, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var got any
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, line)
		}
		if diff := cmp.Diff(attr.PlainValue(&types.AttributeValueMemberM{Value: want[i]}), got); diff != "" {
			t.Fatalf("line %d differs (-want +got):\n%s", i, diff)
		}
	}
}
