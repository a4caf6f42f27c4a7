package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash"
	"hash/crc64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestSuspendResume: an export written over several invocations, each
// suspended, is byte-identical to one uninterrupted write, as parts 1..N,
// whatever each invocation wrote (less than a part, none, exactly parts);
// its State stays small, the running hash goes on, and no side object or
// upload is left.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	for _, tc := range []struct {
		name string
		segs []int // bytes each invocation writes; the last one closes
	}{
		{"tail grows across invocations", []int{100, 200, 300, 50}},
		{"parts and tails", []int{ps + 5, 10, 2*ps - 15, 0, 7, ps}},
		{"suspends at part boundaries", []int{ps, ps, 3}},
		{"nothing at all", []int{0, 0, 0}},
		{"tail then the rest of a part", []int{ps - 1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := s3Client(t)
			rec := &recorder{API: c}
			tg := Target{Bucket: bucket, Key: tc.name, SideKey: "side/" + tc.name}
			table := crc64.MakeTable(crc64.ECMA)
			var all []byte
			var st State
			for i, n := range tc.segs {
				opts := Options{Concurrency: 2, Hash: crc64.New(table)}
				var w *Writer
				var err error
				if i == 0 {
					w, err = New(ctx, rec, tg, opts)
				} else {
					w, err = Resume(ctx, rec, tg, st, opts)
				}
				if err != nil {
					t.Fatalf("invocation %d: %v", i, err)
				}
				seg := data(n, byte(i+10))
				all = append(all, seg...)
				writeAll(t, w, seg)
				if i < len(tc.segs)-1 {
					if st, err = w.Suspend(ctx); err != nil {
						t.Fatalf("invocation %d: Suspend: %v", i, err)
					}
					b, _ := json.Marshal(st)
					if len(b) > 1024 {
						t.Errorf("state of %d bytes: %s", len(b), b)
					}
					if st.Size != int64(len(all)) {
						t.Errorf("state size %d, want %d", st.Size, len(all))
					}
					continue
				}
				obj, err := w.Close(ctx)
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
				if obj.Size != int64(len(all)) {
					t.Errorf("Close size %d, want %d", obj.Size, len(all))
				}
				if got, want := opts.Hash.(hash.Hash64).Sum64(), crc64.Checksum(all, table); got != want {
					t.Errorf("running hash %x, want %x", got, want)
				}
			}
			checkObject(t, bucket, tg.Key, all)
			if len(all) > 0 {
				rec.checkPartNumbers(t, (len(all)+ps-1)/ps)
			}
			checkKeys(t, bucket, keysWithout(t, bucket, "side/")...)
		})
	}
	for _, k := range keys(t, bucket) {
		if strings.HasPrefix(k, "side/") {
			t.Errorf("side object %s left", k)
		}
	}
	checkNoUploads(t, bucket)
}

