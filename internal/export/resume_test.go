package export

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/resume"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/s3mem"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// keyedDB is a sorted partition of n items that pages on the key as
// DynamoDB does: each request starts after its ExclusiveStartKey, reads at
// most perPage items (or its Limit), and answers after delay. Every
// seventh item is large (bigPad bytes), the others pad bytes.
type keyedDB struct {
	n, perPage  int
	pad, bigPad int
	delay       time.Duration
	fake        *ddbwire.Fake
}

func newKeyedDB(n, perPage, pad, bigPad int, delay time.Duration) *keyedDB {
	d := &keyedDB{n: n, perPage: perPage, pad: pad, bigPad: bigPad, delay: delay}
	d.fake = ddbwire.NewFake(d.page)
	return d
}

func (d *keyedDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return d.fake.Query(ctx, in, optFns...)
}

func (d *keyedDB) page(ctx context.Context, _ int, in *dynamodb.QueryInput) ([]byte, error) {
	select {
	case <-time.After(d.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := 0
	if k, ok := in.ExclusiveStartKey["k"].(*types.AttributeValueMemberN); ok {
		n, err := strconv.Atoi(k.Value)
		if err != nil {
			return nil, err
		}
		start = n + 1
	}
	per := d.perPage
	if in.Limit != nil && int(*in.Limit) < per {
		per = int(*in.Limit)
	}
	var items []map[string]types.AttributeValue
	i := start
	for ; i < d.n && len(items) < per; i++ {
		pad := d.pad
		if i%7 == 0 {
			pad = d.bigPad
		}
		items = append(items, map[string]types.AttributeValue{
			"k":   &types.AttributeValueMemberN{Value: strconv.Itoa(i)},
			"pad": &types.AttributeValueMemberS{Value: strings.Repeat(string(rune('a'+i%26)), pad)},
		})
	}
	var lek map[string]types.AttributeValue
	if i < d.n || len(items) == per { // DynamoDB returns a key whenever Limit is reached
		lek = map[string]types.AttributeValue{"k": &types.AttributeValueMemberN{Value: strconv.Itoa(i - 1)}}
	}
	return ddbwire.Body(items, lek), nil
}

// invocations runs a resumable export as a state machine would: each
// invocation gets a deadline of budget(i) and the continuation of the last,
// until one completes. It returns the last result and how many
// invocations it took.
func invocations(t *testing.T, db *keyedDB, s3c *s3mem.S3, off *offloadS3, limit int64, budget func(i int) time.Duration) (*Result, int) {
	t.Helper()
	cfg := testConfig()
	cfg.Query.Limit = limit
	cfg.Resumable, cfg.Digest = true, "digest"
	if off != nil {
		cfg.EnableItemOffloading = true
	}
	var from *resume.Token
	for i := 1; i <= 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), budget(i))
		opts := Options{From: from, RunID: "run-1", DeadlineMargin: time.Second}
		if off != nil {
			opts.Offload = Offload{API: off, Threshold: 1000, Prefix: "items/run-1/"}
		}
		res, err := Run(ctx, db, s3c, cfg, opts)
		cancel()
		var kept *Error
		if errors.As(err, &kept) && kept.Kept {
			// As Step Functions' Retry does: the same continuation again
			// (a loaded machine may leave no time to hand one back).
			t.Logf("invocation %d: %v; retried", i, err)
			continue
		}
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		if res.Next == nil {
			return res, i
		}
		// Through the token, as the next invocation gets it.
		tok, err := res.Next.Encode()
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		if len(tok) > resume.MaxTokenBytes {
			t.Fatalf("invocation %d: continuation of %d bytes", i, len(tok))
		}
		if from, err = resume.Decode(tok); err != nil {
			t.Fatal(err)
		}
		if from.Config != cfg.Digest || from.Export != "run-1" {
			t.Fatalf("invocation %d: continuation %+v", i, from)
		}
	}
	t.Fatal("not complete after 200 invocations")
	return nil, 0
}

