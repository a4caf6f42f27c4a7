package step_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// logBuffer is a slog handler's output that tests read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// keyValue makes the i-th value of a key of type kind, in the same order
// for every kind: numbers (negative, fractional, wide), strings (with
// non-ASCII) and binary.
func keyValue(kind string, i int) types.AttributeValue {
	switch kind {
	case "N":
		return &types.AttributeValueMemberN{Value: fmt.Sprintf("%d.%03d", i*37-5000, i%1000)}
	case "B":
		return &types.AttributeValueMemberB{Value: []byte{byte(i >> 8), byte(i), 0xff}}
	}
	return &types.AttributeValueMemberS{Value: fmt.Sprintf("k#%05d-é", i)}
}

// TestParallelMatchesSequential is the property test of parallel key
// ranges: random tables (the table, an LSI and a GSI; each key type;
// repeated index sort keys) queried with random filters, projections,
// orders, page sizes and limits give the same manifest, byte for byte,
// with one reader and with four.
func TestParallelMatchesSequential(t *testing.T) {
	stack, _ := env(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	kinds := []string{"N", "S", "B"}
	split := 0
	for round := range 4 {
		skKind, lsKind, gsKind := kinds[r.IntN(3)], kinds[r.IntN(3)], kinds[r.IntN(3)]
		table, bucket := testenv.Name("par"), testenv.Name("par")
		err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK",
			Attrs: map[string]types.ScalarAttributeType{"SK": types.ScalarAttributeType(skKind), "LS": types.ScalarAttributeType(lsKind), "GS": types.ScalarAttributeType(gsKind)},
			LSIs:  []testenv.Index{{Name: "lsi", HashKey: "PK", RangeKey: "LS"}},
			GSIs:  []testenv.Index{{Name: "gsi", HashKey: "G", RangeKey: "GS"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := stack.CreateBucket(ctx, bucket, false); err != nil {
			t.Fatal(err)
		}
		n := 250 + r.IntN(250)
		ties := 3 + r.IntN(20) // index sort keys repeat about n/ties times
		items := make([]map[string]types.AttributeValue, 0, n+20)
		sks := r.Perm(20000) // distinct table sort keys
		for i := range n {
			it := map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: "P"},
				"SK": keyValue(skKind, sks[i]),
				"LS": keyValue(lsKind, r.IntN(ties)),
				"G":  &types.AttributeValueMemberS{Value: "G"},
				"GS": keyValue(gsKind, r.IntN(ties)),
				"v":  &types.AttributeValueMemberN{Value: fmt.Sprint(r.IntN(100))},
				"s":  &types.AttributeValueMemberS{Value: strings.Repeat("ü", r.IntN(40)) + fmt.Sprint(i)},
			}
			items = append(items, it)
		}
		for i := range 20 { // another partition, which no query reads
			items = append(items, map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "Q"}, "SK": keyValue(skKind, i), "LS": keyValue(lsKind, i), "G": &types.AttributeValueMemberS{Value: "H"}, "GS": keyValue(gsKind, i)})
		}
		if err := stack.PutItems(ctx, table, items); err != nil {
			t.Fatal(err)
		}
		for c := range 6 {
			q := map[string]any{"tableName": table, "pageSize": 5 + r.IntN(20)}
			vals := map[string]any{}
			switch r.IntN(3) {
			case 0:
				q["keyConditionExpression"] = "PK = :p"
				vals[":p"] = "P"
			case 1:
				q["indexName"] = "lsi"
				q["keyConditionExpression"] = "#pk = :p AND LS >= :lo"
				q["expressionAttributeNames"] = map[string]any{"#pk": "PK"}
				vals[":p"] = "P"
				vals[":lo"] = map[string]any{lsKind: attrText(keyValue(lsKind, 1))}
			default:
				q["indexName"] = "gsi"
				q["keyConditionExpression"] = "G = :g"
				vals[":g"] = "G"
			}
			if r.IntN(2) == 0 {
				q["scanIndexForward"] = false
			}
			if r.IntN(3) == 0 {
				q["filterExpression"] = "v < :max"
				vals[":max"] = 30 + r.IntN(60)
			}
			if r.IntN(3) == 0 {
				q["projectionExpression"] = "s, v"
			}
			if r.IntN(5) == 0 {
				q["limit"] = 1 + r.IntN(n)
			}
			q["expressionAttributeValues"] = vals
			var got [2][]byte
			for i, par := range []any{1, 4} {
				q["parallelism"] = par
				key := fmt.Sprintf("r%d-c%d-p%v.jsonl", round, c, par)
				logs := &logBuffer{}
				h := step.New(step.Deps{DynamoDB: stack.DynamoDB(ctx), S3: stack.S3(ctx), Logger: slog.New(slog.NewJSONHandler(logs, nil))})
				out, ferr := invoke(t, h, map[string]any{"customConfig": map[string]any{"query": q, "destination": map[string]any{"bucketName": bucket, "key": key}}})
				if ferr != nil {
					t.Fatalf("round %d case %d (%v) parallelism %v: %s", round, c, q, par, ferr.Message)
				}
				body, err := stack.GetObject(ctx, bucket, key)
				if err != nil {
					t.Fatal(err)
				}
				got[i] = body
				if par == 4 && strings.Contains(logs.String(), "reading in key ranges") {
					split++
				}
				_ = out
			}
			if !bytes.Equal(got[0], got[1]) {
				t.Fatalf("round %d case %d (%v): parallelism 4 wrote %d bytes (%d lines), parallelism 1 %d bytes (%d lines); first difference at byte %d",
					round, c, q, len(got[1]), bytes.Count(got[1], []byte("\n")), len(got[0]), bytes.Count(got[0], []byte("\n")), firstDifference(got[0], got[1]))
			}
			assertNoneUnder(t, stack, bucket, fmt.Sprintf("r%d-c%d-p4.jsonl.resume/", round, c))
		}
	}
	if split == 0 {
		t.Fatal("no export was split into key ranges: the test compared nothing parallel")
	}
	t.Logf("%d of 24 exports were read in key ranges", split)
}

