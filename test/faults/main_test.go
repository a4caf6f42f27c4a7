// Package faults holds the fault matrix of issue 6: the handler runs in
// process against real dynalite and versitygw, with a faultproxy in front
// of each, and every test checks the errorType, the message, that nothing
// was left at the destination, and, when retries recover, the manifest.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/allma/ddb-query-to-s3-manifest/internal/awsenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

var (
	stack    *testenv.Stack
	stackErr error
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(s *testenv.Stack, err error) { stack, stackErr = s, err })
}

// testMaxBackoff caps the SDK's backoff in the test clients so the suite
// stays fast; the number of attempts is production's (awsenv.MaxAttempts).
const testMaxBackoff = 20 * time.Millisecond

// Partitions of the shared table, all under PK = USER#<name>.
const (
	bigUser   = "big"   // bigCount items of ~1 KB: a manifest of two parts
	smallUser = "small" // smallCount items: one PutObject
	hugeUser  = "huge"  // hugeCount items of ~40 KB: ~24 MB, ~24 pages
)

const (
	bigCount   = 6000
	smallCount = 50
	hugeCount  = 600
	hugeSize   = 40 << 10
)

var (
	seedOnce  sync.Once
	seedErr   error
	table     string
	hugeOnce  sync.Once
	hugeErr   error
	bigItems  = items(bigUser, bigCount, 900)
	smallItem = items(smallUser, smallCount, 10)
)

// items makes n items under USER#<user>, in sort-key order, with every
// attribute type and a filler of size bytes.
func items(user string, n, size int) []map[string]types.AttributeValue {
	out := make([]map[string]types.AttributeValue, n)
	filler := strings.Repeat("x", size)
	for i := range out {
		out[i] = map[string]types.AttributeValue{
			"PK":     &types.AttributeValueMemberS{Value: "USER#" + user},
			"SK":     &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#%06d", i)},
			"n":      &types.AttributeValueMemberN{Value: fmt.Sprintf("1234567890123456789012345678901234567.%d", i%9+1)},
			"ok":     &types.AttributeValueMemberBOOL{Value: i%2 == 0},
			"none":   &types.AttributeValueMemberNULL{Value: true},
			"bin":    &types.AttributeValueMemberB{Value: []byte{0, 1, 2, byte(i)}},
			"tags":   &types.AttributeValueMemberSS{Value: []string{"a", "ü\"q"}},
			"nested": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "-0.5"}}}}},
			"filler": &types.AttributeValueMemberS{Value: filler},
		}
	}
	return out
}

// ready skips or fails t without the stack, and seeds the shared table
// once.
func ready(t *testing.T) {
	t.Helper()
	testenv.Require(t, stackErr)
	seedOnce.Do(func() {
		ctx := context.Background()
		table = testenv.Name("faults")
		if seedErr = stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); seedErr != nil {
			return
		}
		seedErr = putItems(ctx, table, append(append([]map[string]types.AttributeValue{}, bigItems...), smallItem...))
	})
	if seedErr != nil {
		t.Fatalf("seed: %v", seedErr)
	}
}

// seedHuge adds the huge partition (only the early-stop test needs it).
func seedHuge(t *testing.T) {
	t.Helper()
	hugeOnce.Do(func() { hugeErr = putItems(context.Background(), table, items(hugeUser, hugeCount, hugeSize)) })
	if hugeErr != nil {
		t.Fatalf("seed huge: %v", hugeErr)
	}
}

// putItems writes items with a few writers at once: seeding is most of
// the suite's time.
func putItems(ctx context.Context, table string, all []map[string]types.AttributeValue) error {
	const writers = 4
	chunk := (len(all) + writers - 1) / writers
	errs := make(chan error, writers)
	for start := 0; start < len(all); start += chunk {
		part := all[start:min(start+chunk, len(all))]
		go func() { errs <- stack.PutItems(ctx, table, part) }()
	}
	var err error
	for start := 0; start < len(all); start += chunk {
		err = errors.Join(err, <-errs)
	}
	return err
}

// rig is one test's view of the stack: a proxy in front of each server, a
// bucket of its own and a handler whose clients go through the proxies.
type rig struct {
	ddb, s3 *faultproxy.Proxy
	bucket  string
	h       *step.Handler
	s3c     *s3.Client
	emf     bytes.Buffer // the metrics records of the handler's invocations
}

