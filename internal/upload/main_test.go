package upload

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

var (
	stack    *testenv.Stack
	stackErr error
)

func TestMain(m *testing.M) {
	testenv.Main(m, func(s *testenv.Stack, err error) { stack, stackErr = s, err })
}

// s3Client is a client for versitygw; it skips t when the stack is missing.
func s3Client(t testing.TB) *s3.Client {
	t.Helper()
	testenv.Require(t, stackErr)
	return stack.S3(context.Background())
}

// newBucket makes a bucket for one test.
func newBucket(t testing.TB) string {
	t.Helper()
	testenv.Require(t, stackErr)
	b := testenv.Name("upload")
	if err := stack.CreateBucket(context.Background(), b, false); err != nil {
		t.Fatal(err)
	}
	return b
}

// data returns n reproducible pseudo-random bytes.
func data(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// oddSizes are the sizes writeAll cuts its input into, in turn.
var oddSizes = []int{1, 7, 4093, 65537, 1<<20 + 3, 3 << 20}

// writeAll writes b in chunks of odd sizes.
func writeAll(t testing.TB, w io.Writer, b []byte) {
	t.Helper()
	for i := 0; len(b) > 0; i++ {
		n := min(oddSizes[i%len(oddSizes)], len(b))
		if k, err := w.Write(b[:n]); err != nil || k != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
		}
		b = b[n:]
	}
}

// recorder passes every call to API, records it, and lets a test replace
// some calls with functions of its own (fault injection).
type recorder struct {
	API

	uploadPart func(context.Context, *s3.UploadPartInput) (*s3.UploadPartOutput, error)
	complete   func(context.Context, *s3.CompleteMultipartUploadInput) (*s3.CompleteMultipartUploadOutput, error)
	abort      func(context.Context, *s3.AbortMultipartUploadInput) (*s3.AbortMultipartUploadOutput, error)
	listParts  func(context.Context, *s3.ListPartsInput) (*s3.ListPartsOutput, error)

	mu        sync.Mutex
	ops       []string
	partNums  []int32   // every UploadPart's number, in order
	completes [][]int32 // the part numbers of every Complete
}

func (r *recorder) note(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

// count is how many calls of op were made.
func (r *recorder) count(op string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.ops {
		if o == op {
			n++
		}
	}
	return n
}

func (r *recorder) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	r.note("HeadObject")
	return r.API.HeadObject(ctx, in, o...)
}

func (r *recorder) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.note("PutObject")
	return r.API.PutObject(ctx, in, o...)
}

func (r *recorder) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	r.note("GetObject")
	return r.API.GetObject(ctx, in, o...)
}

func (r *recorder) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, o ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	r.note("DeleteObjects")
	return r.API.DeleteObjects(ctx, in, o...)
}

func (r *recorder) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	r.note("CreateMultipartUpload")
	return r.API.CreateMultipartUpload(ctx, in, o...)
}

func (r *recorder) UploadPart(ctx context.Context, in *s3.UploadPartInput, o ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	r.note("UploadPart")
	r.mu.Lock()
	r.partNums = append(r.partNums, aws.ToInt32(in.PartNumber))
	r.mu.Unlock()
	if r.uploadPart != nil {
		return r.uploadPart(ctx, in)
	}
	return r.API.UploadPart(ctx, in, o...)
}

func (r *recorder) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	r.note("CompleteMultipartUpload")
	var nums []int32
	for _, p := range in.MultipartUpload.Parts {
		nums = append(nums, aws.ToInt32(p.PartNumber))
	}
	r.mu.Lock()
	r.completes = append(r.completes, nums)
	r.mu.Unlock()
	if r.complete != nil {
		return r.complete(ctx, in)
	}
	return r.API.CompleteMultipartUpload(ctx, in, o...)
}

func (r *recorder) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	r.note("AbortMultipartUpload")
	if r.abort != nil {
		return r.abort(ctx, in)
	}
	return r.API.AbortMultipartUpload(ctx, in, o...)
}

func (r *recorder) ListParts(ctx context.Context, in *s3.ListPartsInput, o ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	r.note("ListParts")
	if r.listParts != nil {
		return r.listParts(ctx, in)
	}
	return r.API.ListParts(ctx, in, o...)
}

func (r *recorder) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, o ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	r.note("UploadPartCopy")
	r.mu.Lock()
	r.partNums = append(r.partNums, aws.ToInt32(in.PartNumber))
	r.mu.Unlock()
	return r.API.(CopyAPI).UploadPartCopy(ctx, in, o...)
}

// checkPartNumbers fails t unless the last Complete listed parts 1..n.
func (r *recorder) checkPartNumbers(t testing.TB, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.completes) == 0 {
		t.Fatalf("no CompleteMultipartUpload")
	}
	got := r.completes[len(r.completes)-1]
	for i, p := range got {
		if p != int32(i+1) {
			t.Fatalf("Complete listed parts %v, want 1..%d", got, n)
		}
	}
	if len(got) != n {
		t.Fatalf("Complete listed %d parts, want %d", len(got), n)
	}
}

// apiError is an S3 error response with status and code, as the SDK
// returns one.
func apiError(status int, code string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "injected by the test"},
	}
}

// checkObject fails t unless bucket/key holds want.
func checkObject(t testing.TB, bucket, key string, want []byte) {
	t.Helper()
	got, err := stack.GetObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	if len(got) != len(want) {
		t.Fatalf("object %s has %d bytes, want %d", key, len(got), len(want))
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("object %s differs from byte %d", key, i)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// keys lists the keys in bucket.
func keys(t testing.TB, bucket string) []string {
	t.Helper()
	out, err := s3Client(t).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, aws.ToString(o.Key))
	}
	sort.Strings(ks)
	return ks
}

// checkKeys fails t unless bucket holds exactly want.
func checkKeys(t testing.TB, bucket string, want ...string) {
	t.Helper()
	got := keys(t, bucket)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("bucket holds %q, want %q", got, want)
	}
}

// checkNoUploads fails t unless bucket has no open multipart upload.
func checkNoUploads(t testing.TB, bucket string) {
	t.Helper()
	out, err := s3Client(t).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Errorf("upload %s of %s left open", aws.ToString(u.UploadId), aws.ToString(u.Key))
	}
}

// mentions fails t unless err's message holds every one of subs.
func mentions(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

var errInjected = errors.New("injected network error")