// assertNoneUnder fails t if an object or an open upload is under prefix.
func assertNoneUnder(t *testing.T, stack *testenv.Stack, bucket, prefix string) {
	t.Helper()
	ctx := context.Background()
	c := stack.S3(ctx)
	objs, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Contents {
		t.Errorf("left: s3://%s/%s", bucket, aws.ToString(o.Key))
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		t.Errorf("left open: an upload of s3://%s/%s", bucket, aws.ToString(u.Key))
	}
}

func attrText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(v.Value)
	}
	return ""
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// slowDynamoDB delays every Query, so that an export needs several
// invocations; DescribeTable and the rest are the real client's.
type slowDynamoDB struct {
	*dynamodb.Client
	delay time.Duration
}

func (d slowDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	select {
	case <-time.After(d.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.Client.Query(ctx, in, optFns...)
}

// TestParallelResumable: a resumable export read by four readers, over
// invocations too short for it, hands on every range and ends with the
// manifest one reader writes in one invocation, leaving nothing beside it;
// with string keys, in the array container.
func TestParallelResumable(t *testing.T) {
	stack, _ := env(t)
	ctx := context.Background()
	for _, kind := range []string{"N", "S", "B"} {
		t.Run(kind, func(t *testing.T) {
			table, bucket := testenv.Name("pres"), testenv.Name("pres")
			if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK", Attrs: map[string]types.ScalarAttributeType{"SK": types.ScalarAttributeType(kind)}}); err != nil {
				t.Fatal(err)
			}
			if err := stack.CreateBucket(ctx, bucket, false); err != nil {
				t.Fatal(err)
			}
			var items []map[string]types.AttributeValue
			for i := range 600 {
				items = append(items, map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "P"}, "SK": keyValue(kind, i*7),
					"v": &types.AttributeValueMemberS{Value: strings.Repeat("x", i%50)}})
			}
			if err := stack.PutItems(ctx, table, items); err != nil {
				t.Fatal(err)
			}
			container := map[string]string{"N": "jsonl", "S": "array", "B": "jsonl"}[kind]
			cfg := func(key string, par any, resumable bool) map[string]any {
				return map[string]any{"resumable": resumable, "output": map[string]any{"container": container},
					"query": map[string]any{"tableName": table, "keyConditionExpression": "PK = :p", "expressionAttributeValues": map[string]any{":p": "P"},
						"pageSize": 8, "parallelism": par, "scanIndexForward": kind != "S"},
					"destination": map[string]any{"bucketName": bucket, "key": key}}
			}
			_, one := env(t)
			if _, ferr := invoke(t, one, map[string]any{"customConfig": cfg("one.jsonl", 1, false)}); ferr != nil {
				t.Fatal(ferr.Message)
			}
			logs := &logBuffer{}
			h := step.New(step.Deps{DynamoDB: slowDynamoDB{stack.DynamoDB(ctx), 120 * time.Millisecond}, S3: stack.S3(ctx),
				Logger: slog.New(slog.NewJSONHandler(logs, nil)), Export: export.Options{DeadlineMargin: 500 * time.Millisecond}})
			var continuation any
			var last map[string]any
			runs := 0
			for ; runs < 40; runs++ {
				ictx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
				out, ferr := testenv.Invoke(t, ictx, h, map[string]any{"customConfig": cfg("many.jsonl", 4, true), "continuation": continuation})
				cancel()
				if ferr != nil && strings.Contains(ferr.Message, "the upload is kept") {
					// Out of time where no continuation could be handed
					// on (a loaded machine): the state machine retries
					// the same event.
					t.Logf("invocation %d: %s; retrying it", runs+1, ferr.Message)
					continue
				}
				if ferr != nil {
					t.Fatalf("invocation %d: %s", runs+1, ferr.Message)
				}
				last = out
				if out["complete"] == true {
					runs++
					break
				}
				continuation = out["continuation"]
			}
			t.Logf("%d invocations", runs)
			if runs < 3 || !strings.Contains(logs.String(), "reading in key ranges") {
				t.Fatalf("%d invocations (want 3 or more, the first split into key ranges): the test did not exercise ranges across invocations", runs)
			}
			want, err := stack.GetObject(ctx, bucket, "one.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			got, err := stack.GetObject(ctx, bucket, "many.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("resumed parallel export: %d bytes (%d lines), one reader: %d bytes (%d lines); first difference at %d",
					len(got), bytes.Count(got, []byte("\n")), len(want), bytes.Count(want, []byte("\n")), firstDifference(got, want))
			}
			if fmt.Sprint(last["itemCount"]) != "600" {
				t.Errorf("itemCount %v, want 600", last["itemCount"])
			}
			assertNoneUnder(t, stack, bucket, "many.jsonl.resume/")
		})
	}
}

