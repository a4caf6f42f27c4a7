package upload

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

const ps = MinPartSize

// TestRoundTrip: what Write takes is what lands at the key, byte for byte,
// as parts 1..N, with no multipart call for an empty object and no upload
// left open.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	for _, tc := range []struct {
		name        string
		size        int
		concurrency int
		parts       int // 0: no multipart upload at all
	}{
		{"empty", 0, 1, 0},
		{"one byte", 1, 1, 1},
		{"exactly one part", ps, 1, 1},
		{"two full parts", 2 * ps, 1, 2},
		{"several parts and a short last", 3*ps + 12345, 1, 4},
		{"several parts, three in flight", 3*ps + 12345, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			rec := &recorder{API: s3Client(t)}
			key := "m/" + tc.name + ".jsonl"
			w, err := New(ctx, rec, Target{Bucket: bucket, Key: key, ContentType: "application/x-ndjson", Metadata: map[string]string{"format": "plain"}},
				Options{Concurrency: tc.concurrency})
			if err != nil {
				t.Fatal(err)
			}
			want := data(tc.size, 1)
			writeAll(t, w, want)
			obj, err := w.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if obj.Size != int64(tc.size) || obj.Key != key || obj.Bucket != bucket || obj.ETag == "" {
				t.Errorf("Close = %+v, want %d bytes at %s", obj, tc.size, key)
			}
			checkObject(t, bucket, key, want)
			if tc.parts == 0 {
				if n := rec.count("CreateMultipartUpload"); n != 0 {
					t.Errorf("an empty object made %d CreateMultipartUpload calls", n)
				}
				if n := rec.count("PutObject"); n != 1 {
					t.Errorf("an empty object made %d PutObject calls, want 1", n)
				}
			} else {
				rec.checkPartNumbers(t, tc.parts)
				if n := rec.count("PutObject"); n != 0 {
					t.Errorf("a non-empty object made %d PutObject calls", n)
				}
			}
			head, err := s3Client(t).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if got := head.Metadata[ExportIDMetadata]; got == "" || got != w.ExportID() {
				t.Errorf("export id in metadata = %q, want %q", got, w.ExportID())
			}
			if got := head.Metadata["format"]; got != "plain" {
				t.Errorf("user metadata format = %q", got)
			}
			if got := aws.ToString(head.ContentType); got != "application/x-ndjson" {
				t.Errorf("content type = %q", got)
			}
		})
	}
	checkNoUploads(t, bucket)
}

// TestOverwriteFalse: an existing object is found before any data is
// read, and one that appears while writing is not overwritten.
func TestOverwriteFalse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	c := s3Client(t)
	put := func(key string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: nil}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("exists before", func(t *testing.T) {
		put("before")
		rec := &recorder{API: c}
		_, err := New(ctx, rec, Target{Bucket: bucket, Key: "before"}, Options{})
		if !errors.Is(err, ErrExists) {
			t.Fatalf("New = %v, want ErrExists", err)
		}
		mentions(t, err, "before", "overwrite is false")
		if len(rec.ops) != 1 {
			t.Errorf("calls %v, want one HeadObject", rec.ops)
		}
	})
	t.Run("absent", func(t *testing.T) {
		w, err := New(ctx, c, Target{Bucket: bucket, Key: "absent"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, []byte("x\n"))
		if _, err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
	for _, size := range []int{0, 10, ps + 10} {
		t.Run("appears while writing "+strconv.Itoa(size), func(t *testing.T) {
			key := "race-" + strconv.Itoa(size)
			w, err := New(ctx, c, Target{Bucket: bucket, Key: key}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			put(key)
			writeAll(t, w, data(size, 2))
			_, err = w.Close(ctx)
			if !errors.Is(err, ErrExists) {
				t.Fatalf("Close = %v, want ErrExists", err)
			}
			if err := w.Abort(ctx); err != nil {
				t.Fatal(err)
			}
			checkObject(t, bucket, key, nil) // the other writer's empty object stays
		})
	}
	checkNoUploads(t, bucket)
}

// TestAbort leaves no object, no open upload and no side object, whether
// the writer was new or resumed.
func TestAbort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	c := s3Client(t)
	tg := Target{Bucket: bucket, Key: "k", SideKey: "k.side"}
	w, err := New(ctx, c, tg, Options{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(2*ps+100, 3))
	st, err := w.Suspend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err = Resume(ctx, c, tg, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(ps+100, 4))
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, bucket)
	checkNoUploads(t, bucket)
	if _, err := w.Close(ctx); err == nil {
		t.Error("Close after Abort succeeded")
	}
}

// TestAbortFails: when the abort itself fails, the error says so and
// names the upload id, never that the upload was aborted.
func TestAbortFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	rec := &recorder{API: s3Client(t)}
	rec.abort = func(context.Context, *s3.AbortMultipartUploadInput) (*s3.AbortMultipartUploadOutput, error) {
		return nil, errInjected
	}
	w, err := New(ctx, rec, Target{Bucket: bucket, Key: "k"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(ps+1, 5))
	err = w.Abort(ctx)
	if !errors.Is(err, ErrAbortFailed) || !errors.Is(err, errInjected) {
		t.Fatalf("Abort = %v, want ErrAbortFailed wrapping the cause", err)
	}
	mentions(t, err, "upload id "+w.UploadID(), "abort failed", "may still be open")
	// Clean up for real.
	if err := abortUpload(ctx, s3Client(t), Target{Bucket: bucket, Key: "k"}, w.UploadID()); err != nil {
		t.Fatal(err)
	}
}

// TestPartFailure: a part's error reaches the next Write at once (not a
// closed-pipe error), and Close reports it too.
func TestPartFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	rec := &recorder{API: s3Client(t)}
	rec.uploadPart = func(ctx context.Context, in *s3.UploadPartInput) (*s3.UploadPartOutput, error) {
		if aws.ToInt32(in.PartNumber) == 2 {
			return nil, apiError(400, "InvalidPart")
		}
		return rec.API.UploadPart(ctx, in)
	}
	w, err := New(ctx, rec, Target{Bucket: bucket, Key: "k"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data(2*ps, 6)) // part 2 is sent on its own goroutine
	deadline := time.Now().Add(10 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		_, err = w.Write([]byte("x"))
		time.Sleep(10 * time.Millisecond)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidPart" {
		t.Fatalf("Write after a failed part = %v, want the part's InvalidPart", err)
	}
	mentions(t, err, "UploadPart 2", "upload id "+w.UploadID())
	if _, cerr := w.Close(ctx); !errors.As(cerr, &ae) {
		t.Errorf("Close = %v, want the part's error", cerr)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	stack.AssertNothingLeft(t, ctx, bucket, "k")
}

// TestTooLarge: more than MaxParts parts is refused before it is written,
// saying what to raise.
func TestTooLarge(t *testing.T) {
	w := newWriter(context.Background(), &discard{}, Target{Bucket: "b", Key: "k"}, Options{PartSize: ps, Concurrency: 1})
	w.size = ps*MaxParts - 10
	if _, err := w.Write(make([]byte, 10)); err != nil {
		t.Fatalf("Write up to the limit: %v", err)
	}
	_, err := w.Write([]byte{1})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write past the limit = %v, want ErrTooLarge", err)
	}
	mentions(t, err, "MANIFEST_PART_SIZE_MIB", "10000 parts")
}
