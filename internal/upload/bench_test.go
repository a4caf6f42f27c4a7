package upload

import (
	"context"
	"io"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// discard is an in-process S3 that reads and drops every body: the writer's
// own cost, without a network.
type discard struct {
	parts atomic.Int64
}

func (*discard) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return nil, apiError(404, "NotFound")
}

func (*discard) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	_, err := io.Copy(io.Discard, in.Body)
	return &s3.PutObjectOutput{ETag: aws.String(`"e"`)}, err
}

func (*discard) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, apiError(404, "NoSuchKey")
}

func (*discard) DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	return &s3.DeleteObjectsOutput{}, nil
}

func (*discard) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("up")}, nil
}

func (d *discard) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if _, err := io.Copy(io.Discard, in.Body); err != nil {
		return nil, err
	}
	n := d.parts.Add(1)
	return &s3.UploadPartOutput{ETag: aws.String(strconv.FormatInt(n, 10))}, nil
}

func (*discard) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"e-n"`)}, nil
}

func (*discard) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (*discard) ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	return nil, apiError(404, "NoSuchUpload")
}

var _ API = (*discard)(nil)

// line is a manifest-like write: one JSON line of about 1 KB.
var line = append(data(1023, 9), '\n')

// writeLines writes size bytes of lines through a new Writer and closes it.
func writeLines(tb testing.TB, size int64, conc int) {
	ctx := context.Background()
	w, err := New(ctx, &discard{}, Target{Bucket: "b", Key: "k", Overwrite: true}, Options{Concurrency: conc})
	if err != nil {
		tb.Fatal(err)
	}
	for n := int64(0); n < size; n += int64(len(line)) {
		if _, err := w.Write(line); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		tb.Fatal(err)
	}
	if w.buffers > conc+1 {
		tb.Fatalf("%d part buffers allocated, want at most %d", w.buffers, conc+1)
	}
}

// BenchmarkWriter streams 64 MiB of 1 KB lines per op into a fake S3 that
// discards bodies: MB/s is the writer's own throughput, allocs what it
// costs the garbage collector.
func BenchmarkWriter(b *testing.B) {
	const size = 64 << 20
	for _, conc := range []int{1, 4} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				writeLines(b, size, conc)
			}
		})
	}
}

// TestMemoryBound: whatever the object's size, a Writer allocates about
// (Concurrency+1) × PartSize, nothing that grows with the bytes written.
func TestMemoryBound(t *testing.T) {
	for _, conc := range []int{1, 3} {
		t.Run("concurrency="+strconv.Itoa(conc), func(t *testing.T) {
			bound := uint64(conc+1)*ps + 1<<20 // the buffers, plus 1 MiB for the rest
			for _, size := range []int64{8 << 20, 128 << 20} {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				writeLines(t, size, conc)
				runtime.ReadMemStats(&after)
				if got := after.TotalAlloc - before.TotalAlloc; got > bound {
					t.Errorf("writing %d MiB allocated %d bytes, want at most %d", size>>20, got, bound)
				} else {
					t.Logf("writing %d MiB allocated %.2f MiB (bound %.2f MiB)", size>>20, float64(got)/(1<<20), float64(bound)/(1<<20))
				}
			}
		})
	}
}
