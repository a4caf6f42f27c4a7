package step_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// apiError is an error as the SDK returns it for an HTTP status and an
// error code: an OperationError around a ResponseError around the APIError.
func apiError(service, op string, status int, code string, fault smithy.ErrorFault) error {
	return &smithy.OperationError{ServiceID: service, OperationName: op, Err: &awshttp.ResponseError{
		RequestID: "req-1",
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "test: " + code, Fault: fault},
		},
	}}
}

// TestClassify checks that Classify maps each failure Step Functions users
// will see to the errorType they match in Retry (transient) or Catch
// (permanent), and keeps the message.
func TestClassify(t *testing.T) {
	const (
		permanent = "*step.PermanentStepError"
		transient = "*step.TransientStepError"
	)
	sdk := sdkSetupErrors(t)
	tests := []struct {
		name string
		err  error
		want string
	}{
		// Permanent: retrying cannot help. The SDK's own refusals before
		// sending anything (issue 13 item 4) are errors of no known type.
		{"SDK: no region", sdk["no region"], permanent},
		{"SDK: region not a name", sdk["bad region"], permanent},
		{"SDK: no credentials", sdk["no credentials"], permanent},
		{"SDK: bucket arn:garbage", sdk["arn:garbage"], permanent},
		{"SDK: parameter validation", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject",
			Err: fmt.Errorf("failed to validate input: %w", errors.New("missing required field, PutObjectInput.Key"))}, permanent},
		{"ExpiredToken", apiError("DynamoDB", "Query", 400, "ExpiredTokenException", smithy.FaultClient), permanent},
		{"NoSuchVersion", apiError("S3", "GetObject", 404, "NoSuchVersion", smithy.FaultClient), permanent},
		{"ValidationException", apiError("DynamoDB", "Query", 400, "ValidationException", smithy.FaultClient), permanent},
		{"ResourceNotFoundException", apiError("DynamoDB", "Query", 400, "ResourceNotFoundException", smithy.FaultClient), permanent},
		{"AccessDeniedException", apiError("DynamoDB", "Query", 400, "AccessDeniedException", smithy.FaultClient), permanent},
		{"NoSuchBucket", apiError("S3", "CreateMultipartUpload", 404, "NoSuchBucket", smithy.FaultClient), permanent},
		{"AccessDenied", apiError("S3", "PutObject", 403, "AccessDenied", smithy.FaultClient), permanent},
		{"InvalidBucketName", apiError("S3", "PutObject", 400, "InvalidBucketName", smithy.FaultClient), permanent},
		{"PermanentRedirect", apiError("S3", "PutObject", 301, "PermanentRedirect", smithy.FaultClient), permanent},
		{"KMS.AccessDeniedException", apiError("S3", "UploadPart", 400, "KMS.AccessDeniedException", smithy.FaultClient), permanent},
		{"KMS.NotFoundException", apiError("S3", "UploadPart", 400, "KMS.NotFoundException", smithy.FaultClient), permanent},
		{"KMS.DisabledException", apiError("S3", "UploadPart", 400, "KMS.DisabledException", smithy.FaultClient), permanent},
		{"EntityTooLarge", apiError("S3", "UploadPart", 400, "EntityTooLarge", smithy.FaultClient), permanent},
		{"NoSuchKey", apiError("S3", "GetObject", 404, "NoSuchKey", smithy.FaultClient), permanent},
		{"PreconditionFailed", apiError("S3", "CompleteMultipartUpload", 412, "PreconditionFailed", smithy.FaultClient), permanent},
		{"unknown code 403", apiError("S3", "HeadObject", 403, "Forbidden", smithy.FaultUnknown), permanent},
		{"unknown client fault without a response", &smithy.GenericAPIError{Code: "SomethingNew", Fault: smithy.FaultClient}, permanent},
		{"ValidationException after max attempts", &retry.MaxAttemptsError{Attempt: 1, Err: apiError("DynamoDB", "Query", 400, "ValidationException", smithy.FaultClient)}, permanent},
		{"already permanent", &step.PermanentStepError{Message: "config: query.tableName: required"}, permanent},
		{"wrapped permanent", fmt.Errorf("export: %w", &step.PermanentStepError{Message: "bad"}), permanent},
		{"manifest over 10,000 parts", &upload.Error{Bucket: "b", Key: "k", Err: fmt.Errorf("%w: more than 10000 parts", upload.ErrTooLarge)}, permanent},
		{"checksum refused", &upload.Error{Bucket: "b", Key: "k", Op: "UploadPart 2", Err: fmt.Errorf("%w: S3 reports another CRC64NVME for the part", upload.ErrChecksumMismatch)}, permanent},
		{"export encode error", &export.Error{Stage: "encode", Err: errors.New("item 3: string is not valid UTF-8")}, permanent},

		// Transient: retrying may help.
		{"ProvisionedThroughputExceededException", apiError("DynamoDB", "Query", 400, "ProvisionedThroughputExceededException", smithy.FaultClient), transient},
		{"ThrottlingException", apiError("DynamoDB", "Query", 400, "ThrottlingException", smithy.FaultClient), transient},
		{"RequestLimitExceeded", apiError("DynamoDB", "Query", 400, "RequestLimitExceeded", smithy.FaultClient), transient},
		{"SlowDown", apiError("S3", "UploadPart", 503, "SlowDown", smithy.FaultServer), transient},
		{"KMS.ThrottlingException", apiError("S3", "UploadPart", 400, "KMS.ThrottlingException", smithy.FaultClient), transient},
		{"HTTP 500 InternalError", apiError("S3", "UploadPart", 500, "InternalError", smithy.FaultServer), transient},
		{"HTTP 500 unknown code", apiError("DynamoDB", "Query", 500, "Mystery", smithy.FaultUnknown), transient},
		{"HTTP 503 ServiceUnavailable", apiError("S3", "PutObject", 503, "ServiceUnavailable", smithy.FaultServer), transient},
		{"HTTP 503 ResponseError without an API error", &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: errors.New("service unavailable")}, transient},
		{"HTTP 500 ResponseError without an API error", &smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart", Err: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}}, Err: errors.New("internal")}}, transient},
		{"MaxAttemptsError", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "Query", Err: &retry.MaxAttemptsError{
			Attempt: 3, Err: apiError("DynamoDB", "Query", 400, "ThrottlingException", smithy.FaultClient)}}, transient},
		{"MaxAttemptsError around a plain error", &retry.MaxAttemptsError{Attempt: 3, Err: io.ErrUnexpectedEOF}, transient},
		{"retry quota exhausted", &smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart",
			Err: fmt.Errorf("failed to get rate limit token, %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5})}, transient},
		{"connection refused", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "Query", Err: &smithyhttp.RequestSendError{
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}}, transient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, transient},
		{"request not sent", &smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart", Err: &smithyhttp.RequestSendError{
			Err: errors.New("http2: server sent GOAWAY and closed the connection")}}, transient},
		{"reply that cannot be read", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "Query",
			Err: &smithy.DeserializationError{Err: errors.New("invalid character '<' looking for beginning of value")}}, transient},
		{"panic in a goroutine of the export", &export.Error{Stage: "upload", Err: errors.New("upload panicked: boom")}, transient},
		{"broken pipe", fmt.Errorf("upload part 3: %w", os.NewSyscallError("write", syscall.EPIPE)), transient},
		{"use of closed connection", fmt.Errorf("read body: %w", net.ErrClosed), transient},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "dynamodb.us-east-1.amazonaws.com", IsTimeout: true}, transient},
		{"unexpected EOF", &smithy.OperationError{ServiceID: "S3", OperationName: "UploadPart", Err: io.ErrUnexpectedEOF}, transient},
		{"deadline exceeded", context.DeadlineExceeded, transient},
		{"wrapped deadline exceeded", fmt.Errorf("query page 3: %w", context.DeadlineExceeded), transient},
		{"export deadline", &export.Error{Stage: "query", Err: fmt.Errorf("%w (14m left at start)", export.ErrDeadline)}, transient},
		{"already transient", &step.TransientStepError{Message: "throttled"}, transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := step.Classify(tc.err)
			if got == nil {
				t.Fatal("Classify returned nil")
			}
			// aws-lambda-go reports the Go type name of the error as
			// errorType, without unwrapping: the type itself must be right.
			if diff := cmp.Diff(tc.want, reflect.TypeOf(got).String()); diff != "" {
				t.Errorf("type (-want +got):\n%s\nerror: %v", diff, tc.err)
			}
			if diff := cmp.Diff(tc.err.Error(), got.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	if got := step.Classify(nil); got != nil {
		t.Errorf("Classify(nil) = %v, want nil", got)
	}
}

// TestTemplateStopsAtTheDeadline checks that a template whose evaluation
// outlasts the invocation stops at the deadline margin and is reported as a
// TransientStepError that says so, never Lambda's own "Task timed out"
// (issue 13 item 2).
func TestTemplateStopsAtTheDeadline(t *testing.T) {
	// Three nested #each over 150 items: 3.4 million block bodies, seconds.
	payload := `{"customConfig": {"query": {"tableName": "tbl", "keyConditionExpression": "pk = :p", "expressionAttributeValues": {":p": "x"}}, ` +
		`"destination": {"bucketName": "bkt", "key": "k{{#each items}}{{#each @root.items}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}"}}, ` +
		`"context": {"items": [` + strings.Repeat(`{"i": 1}, `, 149) + `{"i": 1}]}}`
	h := step.New(step.Deps{DynamoDB: &fakeDynamoDB{}, Export: export.Options{DeadlineMargin: time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond) // rendering has 200ms
	defer cancel()
	_, err := h.Invoke(ctx, []byte(payload))
	var ie messages.InvokeResponse_Error
	if !errors.As(err, &ie) {
		t.Fatalf("Invoke error = %v (%T), want messages.InvokeResponse_Error", err, err)
	}
	if ie.Type != "TransientStepError" {
		t.Errorf("errorType = %s, want TransientStepError; message: %s", ie.Type, ie.Message)
	}
	for _, want := range []string{"template: destination.key: ", "template evaluation stopped", export.ErrDeadline.Error()} {
		if !strings.Contains(ie.Message, want) {
			t.Errorf("message %q does not contain %q", ie.Message, want)
		}
	}
}

// sdkSetupErrors returns the errors the SDK itself returns, before sending
// any request, for a missing or malformed region, failing credentials and a
// bucket that is not one: real errors, made by calling real clients.
func sdkSetupErrors(t *testing.T) map[string]error {
	t.Helper()
	ctx := context.Background()
	static := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	none := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no EC2 IMDS role found")
	}))
	query := func(cfg aws.Config) error {
		_, err := dynamodb.NewFromConfig(cfg).Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t")})
		return err
	}
	_, garbage := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: static}).
		PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("arn:garbage"), Key: aws.String("k")})
	errs := map[string]error{
		"no region":      query(aws.Config{Credentials: static}),
		"bad region":     query(aws.Config{Region: "us east", Credentials: static}),
		"no credentials": query(aws.Config{Region: "us-east-1", Credentials: none}),
		"arn:garbage":    garbage,
	}
	for name, err := range errs {
		if err == nil {
			t.Fatalf("%s: the SDK call succeeded", name)
		}
	}
	return errs
}