// TestResumableMatchesOneRun: an export stopped at random points across
// many invocations writes the same bytes as one uninterrupted run, with no
// line lost or repeated, the same counts, the same offloaded objects, and
// nothing left over (no open upload, no side object).
func TestResumableMatchesOneRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		limit   int64
		offload bool
	}{
		{"several parts", 4000, 0, false},
		{"offloading", 2500, 0, true},
		{"limit", 3000, 2222, false},
		{"less than a part", 300, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One uninterrupted run.
			db := newKeyedDB(tc.n, 100, 1500, 4000, 0)
			one := &s3mem.S3{}
			var oneOff *offloadS3
			cfg := testConfig()
			cfg.Query.Limit = tc.limit
			opts := Options{RunID: "run-1"}
			if tc.offload {
				oneOff = &offloadS3{objects: map[string]bool{}}
				cfg.EnableItemOffloading = true
				opts.Offload = Offload{API: oneOff, Threshold: 1000, Prefix: "items/run-1/"}
			}
			want, err := Run(context.Background(), db, one, cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			wantBody := one.Objects()["m.jsonl"]

			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 7))
			slow := newKeyedDB(tc.n, 100, 1500, 4000, 5*time.Millisecond)
			many := &s3mem.S3{}
			var manyOff *offloadS3
			if tc.offload {
				manyOff = &offloadS3{objects: map[string]bool{}}
			}
			got, runs := invocations(t, slow, many, manyOff, tc.limit, func(int) time.Duration {
				return 1200*time.Millisecond + time.Duration(r.IntN(300))*time.Millisecond
			})
			t.Logf("%d invocations", runs)
			if body := many.Objects()["m.jsonl"]; body != wantBody {
				t.Fatalf("manifest after %d invocations differs from one run's: %d bytes, want %d (first difference at %d)",
					runs, len(body), len(wantBody), firstDiff(body, wantBody))
			}
			if got.Items != want.Items || got.Object.Size != want.Object.Size || got.Offloaded != want.Offloaded ||
				got.Truncated != want.Truncated || lek(t, got) != lek(t, want) {
				t.Errorf("result %+v, want %+v", got, want)
			}
			if ups := many.Uploads(); len(ups) > 0 {
				t.Errorf("uploads left open: %v", ups)
			}
			for k := range many.Objects() {
				if k != "m.jsonl" {
					t.Errorf("object left: %s", k)
				}
			}
			if tc.offload && fmt.Sprint(manyOff.objects) != fmt.Sprint(oneOff.objects) {
				t.Errorf("offloaded %d objects, one run %d", len(manyOff.objects), len(oneOff.objects))
			}
			if o := many.Object("m.jsonl"); o == nil || !strings.Contains(o.Tags, fmt.Sprintf("itemCount=%d", want.Items)) {
				t.Errorf("manifest not tagged with its item count: %+v", o)
			}
		})
	}
}

