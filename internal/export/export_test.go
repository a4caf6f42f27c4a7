package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/s3mem"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// pagedDB serves n pages of one item each, waiting delay before each; with
// pad, each item also has a string of pad bytes. The pages are raw Query
// bodies read by a real SDK client (ddbwire.Fake), through the capture
// middleware, as production reads DynamoDB's.
type pagedDB struct {
	n        int
	delay    time.Duration
	pad      int
	once     sync.Once
	fake     *ddbwire.Fake
	mu       sync.Mutex
	returned []time.Time // when each call returned
}

func (d *pagedDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	d.once.Do(func() { d.fake = ddbwire.NewFake(d.page) })
	out, err := d.fake.Query(ctx, in, optFns...)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.returned = append(d.returned, time.Now())
	d.mu.Unlock()
	return out, nil
}

// page is the body of the i-th page.
func (d *pagedDB) page(ctx context.Context, i int, _ *dynamodb.QueryInput) ([]byte, error) {
	select {
	case <-time.After(d.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	item := map[string]types.AttributeValue{"i": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}}
	if d.pad > 0 {
		item["pad"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", d.pad)}
	}
	var lek map[string]types.AttributeValue
	if i < d.n {
		lek = map[string]types.AttributeValue{"k": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}}
	}
	return ddbwire.Body([]map[string]types.AttributeValue{item}, lek), nil
}

func testConfig() *config.Config {
	return &config.Config{
		Query:       config.Query{TableName: "t", KeyConditionExpression: "k = :k"},
		Destination: config.Destination{BucketName: "b", Key: "m.jsonl", ContentType: config.DefaultContentType, Overwrite: true},
	}
}

func TestRunWritesEveryPage(t *testing.T) {
	s3m := &s3mem.S3{}
	db := &pagedDB{n: 5}
	var progress []Progress
	res, err := Run(context.Background(), db, s3m, testConfig(), Options{Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n{\"i\":5}\n"
	if got := s3m.Objects()["m.jsonl"]; got != want || res.Items != 5 || res.Pages != 5 || res.Object.Size != int64(len(want)) {
		t.Errorf("object %q, result %+v; want %q", got, res, want)
	}
	if len(progress) != 5 || progress[4].Items != 5 || progress[4].Pages != 5 {
		t.Errorf("progress = %+v, want one call per page ending at 5 items", progress)
	}
}

// The export stops a margin before the deadline, before the context ends,
// and leaves nothing.
func TestRunStopsBeforeTheDeadline(t *testing.T) {
	s3m := &s3mem.S3{}
	db := &pagedDB{n: 1000, delay: 20 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, db, s3m, testConfig(), Options{DeadlineMargin: 300 * time.Millisecond})
	if ctx.Err() != nil {
		t.Fatalf("Run returned after the invocation's deadline")
	}
	var e *Error
	if !errors.As(err, &e) || e.Stage != "deadline" || !errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v, want a deadline Error", err)
	}
	if e.Items == 0 || !strings.Contains(err.Error(), count(e.Items, "item")+" written") {
		t.Errorf("error %q does not say how many items were written", err)
	}
	if len(s3m.Objects()) != 0 || len(s3m.Uploads()) != 0 {
		t.Errorf("left: objects %v, uploads %v", s3m.Objects(), s3m.Uploads())
	}
}

// A panic on the encoding goroutine becomes an error and aborts the upload.
func TestRunRecoversPanics(t *testing.T) {
	s3m := &s3mem.S3{}
	db := &pagedDB{n: 3}
	_, err := Run(context.Background(), db, s3m, testConfig(), Options{Progress: func(Progress) { panic("boom") }})
	var e *Error
	if !errors.As(err, &e) || e.Stage != "internal" || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want an internal Error mentioning the panic", err)
	}
	if len(s3m.Objects()) != 0 || len(s3m.Uploads()) != 0 {
		t.Errorf("left: objects %v, uploads %v", s3m.Objects(), s3m.Uploads())
	}
}

func TestRunQueryErrorStopsAndAborts(t *testing.T) {
	s3m := &s3mem.S3{}
	db := ddbwire.NewFake(func(context.Context, int, *dynamodb.QueryInput) ([]byte, error) {
		return nil, errors.New("throttled for good")
	})
	_, err := Run(context.Background(), db, s3m, testConfig(), Options{})
	var e *Error
	if !errors.As(err, &e) || e.Stage != "query" || !strings.Contains(err.Error(), "table t") {
		t.Fatalf("err = %v, want a query Error naming the table", err)
	}
	if len(s3m.Objects()) != 0 || len(s3m.Uploads()) != 0 {
		t.Errorf("left: objects %v, uploads %v", s3m.Objects(), s3m.Uploads())
	}
}

// offloadS3 records offloaded objects; stall makes PutObject wait for ctx.
type offloadS3 struct {
	mu      sync.Mutex
	stall   bool
	objects map[string]bool
}

func (o *offloadS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if o.stall {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objects[aws.ToString(in.Key)] = true
	return &s3.PutObjectOutput{}, nil
}

func (o *offloadS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := &s3.ListObjectsV2Output{}
	for k := range o.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
		}
	}
	return out, nil
}

func (o *offloadS3) DeleteObjects(_ context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range in.Delete.Objects {
		delete(o.objects, aws.ToString(id.Key))
	}
	return &s3.DeleteObjectsOutput{}, nil
}

func offloadConfig() *config.Config {
	cfg := testConfig()
	cfg.EnableItemOffloading = true
	return cfg
}

// A stalled offload upload must not carry the export past the margin.
func TestRunOffloadStopsAtTheMargin(t *testing.T) {
	s3m := &s3mem.S3{}
	off := &offloadS3{stall: true, objects: map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := Run(ctx, &pagedDB{n: 3}, s3m, offloadConfig(),
		Options{DeadlineMargin: 500 * time.Millisecond, Offload: Offload{API: off, Threshold: 1, Prefix: "p/"}})
	if ctx.Err() != nil {
		t.Fatal("Run returned after the invocation's deadline")
	}
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}

// A panic after items were offloaded deletes them.
func TestRunPanicDeletesOffloaded(t *testing.T) {
	s3m := &s3mem.S3{}
	off := &offloadS3{objects: map[string]bool{}}
	pages := 0
	_, err := Run(context.Background(), &pagedDB{n: 3}, s3m, offloadConfig(),
		Options{Offload: Offload{API: off, Threshold: 1, Prefix: "p/"}, Progress: func(Progress) {
			if pages++; pages == 2 {
				panic("boom")
			}
		}})
	var e *Error
	if !errors.As(err, &e) || e.Stage != "internal" || e.OffloadDeleted != 2 {
		t.Fatalf("err = %v (%+v), want an internal error that deleted the 2 offloaded items", err, e)
	}
	if len(off.objects) != 0 || len(s3m.Objects()) != 0 || len(s3m.Uploads()) != 0 {
		t.Errorf("left behind: offloaded %v, manifest %v", off.objects, s3m.Objects())
	}
}

// slowCommitS3 stores an offloaded object as soon as it has the body, as
// S3 does, then takes a while to answer: a client that gives up meanwhile
// sees an error although the object landed.
type slowCommitS3 struct{ offloadS3 }

func (o *slowCommitS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	o.mu.Lock()
	o.objects[aws.ToString(in.Key)] = true
	o.mu.Unlock()
	select {
	case <-time.After(50 * time.Millisecond):
		return &s3.PutObjectOutput{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// An offload still in flight when the run fails is deleted too.
func TestRunFailureDeletesInFlightOffloads(t *testing.T) {
	s3m := &s3mem.S3{}
	off := &slowCommitS3{offloadS3{objects: map[string]bool{}}}
	pages := 0
	_, err := Run(context.Background(), &pagedDB{n: 3}, s3m, offloadConfig(),
		Options{Offload: Offload{API: off, Threshold: 1, Prefix: "p/"}, Progress: func(Progress) {
			if pages++; pages == 1 {
				panic("boom") // the first item's upload is still in flight
			}
		}})
	if err == nil {
		t.Fatal("Run succeeded, want the panic as an error")
	}
	if len(off.objects) != 0 {
		t.Errorf("offloaded objects left after the failed run: %v", off.objects)
	}
}

// Cleanup after a deadline stop ends before the invocation's deadline even
// when S3 stalls and the margin is small.
func TestRunCleanupEndsBeforeTheDeadline(t *testing.T) {
	s3m := stallS3()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	_, err := Run(ctx, &pagedDB{n: 1 << 20}, s3m, testConfig(), Options{DeadlineMargin: 600 * time.Millisecond})
	if time.Now().After(dl) {
		t.Fatalf("Run returned %s after the deadline", time.Since(dl))
	}
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}

// stallS3 accepts the multipart upload's creation, then stalls every other
// call until its context ends.
func stallS3() *s3mem.S3 {
	return &s3mem.S3{Hook: func(ctx context.Context, op, _ string) error {
		if op == "CreateMultipartUpload" {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}}
}

// TestRunEngagesTheMemoryBudget: an export of several parts engages the
// memory budget once, past its first part (it logs it), one of one part
// does not, and either puts the old limit back when it ends, on success
// and after a failure.
func TestRunEngagesTheMemoryBudget(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	old := debug.SetMemoryLimit(-1)
	for _, c := range []struct {
		name  string
		pages int
		fail  bool
		parts bool
	}{
		{"one part", 5, false, false},
		{"two parts", 40, false, true},
		{"two parts, failing", 40, true, true},
		{"one part, after", 5, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s3m := &s3mem.S3{Discard: true}
			var logs strings.Builder
			opts := Options{
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Progress: func(p Progress) {
					if c.fail && p.Pages == 35 {
						panic("stop")
					}
				},
			}
			_, err := Run(context.Background(), &pagedDB{n: c.pages, pad: 200 << 10}, s3m, testConfig(), opts)
			if (err != nil) != c.fail {
				t.Fatalf("error %v, want failure %v", err, c.fail)
			}
			engaged := strings.Count(logs.String(), "memory budget engaged")
			if want := map[bool]int{false: 0, true: 1}[c.parts]; engaged != want {
				t.Errorf("engaged %d times, want %d; logs:\n%s", engaged, want, logs.String())
			}
			if c.parts {
				var written int64
				for line := range strings.Lines(logs.String()) {
					if strings.Contains(line, "memory budget engaged") {
						_, _ = fmt.Sscanf(line[strings.Index(line, "bytesWritten="):], "bytesWritten=%d", &written)
					}
				}
				if written < upload.DefaultPartSize {
					t.Errorf("engaged at %d bytes written, before the first part (%d)", written, upload.DefaultPartSize)
				}
			}
			if l := debug.SetMemoryLimit(-1); l != old {
				t.Errorf("limit after the export %d, want the old %d", l, old)
			}
		})
	}
}

// TestRunEncodesAPageAfterTheNextRequest: the encoder starts on a raw page
// only once the fetcher has the next request under way (here, with no
// HTTP, once that call returns), so that transcoding does not take the CPU
// from building and sending it; the last page once the fetcher is done.
func TestRunEncodesAPageAfterTheNextRequest(t *testing.T) {
	s3m := &s3mem.S3{}
	db := &pagedDB{n: 4, delay: 20 * time.Millisecond}
	var encoded []time.Time
	res, err := Run(context.Background(), db, s3m, testConfig(), Options{Progress: func(Progress) { encoded = append(encoded, time.Now()) }})
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n"; s3m.Objects()["m.jsonl"] != want || res.Items != 4 {
		t.Fatalf("object %q, %d items; want %q", s3m.Objects()["m.jsonl"], res.Items, want)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for k := range len(encoded) - 1 {
		if encoded[k].Before(db.returned[k+1]) {
			t.Errorf("page %d encoded %v before request %d returned", k+1, db.returned[k+1].Sub(encoded[k]), k+2)
		}
	}
}