// lastRecord returns the values of the last invocation's metrics record.
func (r *rig) lastRecord(t *testing.T) map[string]int64 {
	t.Helper()
	lines := bytes.SplitAfter(bytes.TrimSuffix(r.emf.Bytes(), []byte("\n")), []byte("\n"))
	rec, err := metrics.Parse(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("metrics record: %v\n%s", err, r.emf.Bytes())
	}
	m := map[string]int64{}
	for _, x := range rec.Metrics {
		m[x.Name] = x.Value
	}
	return m
}

type rigOptions struct {
	margin   time.Duration             // Export.DeadlineMargin; 0: the handler's default
	progress func(export.Progress)     // Export.Progress
	wrapDB   func(dbAPI) dbAPI         // wraps the DynamoDB client
	wrapS3   func(export.S3) export.S3 // wraps the S3 client given to the sink
	cleanup  time.Duration             // Deps.CleanupBudget; 0: the default
	offload  export.Offload            // Export.Offload; API set by newRig when Threshold > 0
}

type dbAPI = interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ready(t)
	r := &rig{bucket: testenv.Name("faults")}
	var err error
	if r.ddb, err = faultproxy.New(stack.DynamoDBEndpoint); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.ddb.Close)
	if r.s3, err = faultproxy.New(stack.S3Endpoint); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.s3.Close)
	if err := stack.CreateBucket(context.Background(), r.bucket, false); err != nil {
		t.Fatal(err)
	}
	db, s3c := clients(r.ddb.URL, r.s3.URL)
	r.s3c = s3c
	var dbi dbAPI = db
	if o.wrapDB != nil {
		dbi = o.wrapDB(db)
	}
	var si export.S3 = s3c
	if o.wrapS3 != nil {
		si = o.wrapS3(s3c)
	}
	if o.offload.Threshold > 0 {
		o.offload.API = s3c
	}
	emf, err := metrics.NewEmitter(&r.emf, "", "faults")
	if err != nil {
		t.Fatal(err)
	}
	r.h = step.New(step.Deps{
		Metrics:       emf,
		DynamoDB:      dbi,
		S3:            si,
		Pointers:      step.PointerReader{S3: s3c},
		Export:        export.Options{DeadlineMargin: o.margin, Progress: o.progress, Offload: o.offload},
		CleanupBudget: o.cleanup,
	})
	return r
}

// clients builds SDK clients with production's retryer (awsenv.NewRetryer),
// endpoints at the proxies and a short backoff.
func clients(ddbURL, s3URL string) (*dynamodb.Client, *s3.Client) {
	cfg := aws.Config{
		Region:      testenv.Region,
		Credentials: credentials.NewStaticCredentialsProvider(testenv.AccessKey, testenv.SecretKey, ""),
		Retryer:     func() aws.Retryer { return awsenv.NewRetryer(testMaxBackoff) },
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbURL) })
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s3URL)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return db, s3c
}

// event is a direct-shape event exporting USER#<user> to bucket/key; edit,
// when set, changes the config; a continuation, when given, is sent with it.
func event(user, bucket, key string, edit func(cfg map[string]any), continuation ...string) []byte {
	cfg := map[string]any{
		"query": map[string]any{
			"tableName":                 table,
			"keyConditionExpression":    "PK = :pk",
			"expressionAttributeValues": map[string]any{":pk": "USER#" + user},
		},
		"destination": map[string]any{"bucketName": bucket, "key": key},
	}
	if edit != nil {
		edit(cfg)
	}
	ev := map[string]any{"customConfig": cfg}
	if len(continuation) > 0 && continuation[0] != "" {
		ev["continuation"] = continuation[0]
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}

// invoke runs the handler as aws-lambda-go would.
func invoke(t *testing.T, h *step.Handler, ctx context.Context, payload []byte) (map[string]any, *messages.InvokeResponse_Error) {
	t.Helper()
	return testenv.Invoke(t, ctx, h, payload)
}

// checkMessage fails t unless msg holds every one of want.
func checkMessage(t *testing.T, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message does not mention %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "closed pipe") {
		t.Errorf("message reports the pipe, not the root cause:\n%s", msg)
	}
}