// lek is r's LastEvaluatedKey in DynamoDB JSON.
func lek(t *testing.T, r *Result) string {
	b, err := lines.AppendDynamoJSON(nil, r.LastEvaluatedKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A resumable export whose last invocation completed the upload but whose
// reply was lost: the retry, with the same continuation, replies the
// completed manifest from its tags.
func TestResumableLostLastReply(t *testing.T) {
	db := newKeyedDB(600, 100, 1500, 1500, 100*time.Millisecond)
	s3c := &s3mem.S3{}
	cfg := testConfig()
	cfg.Resumable, cfg.Digest = true, "d"
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	res, err := Run(ctx, db, s3c, cfg, Options{RunID: "r", DeadlineMargin: time.Second})
	cancel()
	if err != nil || res.Next == nil {
		t.Fatalf("first invocation: %v, %+v; want a continuation", err, res)
	}
	from := res.Next
	done, err := Run(context.Background(), db, s3c, cfg, Options{From: from})
	if err != nil || done.Next != nil {
		t.Fatalf("second invocation: %v", err)
	}
	again, err := Run(context.Background(), db, s3c, cfg, Options{From: from})
	if err != nil {
		t.Fatalf("retried second invocation: %v", err)
	}
	if again.Next != nil || again.Items != done.Items || again.Object.Size != done.Object.Size || again.Object.Key != "m.jsonl" {
		t.Errorf("retry replied %+v, want %+v", again, done)
	}
}

// TestCancel gives up a resumable export: no upload, no side object, no
// offloaded item; a second cancel succeeds too.
func TestCancel(t *testing.T) {
	db := newKeyedDB(3000, 100, 3000, 4000, 20*time.Millisecond) // 31 pages: more than one invocation reads
	s3c := &s3mem.S3{}
	off := &offloadS3{objects: map[string]bool{}}
	cfg := testConfig()
	cfg.Resumable, cfg.Digest, cfg.EnableItemOffloading = true, "d", true
	offload := Offload{API: off, Threshold: 3500, Prefix: "items/r/"}
	var from *resume.Token
	// Invocations until S3 holds an upload, a side object and offloaded
	// items to cancel (two or three; more under the race detector).
	for i := 0; len(off.objects) == 0 || len(s3c.Objects()) == 0 || len(s3c.Uploads()) == 0; i++ {
		if i == 30 {
			t.Fatalf("after 30 invocations: offloaded %d, objects %d, uploads %v; the test proves nothing", len(off.objects), len(s3c.Objects()), s3c.Uploads())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
		res, err := Run(ctx, db, s3c, cfg, Options{RunID: "r", From: from, Offload: offload, DeadlineMargin: time.Second})
		cancel()
		var kept *Error
		if errors.As(err, &kept) && kept.Kept {
			continue // retried with the same continuation
		}
		if err != nil || res.Next == nil {
			t.Fatalf("%v, %+v; want a continuation", err, res)
		}
		from = res.Next
	}
	for i := range 2 {
		c, err := Cancel(context.Background(), s3c, offload, cfg, from)
		if err != nil {
			t.Fatalf("cancel %d: %v", i+1, err)
		}
		if i == 0 && (c.OffloadDeleted != int(from.Offloaded) || c.OffloadLeft != 0 || c.Items != from.Items) {
			t.Errorf("cancel: %+v, want %d offloaded items deleted", c, from.Offloaded)
		}
	}
	if len(off.objects) != 0 || len(s3c.Objects()) != 0 || len(s3c.Uploads()) != 0 {
		t.Errorf("after the cancel: %d offloaded, %d objects, uploads %v", len(off.objects), len(s3c.Objects()), s3c.Uploads())
	}
}

// A continuation whose keys do not fit in a token is kept in a state object
// beside the upload, read back by the next invocation, deleted with the
// export, and, once gone, tells a completed export from one given up.
func TestStateObject(t *testing.T) {
	ctx := context.Background()
	s3c := &s3mem.S3{}
	cfg := testConfig()
	cfg.Resumable = true
	r := rand.New(rand.NewPCG(3, 4))
	var key strings.Builder
	for range 6000 {
		key.WriteByte(byte('a' + r.IntN(26)))
	}
	next := &resume.Token{Export: "e", Config: "d", Seq: 3, Items: 5, Pages: 2,
		Key: []byte(`{"k":{"S":"` + key.String() + `"}}`), Upload: []byte(`{"uploadId":"u"}`)}
	tok, err := HandOn(ctx, s3c, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	small, err := resume.Decode(tok)
	if err != nil || small.StateKey != "m.jsonl.resume/e/state.3.json" || len(tok) > 200 {
		t.Fatalf("token %q (%v): want a small one naming the state object", tok, err)
	}
	if o := s3c.Object(small.StateKey); o == nil || o.Tags != "ddb-query-to-s3-manifest=resume-side-object" {
		t.Fatalf("state object %+v, want one tagged as a side object", o)
	}
	full, err := LoadState(ctx, s3c, cfg, small)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, full); diff != "" {
		t.Errorf("state read back (-want +got):\n%s", diff)
	}
	other := *small
	other.StateKey = "m.jsonl.resume/x/state.3.json"
	if _, err := LoadState(ctx, s3c, cfg, &other); !errors.Is(err, ErrBadContinuation) {
		t.Errorf("another export's state object: %v, want ErrBadContinuation", err)
	}

	if err := dropStates(ctx, s3c, &cfg.Destination, "e"); err != nil || len(s3c.Objects()) != 0 {
		t.Fatalf("dropStates: %v, objects left %v", err, s3c.Objects())
	}
	if _, err := LoadState(ctx, s3c, cfg, small); !errors.Is(err, upload.ErrUploadGone) {
		t.Errorf("state gone, no manifest: %v, want ErrUploadGone", err)
	}
	// The export completed (its last reply lost): the manifest is its own.
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("m.jsonl"),
		Body: strings.NewReader("{}\n"), Metadata: map[string]string{upload.ExportIDMetadata: "e"}, Tagging: aws.String("itemCount=7&itemsOffloaded=0")}); err != nil {
		t.Fatal(err)
	}
	var done *CompletedError
	if _, err := LoadState(ctx, s3c, cfg, small); !errors.As(err, &done) || done.Result.Items != 7 {
		t.Errorf("state gone, manifest completed: %v, want a CompletedError with 7 items", err)
	}
}

// The last Complete of a resumed export fails where it may or may not have
// happened (a 503): the upload is kept, and the retry of the same
// continuation completes the manifest.
func TestResumableCompleteFailsThenRetried(t *testing.T) {
	db := newKeyedDB(600, 100, 1500, 1500, 100*time.Millisecond)
	failed := false
	s3c := &s3mem.S3{Hook: func(_ context.Context, op, _ string) error {
		if op == "CompleteMultipartUpload" && !failed {
			failed = true
			return s3mem.APIError("ServiceUnavailable")
		}
		return nil
	}}
	cfg := testConfig()
	cfg.Resumable, cfg.Digest = true, "d"
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	res, err := Run(ctx, db, s3c, cfg, Options{RunID: "r", DeadlineMargin: time.Second})
	cancel()
	if err != nil || res.Next == nil {
		t.Fatalf("first invocation: %v, %+v; want a continuation", err, res)
	}
	from := res.Next
	_, err = Run(context.Background(), db, s3c, cfg, Options{From: from, Retryable: func(error) bool { return true }})
	var e *Error
	if !errors.As(err, &e) || !e.Kept || !failed {
		t.Fatalf("second invocation: %v, want a kept failure of the Complete", err)
	}
	done, err := Run(context.Background(), db, s3c, cfg, Options{From: from})
	if err != nil || done.Next != nil || done.Items != 600 {
		t.Fatalf("retry: %v, %+v; want 600 items, complete", err, done)
	}
	if got := testenvLines(s3c.Objects()["m.jsonl"]); got != 600 {
		t.Errorf("%d lines, want 600", got)
	}
	if ups := s3c.Uploads(); len(ups) > 0 {
		t.Errorf("uploads left open: %v", ups)
	}
}

func testenvLines(s string) int { return strings.Count(s, "\n") }

// The lost last reply of an export whose earlier invocations wrote nothing
// to S3: the retry finds the completed manifest by its key, and does not
// export again.
func TestResumableLostLastReplyNothingBefore(t *testing.T) {
	db := newKeyedDB(300, 100, 100, 100, 400*time.Millisecond)
	s3c := &s3mem.S3{}
	cfg := testConfig()
	cfg.Resumable, cfg.Digest = true, "d"
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	res, err := Run(ctx, db, s3c, cfg, Options{RunID: "r", DeadlineMargin: time.Second})
	cancel()
	if err != nil || res.Next == nil || res.Items != 0 {
		t.Fatalf("first invocation: %v, %+v; want a continuation with nothing written", err, res)
	}
	from := res.Next
	done, err := Run(context.Background(), db, s3c, cfg, Options{From: from})
	if err != nil || done.Next != nil {
		t.Fatalf("second invocation: %v", err)
	}
	queries := s3c.Calls("CreateMultipartUpload")
	again, err := Run(context.Background(), db, s3c, cfg, Options{From: from})
	if err != nil || again.Items != done.Items || again.Object.Size != done.Object.Size {
		t.Fatalf("retry: %v, %+v; want %+v", err, again, done)
	}
	if s3c.Calls("CreateMultipartUpload") != queries {
		t.Error("the retry exported again")
	}
}

// Cancelling an export that was completed (its last reply lost) leaves the
// manifest and its offloaded items.
func TestCancelCompleted(t *testing.T) {
	db := newKeyedDB(700, 100, 1500, 4000, 100*time.Millisecond)
	s3c := &s3mem.S3{}
	off := &offloadS3{objects: map[string]bool{}}
	offload := Offload{API: off, Threshold: 3500, Prefix: "items/r/"}
	cfg := testConfig()
	cfg.Resumable, cfg.Digest, cfg.EnableItemOffloading = true, "d", true
	ctx, cancel := context.WithTimeout(context.Background(), 1300*time.Millisecond)
	res, err := Run(ctx, db, s3c, cfg, Options{RunID: "r", Offload: offload, DeadlineMargin: time.Second})
	cancel()
	if err != nil || res.Next == nil {
		t.Fatalf("first invocation: %v, %+v", err, res)
	}
	if _, err := Run(context.Background(), db, s3c, cfg, Options{From: res.Next, Offload: offload}); err != nil {
		t.Fatal(err)
	}
	n := len(off.objects)
	c, err := Cancel(context.Background(), s3c, offload, cfg, res.Next)
	if err != nil || c.Completed == nil || c.Completed.Items != 700 {
		t.Fatalf("cancel: %v, %+v; want the completed export", err, c)
	}
	if s3c.Object("m.jsonl") == nil || len(off.objects) != n || n == 0 {
		t.Errorf("cancel of a completed export removed things: manifest %v, offloaded %d of %d", s3c.Object("m.jsonl") != nil, len(off.objects), n)
	}
}
