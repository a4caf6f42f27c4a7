package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
)

// headCRC is the full-object CRC64NVME S3 reports for bucket/key, with its
// checksum type.
func headCRC(t testing.TB, bucket, key string) (string, types.ChecksumType) {
	t.Helper()
	out, err := s3Client(t).HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", key, err)
	}
	return aws.ToString(out.ChecksumCRC64NVME), out.ChecksumType
}

// TestChecksum: the object S3 accepted carries the full-object CRC64NVME of
// its bytes, the one Close and Lookup report, empty objects included.
func TestChecksum(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	for _, tc := range []struct {
		name        string
		size        int
		concurrency int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"one part", ps, 1},
		{"multipart, three in flight", 3*ps + 12345, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			tg := Target{Bucket: bucket, Key: tc.name}
			w, err := New(ctx, s3Client(t), tg, Options{Concurrency: tc.concurrency})
			if err != nil {
				t.Fatal(err)
			}
			want := data(tc.size, 3)
			writeAll(t, w, want)
			obj, err := w.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := stack.GetObject(ctx, bucket, tg.Key)
			if err != nil {
				t.Fatal(err)
			}
			crc := crc64nvme.Encode(crc64nvme.Checksum(got))
			if !bytes.Equal(got, want) || obj.ChecksumCRC64NVME != crc {
				t.Errorf("Close reported CRC %q, the %d bytes read back have %q", obj.ChecksumCRC64NVME, len(got), crc)
			}
			if head, typ := headCRC(t, bucket, tg.Key); head != crc {
				t.Errorf("S3 reports CRC %q (type %q), want %q", head, typ, crc)
			}
			found, ours, err := Lookup(ctx, s3Client(t), tg, w.ExportID())
			if err != nil || !ours || found.ChecksumCRC64NVME != crc {
				t.Errorf("Lookup = %+v, %v, %v; want CRC %q", found, ours, err, crc)
			}
		})
	}
}

// TestChecksumResumed: the CRC carried in State across three writers (as
// JSON) is the object's.
func TestChecksumResumed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bucket := newBucket(t)
	c := s3Client(t)
	tg := Target{Bucket: bucket, Key: "k", SideKey: "k.side"}
	want := data(4*ps+777, 4)
	cuts := []int{ps + 10, 3*ps - 5, len(want)}
	w, err := New(ctx, c, tg, Options{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	from := 0
	for i, to := range cuts {
		writeAll(t, w, want[from:to])
		from = to
		if i == len(cuts)-1 {
			break
		}
		st, err := w.Suspend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.CRC64NVME == "" {
			t.Fatalf("state %s has no CRC", b)
		}
		if w, err = Resume(ctx, c, tg, back, Options{Concurrency: 2}); err != nil {
			t.Fatal(err)
		}
	}
	obj, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkObject(t, bucket, tg.Key, want)
	crc := crc64nvme.Encode(crc64nvme.Checksum(want))
	if obj.ChecksumCRC64NVME != crc {
		t.Errorf("Close reported CRC %q, want %q", obj.ChecksumCRC64NVME, crc)
	}
	if head, _ := headCRC(t, bucket, tg.Key); head != crc {
		t.Errorf("S3 reports CRC %q, want %q", head, crc)
	}
	checkKeys(t, bucket, tg.Key)
}

// TestOldState: a State from before full-object checksums is refused with
// a clear error.
func TestOldState(t *testing.T) {
	var st State
	if err := json.Unmarshal([]byte(`{"uploadId":"u","exportId":"e","partSize":5242880,"parts":1,"partsSize":5242880,"size":5242880,"seq":1}`), &st); err != nil {
		t.Fatal(err)
	}
	_, err := Resume(context.Background(), &discard{}, Target{Bucket: "b", Key: "k", SideKey: "s"}, st, Options{})
	mentions(t, err, "invalid state", "crc64nvme", "start again")
}

// corrupt makes rec flip one byte of the body of the first n UploadParts,
// in flight, keeping the CRC they were sent with.
func corrupt(rec *recorder, n int32) *atomic.Int32 {
	var done atomic.Int32
	rec.uploadPart = func(ctx context.Context, in *s3.UploadPartInput) (*s3.UploadPartOutput, error) {
		if done.Add(1) <= n {
			b, err := io.ReadAll(in.Body)
			if err != nil {
				return nil, err
			}
			b[len(b)/2] ^= 0x20
			cp := *in
			cp.Body = bytes.NewReader(b)
			in = &cp
		}
		return rec.API.UploadPart(ctx, in)
	}
	return &done
}

// TestCorruptPart: a part whose bytes change on the way is refused by S3
// (BadDigest) and sent again from the writer's buffer; one refused every
// time fails the upload with ErrChecksumMismatch and, after Abort, leaves
// nothing.
func TestCorruptPart(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	ctx := context.Background()
	t.Run("once, sent again", func(t *testing.T) {
		rec := &recorder{API: s3Client(t)}
		corrupt(rec, 1)
		w, err := New(ctx, rec, Target{Bucket: bucket, Key: "once"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := data(2*ps+5, 5)
		writeAll(t, w, want)
		if _, err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		checkObject(t, bucket, "once", want)
		if n := rec.count("UploadPart"); n != 4 {
			t.Errorf("%d UploadPart calls, want 4 (3 parts, one sent again)", n)
		}
	})
	t.Run("always", func(t *testing.T) {
		rec := &recorder{API: s3Client(t)}
		corrupt(rec, 1000)
		w, err := New(ctx, rec, Target{Bucket: bucket, Key: "always"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, werr := w.Write(data(ps+5, 6))
		_, err = w.Close(ctx)
		if werr != nil {
			err = werr
		}
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("Close = %v, want ErrChecksumMismatch", err)
		}
		var ue *Error
		if !errors.As(err, &ue) {
			t.Errorf("%T is not an *Error", err)
		}
		if n := rec.count("UploadPart"); n != 1+maxDigestRetries {
			t.Errorf("%d UploadPart calls, want %d", n, 1+maxDigestRetries)
		}
		if err := w.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		checkKeys(t, bucket, "once")
		checkNoUploads(t, bucket)
	})
}

// TestCompleteMismatch: a Complete whose CRC is not that of the parts is
// refused by S3; Close fails with ErrChecksumMismatch and has aborted the
// upload: nothing is at the key and no upload is open.
func TestCompleteMismatch(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	ctx := context.Background()
	for _, size := range []int{10, 2*ps + 1} {
		rec := &recorder{API: s3Client(t)}
		rec.complete = func(ctx context.Context, in *s3.CompleteMultipartUploadInput) (*s3.CompleteMultipartUploadOutput, error) {
			cp := *in
			cp.ChecksumCRC64NVME = aws.String(crc64nvme.Encode(12345))
			return rec.API.CompleteMultipartUpload(ctx, &cp)
		}
		w, err := New(ctx, rec, Target{Bucket: bucket, Key: "k"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, data(size, 7))
		_, err = w.Close(ctx)
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Fatalf("Close of %d bytes = %v, want ErrChecksumMismatch", size, err)
		}
		t.Logf("%d bytes: %v", size, err)
		if err := w.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		checkKeys(t, bucket)
		checkNoUploads(t, bucket)
	}
}