// failingDynamoDB fails the n-th range Query (a rewritten key condition)
// once with err, counting from when armed.
type failingDynamoDB struct {
	slowDynamoDB
	mu    sync.Mutex
	armed bool
	n     int
	err   error
	hit   bool
}

func (d *failingDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	d.mu.Lock()
	fail := false
	if d.armed && !d.hit && strings.Contains(aws.ToString(in.KeyConditionExpression), "BETWEEN :keyrangeLo") {
		if d.n--; d.n == 0 {
			fail, d.hit = true, true
		}
	}
	d.mu.Unlock()
	if fail {
		return nil, d.err
	}
	return d.slowDynamoDB.Query(ctx, in, optFns...)
}

// TestParallelResumableFailsLater: a range reader fails in the second
// invocation of a resumable export. A transient failure keeps what the
// continuation needs: the same continuation, sent again, goes on to the
// exact manifest. A permanent one removes everything: the manifest's
// upload, every segment and its upload, the continuation's state.
func TestParallelResumableFailsLater(t *testing.T) {
	stack, _ := env(t)
	ctx := context.Background()
	table, bucket := testenv.Name("pfail"), testenv.Name("pfail")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK", Attrs: map[string]types.ScalarAttributeType{"SK": "N"}}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	var items []map[string]types.AttributeValue
	for i := range 600 {
		items = append(items, map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "P"}, "SK": keyValue("N", i*3), "v": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}})
	}
	if err := stack.PutItems(ctx, table, items); err != nil {
		t.Fatal(err)
	}
	cfg := func(key string, par any, resumable bool) map[string]any {
		return map[string]any{"resumable": resumable,
			"query": map[string]any{"tableName": table, "keyConditionExpression": "PK = :p", "expressionAttributeValues": map[string]any{":p": "P"},
				"pageSize": 8, "parallelism": par},
			"destination": map[string]any{"bucketName": bucket, "key": key}}
	}
	_, one := env(t)
	if _, ferr := invoke(t, one, map[string]any{"customConfig": cfg("one.jsonl", 1, false)}); ferr != nil {
		t.Fatal(ferr.Message)
	}
	want, err := stack.GetObject(ctx, bucket, "one.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{name: "transient", err: fmt.Errorf("injected: connection reset by peer")},
		{name: "permanent", err: &smithy.GenericAPIError{Code: "ValidationException", Message: "injected: The provided key element does not match the schema"}, permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.name + ".jsonl"
			db := &failingDynamoDB{slowDynamoDB: slowDynamoDB{stack.DynamoDB(ctx), 120 * time.Millisecond}, n: 3, err: tc.err}
			h := step.New(step.Deps{DynamoDB: db, S3: stack.S3(ctx), Export: export.Options{DeadlineMargin: 500 * time.Millisecond}})
			var continuation any
			var last map[string]any
			failed := false
			for runs := 0; runs < 40; runs++ {
				if runs == 1 {
					db.mu.Lock()
					db.armed = true
					db.mu.Unlock()
				}
				ictx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
				out, ferr := testenv.Invoke(t, ictx, h, map[string]any{"customConfig": cfg(key, 4, true), "continuation": continuation})
				cancel()
				if ferr != nil && strings.Contains(ferr.Message, "injected") {
					failed = true
					if runs != 1 {
						t.Fatalf("the injected failure came in invocation %d, want 2", runs+1)
					}
					if tc.permanent {
						if ferr.Type != "PermanentStepError" || !strings.Contains(ferr.Message, "aborted") {
							t.Fatalf("%s: %s", ferr.Type, ferr.Message)
						}
						stack.AssertNothingLeft(t, ctx, bucket, key)
						assertNoneUnder(t, stack, bucket, key+".resume/")
						return
					}
					if ferr.Type != "TransientStepError" || !strings.Contains(ferr.Message, "the upload is kept") {
						t.Fatalf("%s: %s", ferr.Type, ferr.Message)
					}
					continue // the same continuation again
				}
				if ferr != nil && strings.Contains(ferr.Message, "the upload is kept") {
					continue
				}
				if ferr != nil {
					t.Fatalf("invocation %d: %s", runs+1, ferr.Message)
				}
				last = out
				if out["complete"] == true {
					break
				}
				if runs == 0 && out["continuation"] == nil {
					t.Fatal("the first invocation did not hand on a continuation")
				}
				continuation = out["continuation"]
			}
			if !failed || tc.permanent {
				t.Fatalf("failed %v: the injected failure did not happen where the test wants it", failed)
			}
			if last["complete"] != true {
				t.Fatalf("last reply %v", last)
			}
			got, err := stack.GetObject(ctx, bucket, key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes, want %d; first difference at %d", len(got), len(want), firstDifference(got, want))
			}
			assertNoneUnder(t, stack, bucket, key+".resume/")
		})
	}
}