// Classify keeps the chain: the boundary's error still answers errors.Is
// and errors.As about what it classifies.
func TestClassifyKeepsTheChain(t *testing.T) {
	cause := &export.Error{Stage: export.StageUpload, Err: fmt.Errorf("writing: %w", upload.ErrTooLarge)}
	got := step.Classify(fmt.Errorf("export: %w", cause))
	var pe *step.PermanentStepError
	var ee *export.Error
	if !errors.As(got, &pe) || !errors.Is(got, upload.ErrTooLarge) || !errors.As(got, &ee) {
		t.Errorf("Classify(...) = %#v: the chain to upload.ErrTooLarge and *export.Error is lost", got)
	}
}

// A continuation that cannot go on is permanent: a retry sends the same one.
func TestClassifyContinuations(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("continuation: %w", fmt.Errorf("%w (its state object is gone)", upload.ErrUploadGone)),
		fmt.Errorf("continuation: %w: its upload state: bad", export.ErrBadContinuation),
		&export.Error{Stage: export.StageUpload, Err: &upload.Error{Op: "Resume", Err: errors.New("invalid state")}},
	} {
		var pe *step.PermanentStepError
		if got := step.Classify(err); !errors.As(got, &pe) {
			t.Errorf("Classify(%v) = %T, want *PermanentStepError", err, got)
		}
	}
}