func keysWithout(t testing.TB, bucket, prefix string) []string {
	var out []string
	for _, k := range keys(t, bucket) {
		if !strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// TestRetrySameState: Step Functions retries an invocation with the State
// it was given, after the failed attempt had already sent parts and
// suspended again. The retry re-sends parts by number (overwriting) and
// still finds its tail, so the object holds the retry's bytes, once.
func TestRetrySameState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	rec := &recorder{API: s3Client(t)}
	tg := Target{Bucket: bucket, Key: "k", SideKey: "k.tail"}
	run := func(st *State, seg []byte, last bool) State {
		t.Helper()
		var w *Writer
		var err error
		if st == nil {
			w, err = New(ctx, rec, tg, Options{})
		} else {
			w, err = Resume(ctx, rec, tg, *st, Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, seg)
		if last {
			if _, err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			return State{}
		}
		next, err := w.Suspend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	a, lost, retry, c := data(ps+100, 1), data(2*ps+7, 2), data(ps+300, 3), data(50, 4)
	s1 := run(nil, a, false)
	run(&s1, lost, false) // its reply is lost
	s2 := run(&s1, retry, false)
	run(&s2, c, true)
	checkObject(t, bucket, "k", bytes.Join([][]byte{a, retry, c}, nil))
	rec.checkPartNumbers(t, 3)
	checkKeys(t, bucket, "k")
	checkNoUploads(t, bucket)
}

// TestResumeCompleted: the Complete succeeded but its reply was lost; the
// retry, given the State from before, finds the upload gone and the key
// holding this export's object, and reports that object.
func TestResumeCompleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	c := s3Client(t)
	// versitygw may still list the parts of a completed upload; S3 answers
	// NoSuchUpload, which the recorder plays.
	rec := &recorder{API: c}
	tg := Target{Bucket: bucket, Key: "k", SideKey: "k.tail"}
	w, err := New(ctx, rec, tg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(ps+10, 1))
	st, err := w.Suspend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err = Resume(ctx, rec, tg, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(20, 2))
	want, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.listParts = func(context.Context, *s3.ListPartsInput) (*s3.ListPartsOutput, error) {
		return nil, apiError(404, "NoSuchUpload")
	}
	_, err = Resume(ctx, rec, tg, st, Options{})
	var done *AlreadyCompleteError
	if !errors.Is(err, ErrAlreadyComplete) || !errors.As(err, &done) {
		t.Fatalf("Resume of a completed export = %v, want ErrAlreadyComplete", err)
	}
	if done.Object.Size != want.Size || done.Object.ETag != want.ETag {
		t.Errorf("Resume reported %+v, Close had %+v", done.Object, *want)
	}
	// Another export's object at the key is not this one's.
	_, err = Resume(ctx, rec, tg, State{ExportID: "other", UploadID: "u", PartSize: ps, Parts: 1, PartsSize: ps, Size: ps, CRC64NVME: "AAAAAAAAAAA="}, Options{})
	if !errors.Is(err, ErrUploadGone) {
		t.Fatalf("Resume of another export = %v, want ErrUploadGone", err)
	}
}

// TestResumeGone: an upload aborted (or expired) under a State is
// ErrUploadGone, saying the export must start again; Cancel is harmless
// twice and leaves nothing.
func TestResumeGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	c := s3Client(t)
	tg := Target{Bucket: bucket, Key: "k", SideKey: "k.tail"}
	w, err := New(ctx, c, tg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(ps+10, 1))
	st, err := w.Suspend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkKeys(t, bucket, SideKey("k.tail", 1))
	for i := range 2 {
		if err := Cancel(ctx, c, tg, st); err != nil {
			t.Fatalf("Cancel %d: %v", i+1, err)
		}
	}
	checkKeys(t, bucket)
	checkNoUploads(t, bucket)
	_, err = Resume(ctx, c, tg, st, Options{})
	if !errors.Is(err, ErrUploadGone) {
		t.Fatalf("Resume after Cancel = %v, want ErrUploadGone", err)
	}
	mentions(t, err, "must start again", st.UploadID)
}

// TestStateSize: the State names the upload and counts; it does not grow
// with the parts, so it stays far under 4 KiB at 10,000 parts.
func TestStateSize(t *testing.T) {
	st := State{
		UploadID: strings.Repeat("u", 512), ExportID: strings.Repeat("e", 64), PartSize: ps,
		Parts: MaxParts - 1, PartsSize: (MaxParts - 1) * ps, Size: (MaxParts-1)*ps + ps - 1, Seq: 1 << 30, TailSize: ps - 1,
		CRC64NVME: "AAAAAAAAAAA=", Hash: make([]byte, 64),
	}
	if err := st.check(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 4096 {
		t.Fatalf("state of %d bytes at %d parts", len(b), st.Parts)
	}
	t.Logf("state at %d parts: %d bytes", st.Parts, len(b))
}

// TestCompleteInterrupted: a Complete whose outcome is unknown is settled
// (abort, then look at the key), so that Close's answer and the key agree.
func TestCompleteInterrupted(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	type hook = func(ctx context.Context, api API, in *s3.CompleteMultipartUploadInput, cancel context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error)
	really := func(ctx context.Context, api API, in *s3.CompleteMultipartUploadInput) {
		if _, err := api.CompleteMultipartUpload(context.WithoutCancel(ctx), in); err != nil {
			t.Errorf("the real Complete: %v", err)
		}
	}
	for _, tc := range []struct {
		name    string
		hook    hook
		written bool // the object is at the key; else Close fails
		aborted bool // Close aborted the upload
	}{
		{"reply lost after it happened", func(ctx context.Context, api API, in *s3.CompleteMultipartUploadInput, _ context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			really(ctx, api, in)
			return nil, errInjected
		}, true, true},
		{"network error before it reached S3", func(context.Context, API, *s3.CompleteMultipartUploadInput, context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			return nil, errInjected
		}, false, true},
		{"5xx after retries", func(context.Context, API, *s3.CompleteMultipartUploadInput, context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			return nil, apiError(503, "ServiceUnavailable")
		}, false, true},
		{"NoSuchUpload on a retry of one that happened", func(ctx context.Context, api API, in *s3.CompleteMultipartUploadInput, _ context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			really(ctx, api, in)
			return nil, apiError(404, "NoSuchUpload")
		}, true, false},
		{"cancelled after it happened", func(ctx context.Context, api API, in *s3.CompleteMultipartUploadInput, cancel context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			really(ctx, api, in)
			cancel()
			return nil, ctx.Err()
		}, true, true},
		{"cancelled before it happened", func(ctx context.Context, _ API, _ *s3.CompleteMultipartUploadInput, cancel context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			cancel()
			return nil, ctx.Err()
		}, false, true},
		{"refused", func(context.Context, API, *s3.CompleteMultipartUploadInput, context.CancelFunc) (*s3.CompleteMultipartUploadOutput, error) {
			return nil, apiError(400, "InvalidPart")
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s3Client(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &recorder{API: c}
			rec.complete = func(ctx context.Context, in *s3.CompleteMultipartUploadInput) (*s3.CompleteMultipartUploadOutput, error) {
				return tc.hook(ctx, c, in, cancel)
			}
			key := tc.name
			w, err := New(ctx, rec, Target{Bucket: bucket, Key: key}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := data(ps+10, 7)
			writeAll(t, w, want)
			obj, err := w.Close(ctx)
			if got := rec.count("AbortMultipartUpload"); tc.aborted != (got > 0) {
				t.Errorf("%d aborts during Close", got)
			}
			if tc.written {
				if err != nil {
					t.Fatalf("Close = %v, want the object", err)
				}
				if obj.Size != int64(len(want)) {
					t.Errorf("Close size %d", obj.Size)
				}
				checkObject(t, bucket, key, want)
			} else {
				if err == nil {
					t.Fatalf("Close succeeded, want an error")
				}
				if tc.aborted {
					mentions(t, err, "aborted and nothing was written", w.UploadID())
				}
				if aerr := w.Abort(context.Background()); aerr != nil {
					t.Fatal(aerr)
				}
				stack.AssertNothingLeft(t, context.Background(), bucket, key)
			}
		})
	}
	checkNoUploads(t, bucket)
}

// TestResumePaged: Resume follows ListParts' pages to the end (here one
// part a page; S3 gives 1000).
func TestResumePaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	c := s3Client(t)
	rec := &recorder{API: c}
	rec.listParts = func(ctx context.Context, in *s3.ListPartsInput) (*s3.ListPartsOutput, error) {
		cp := *in
		cp.MaxParts = aws.Int32(1)
		return c.ListParts(ctx, &cp)
	}
	tg := Target{Bucket: bucket, Key: "k", SideKey: "k.tail"}
	w, err := New(ctx, rec, tg, Options{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, b := data(3*ps+1, 1), data(2, 2)
	writeAll(t, w, a)
	st, err := w.Suspend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w, err = Resume(ctx, rec, tg, st, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := rec.count("ListParts"); n != 3 {
		t.Errorf("%d ListParts calls for 3 parts one a page", n)
	}
	writeAll(t, w, b)
	if _, err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkObject(t, bucket, "k", append(a, b...))
	rec.checkPartNumbers(t, 4)
}
