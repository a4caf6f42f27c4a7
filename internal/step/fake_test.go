package step_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// recorder counts the calls a fake received, by operation name. It is safe
// for concurrent use: the upload manager calls S3 from several goroutines.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) record(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, op)
}

// Calls returns the operations called so far, in order.
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// fakeDynamoDB is a query.API that records every Query and fails it with
// AccessDeniedException: tests that use it expect no call at all. It is a
// ddbwire.Fake, so a Query reaches the SDK client as production's does.
type fakeDynamoDB struct {
	recorder
	api    *ddbwire.Fake
	mu     sync.Mutex
	inputs []*dynamodb.QueryInput
}

var _ query.API = (*fakeDynamoDB)(nil)

func newFakeDynamoDB() *fakeDynamoDB {
	f := &fakeDynamoDB{}
	f.api = ddbwire.NewFake(func(_ context.Context, _ int, in *dynamodb.QueryInput) ([]byte, error) {
		f.record("Query")
		f.mu.Lock()
		f.inputs = append(f.inputs, in)
		f.mu.Unlock()
		return nil, deniedError("dynamodb.Query", "AccessDeniedException")
	})
	return f
}

func (f *fakeDynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return f.api.Query(ctx, in, optFns...)
}

// fakeS3 is a upload.API and step.GetObjectAPI that records every call. Every
// upload call fails with AccessDenied. GetObject serves the files under
// objects (objects/<bucket>/<key>) and fails with NoSuchKey otherwise; with
// objects empty, it fails every read. With faults, a read of the key
// "fault/<code>" fails with the API error code <code>.
type fakeS3 struct {
	recorder
	objects string // directory of objects to serve; "" serves none
	faults  bool
}

var (
	_ upload.API        = (*fakeS3)(nil)
	_ step.GetObjectAPI = (*fakeS3)(nil)
)

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.record("GetObject")
	bucket, key := aws.ToString(in.Bucket), aws.ToString(in.Key)
	if code, ok := strings.CutPrefix(key, "fault/"); ok && f.faults {
		return nil, deniedError("s3.GetObject", code)
	}
	if f.objects == "" || bucket == "" || key == "" || strings.Contains(bucket+"/"+key, "..") {
		return nil, deniedError("s3.GetObject", "NoSuchKey")
	}
	body, err := os.ReadFile(filepath.Join(f.objects, bucket, filepath.FromSlash(key)))
	if err != nil {
		return nil, deniedError("s3.GetObject", "NoSuchKey")
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body)), ContentLength: aws.Int64(int64(len(body)))}, nil
}

func (f *fakeS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.record("PutObject")
	return nil, deniedError("s3.PutObject", "AccessDenied")
}

func (f *fakeS3) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	f.record("UploadPart")
	return nil, deniedError("s3.UploadPart", "AccessDenied")
}

func (f *fakeS3) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.record("CreateMultipartUpload")
	return nil, deniedError("s3.CreateMultipartUpload", "AccessDenied")
}

func (f *fakeS3) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.record("CompleteMultipartUpload")
	return nil, deniedError("s3.CompleteMultipartUpload", "AccessDenied")
}

func (f *fakeS3) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.record("AbortMultipartUpload")
	return nil, deniedError("s3.AbortMultipartUpload", "AccessDenied")
}

func (f *fakeS3) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.record("HeadObject")
	return nil, deniedError("s3.HeadObject", "AccessDenied")
}

func (f *fakeS3) DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	f.record("DeleteObjects")
	return nil, deniedError("s3.DeleteObjects", "AccessDenied")
}

func (f *fakeS3) ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	f.record("ListParts")
	return nil, deniedError("s3.ListParts", "AccessDenied")
}

func (f *fakeS3) UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	f.record("UploadPartCopy")
	return nil, deniedError("s3.UploadPartCopy", "AccessDenied")
}

func (f *fakeS3) PutObjectTagging(context.Context, *s3.PutObjectTaggingInput, ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error) {
	f.record("PutObjectTagging")
	return nil, deniedError("s3.PutObjectTagging", "AccessDenied")
}

func (f *fakeS3) GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	f.record("GetObjectTagging")
	return nil, deniedError("s3.GetObjectTagging", "AccessDenied")
}

func (f *fakeS3) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.record("ListObjectsV2")
	return nil, deniedError("s3.ListObjectsV2", "AccessDenied")
}

// deniedError is a permanent API error as the SDK returns it: an
// OperationError around an APIError.
func deniedError(op, code string) error {
	svc, name, _ := strings.Cut(op, ".")
	return &smithy.OperationError{ServiceID: svc, OperationName: name,
		Err: &smithy.GenericAPIError{Code: code, Message: "denied by the test fake", Fault: smithy.FaultClient}}
}

// fakes is a Handler wired to recording fakes.
type fakes struct {
	h   *step.Handler
	ddb *fakeDynamoDB
	s3  *fakeS3
}

// newFakes returns a Handler whose DynamoDB and S3 are recording fakes;
// objects is the directory GetObject serves ("" for none).
func newFakes(objects string) *fakes {
	f := &fakes{ddb: newFakeDynamoDB(), s3: &fakeS3{objects: objects}}
	f.h = step.New(step.Deps{
		DynamoDB: f.ddb,
		S3:       f.s3,
		Pointers: step.PointerReader{S3: f.s3},
	})
	return f
}

// exportCalls returns the calls made to DynamoDB and to S3's upload API:
// everything but pointer reads.
func (f *fakes) exportCalls() []string {
	var out []string
	out = append(out, f.ddb.Calls()...)
	for _, c := range f.s3.Calls() {
		if c != "GetObject" {
			out = append(out, c)
		}
	}
	return out
}

// invokeError invokes the handler with payload and returns the error it
// reports, failing the test when it succeeds or reports anything but a
// messages.InvokeResponse_Error value.
func invokeError(t testing.TB, h *step.Handler, payload []byte) messages.InvokeResponse_Error {
	t.Helper()
	out, err := h.Invoke(context.Background(), payload)
	if err == nil {
		t.Fatalf("Invoke succeeded with %s, want an error", out)
	}
	ie, ok := err.(messages.InvokeResponse_Error)
	if !ok {
		t.Fatalf("Invoke returned %T (%v), want messages.InvokeResponse_Error", err, err)
	}
	if out != nil {
		t.Errorf("Invoke returned a reply %q along with its error", out)
	}
	return ie
}

// eventsDir is testdata/events at the repository root.
func eventsDir(t testing.TB) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "testdata", "events")
}
