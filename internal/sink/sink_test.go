package sink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// fakeS3 keeps multipart uploads in memory; failPart makes UploadPart fail
// from that part number on.
type fakeS3 struct {
	mu        sync.Mutex
	failPart  int32
	failErr   error
	parts     map[int32][]byte
	objects   map[string][]byte
	aborts    int
	abortCtxs []error // ctx.Err() of each AbortMultipartUpload call
}

func newFake() *fakeS3 {
	return &fakeS3{parts: map[int32][]byte{}, objects: map[string][]byte{}}
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[aws.ToString(in.Key)] = b
	return &s3.PutObjectOutput{VersionId: aws.String("v1")}, nil
}

func (f *fakeS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("up-1")}, nil
}

func (f *fakeS3) UploadPart(_ context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	n := aws.ToInt32(in.PartNumber)
	if f.failPart > 0 && n >= f.failPart {
		return nil, f.failErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.parts[n] = b
	return &s3.UploadPartOutput{ETag: aws.String("etag")}, nil
}

func (f *fakeS3) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []byte
	for _, p := range in.MultipartUpload.Parts {
		all = append(all, f.parts[aws.ToInt32(p.PartNumber)]...)
	}
	f.objects[aws.ToString(in.Key)] = all
	return &s3.CompleteMultipartUploadOutput{VersionId: aws.String("v2")}, nil
}

func (f *fakeS3) AbortMultipartUpload(ctx context.Context, _ *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aborts++
	f.abortCtxs = append(f.abortCtxs, ctx.Err())
	return &s3.AbortMultipartUploadOutput{}, nil
}

var _ API = (*fakeS3)(nil)

func put(key string) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key)}
}

func TestWriterSmallAndEmpty(t *testing.T) {
	for _, body := range []string{"", "one line\n"} {
		f := newFake()
		w := New(f, Options{}).Open(context.Background(), put("k"), nil)
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
		obj, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := f.objects["k"]
		if !ok || string(got) != body || obj.Size != int64(len(body)) || obj.VersionID != "v1" {
			t.Errorf("object %q (exists %v), result %+v; want %q", got, ok, obj, body)
		}
	}
}

func TestWriterMultipart(t *testing.T) {
	f := newFake()
	w := New(f, Options{}).Open(context.Background(), put("k"), nil)
	want := bytes.Repeat([]byte("0123456789abcdef\n"), 800_000) // ~13 MiB: 3 parts
	for off := 0; off < len(want); off += 4096 {
		if _, err := w.Write(want[off:min(off+4096, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	obj, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.objects["k"], want) || obj.VersionID != "v2" || len(f.parts) != 3 {
		t.Errorf("object of %d bytes in %d parts, want %d bytes in 3", len(f.objects["k"]), len(f.parts), len(want))
	}
}

// A failed part must surface as the S3 error (the root cause) from Write,
// not as a closed pipe, and the upload must be aborted again on a live
// context even when the caller's has ended.
func TestWriterPartFailure(t *testing.T) {
	f := newFake()
	f.failPart = 2
	f.failErr = &smithy.GenericAPIError{Code: "AccessDenied", Message: "denied"}
	ctx, cancel := context.WithCancel(context.Background())
	w := New(f, Options{}).Open(ctx, put("k"), nil)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var err error
	for range 1000 { // 64 MiB: far more than the two parts it takes to fail
		if _, err = w.Write(chunk); err != nil {
			break
		}
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Fatalf("Write error = %v, want the AccessDenied that failed the part", err)
	}
	if !strings.Contains(err.Error(), "s3://b/k") {
		t.Errorf("error %q does not name the bucket and key", err)
	}
	cancel()
	if upErr := w.Abort(errors.New("stop")); upErr == nil {
		t.Error("Abort after a failed upload returned nil, want the upload's error")
	}
	if _, ok := f.objects["k"]; ok {
		t.Error("an object was completed")
	}
	if f.aborts < 2 || f.abortCtxs[len(f.abortCtxs)-1] != nil {
		t.Errorf("aborts = %d with contexts %v; want the manager's and a last one on a live context", f.aborts, f.abortCtxs)
	}
}

func TestWriterAbort(t *testing.T) {
	f := newFake()
	w := New(f, Options{}).Open(context.Background(), put("k"), nil)
	if _, err := w.Write(bytes.Repeat([]byte("y"), 6<<20)); err != nil { // a part is in flight
		t.Fatal(err)
	}
	if err := w.Abort(errors.New("query failed")); err != nil {
		t.Errorf("Abort = %v, want nil (the upload itself did not fail)", err)
	}
	if _, ok := f.objects["k"]; ok || f.aborts == 0 {
		t.Errorf("object left %v, aborts %d", ok, f.aborts)
	}
	if _, err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
}

func TestWriterTooLarge(t *testing.T) {
	f := newFake()
	s := New(f, Options{})
	w := s.Open(context.Background(), put("k"), nil)
	w.size = s.partSize*MaxParts - 10 // as if 10,000 parts were nearly written
	_, err := w.Write(make([]byte, 11))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10000 parts of 5 MiB") {
		t.Fatalf("err = %v, want ErrTooLarge naming the limit and the part size", err)
	}
	_ = w.Abort(err)
}