// TestParallelLargeSegments: ranges whose segments are multipart uploads
// of their own (over 5 MiB) are assembled into the manifest by
// server-side copies, byte for byte the one-reader manifest.
func TestParallelLargeSegments(t *testing.T) {
	stack, _ := env(t)
	ctx := context.Background()
	table, bucket := testenv.Name("plarge"), testenv.Name("plarge")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK", Attrs: map[string]types.ScalarAttributeType{"SK": "N"}}); err != nil {
		t.Fatal(err)
	}
	if err := stack.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	var items []map[string]types.AttributeValue
	for i := range 90 { // ~31 MB, three items a page
		items = append(items, map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "P"}, "SK": keyValue("N", i),
			"big": &types.AttributeValueMemberS{Value: strings.Repeat(string(rune('a'+i%26)), 350_000)}})
	}
	for start := 0; start < len(items); start += 10 {
		if err := stack.PutItems(ctx, table, items[start:start+10]); err != nil {
			t.Fatal(err)
		}
	}
	var got [2][]byte
	logs := &logBuffer{}
	for i, par := range []int{1, 4} {
		h := step.New(step.Deps{DynamoDB: stack.DynamoDB(ctx), S3: stack.S3(ctx), Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		key := fmt.Sprintf("large-%d.jsonl", par)
		if _, ferr := invoke(t, h, map[string]any{"customConfig": map[string]any{
			"query":       map[string]any{"tableName": table, "keyConditionExpression": "PK = :p", "expressionAttributeValues": map[string]any{":p": "P"}, "parallelism": par},
			"destination": map[string]any{"bucketName": bucket, "key": key}}}); ferr != nil {
			t.Fatal(ferr.Message)
		}
		var err error
		if got[i], err = stack.GetObject(ctx, bucket, key); err != nil {
			t.Fatal(err)
		}
		assertNoneUnder(t, stack, bucket, key+".resume/")
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatalf("parallelism 4: %d bytes, 1: %d bytes; first difference at %d", len(got[1]), len(got[0]), firstDifference(got[0], got[1]))
	}
	large := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Bytes int64  `json:"bytes"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "segment appended" && rec.Bytes > 5<<20 {
			large++
		}
	}
	if large == 0 {
		t.Fatalf("no segment over 5 MiB was appended: the test did not exercise multipart segments\n%s", logs.String())
	}
	t.Logf("%d segments over 5 MiB appended", large)
}
