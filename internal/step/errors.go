package step

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// PermanentStepError is a failure that retrying cannot help: a bad event,
// config or template, or an AWS error such as ValidationException,
// ResourceNotFoundException, AccessDenied or NoSuchBucket. Step Functions
// users match its name in Catch.
// Err, when set, is the error it classifies, so errors.Is and errors.As
// see the whole chain up to the boundary.
type PermanentStepError struct {
	Message string
	Err     error
}

func (e *PermanentStepError) Error() string { return e.Message }
func (e *PermanentStepError) Unwrap() error { return e.Err }

// TransientStepError is a failure that retrying may help: throttling, 5xx,
// network failure, or running out of time. Step Functions users match its
// name in Retry.
type TransientStepError struct {
	Message string
	Err     error // the error it classifies, when there is one
}

func (e *TransientStepError) Error() string { return e.Message }
func (e *TransientStepError) Unwrap() error { return e.Err }

// permanent wraps err as a PermanentStepError.
func permanent(err error) error { return &PermanentStepError{Message: err.Error(), Err: err} }

// Classify turns any error into a *PermanentStepError or *TransientStepError,
// keeping its whole message. A step error wrapped by another layer keeps
// its kind.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *PermanentStepError
	var te *TransientStepError
	switch {
	case errors.As(err, &pe):
		if err == error(pe) {
			return pe
		}
		return &PermanentStepError{Message: err.Error(), Err: err}
	case errors.As(err, &te):
		if err == error(te) {
			return te
		}
		return &TransientStepError{Message: err.Error(), Err: err}
	case isTransient(err):
		return &TransientStepError{Message: err.Error(), Err: err}
	}
	return &PermanentStepError{Message: err.Error(), Err: err}
}

// Error codes, by smithy.APIError.ErrorCode().
var (
	permanentCodes = map[string]bool{
		"ValidationException": true, "ResourceNotFoundException": true, "AccessDeniedException": true,
		"NoSuchBucket": true, "AccessDenied": true, "InvalidBucketName": true, "PermanentRedirect": true,
		"EntityTooLarge": true, "NoSuchKey": true, "PreconditionFailed": true, "InvalidAccessKeyId": true,
		"SignatureDoesNotMatch": true, "UnrecognizedClientException": true, "InvalidRequest": true,
		"InvalidArgument": true, "KMS.DisabledException": true, "KMS.NotFoundException": true,
		"KMS.AccessDeniedException": true, "KMS.InvalidStateException": true,
		"ExpiredToken": true, "ExpiredTokenException": true, "InvalidClientTokenId": true,
		"MissingAuthenticationToken": true, "IncompleteSignature": true, "InvalidSignatureException": true,
		"NoSuchVersion": true, "MethodNotAllowed": true,
	}
	transientCodes = map[string]bool{
		"ProvisionedThroughputExceededException": true, "ThrottlingException": true,
		"RequestLimitExceeded": true, "SlowDown": true, "KMS.ThrottlingException": true,
		"InternalServerError": true, "InternalError": true, "ServiceUnavailable": true,
		"RequestTimeout": true, "RequestTimeoutException": true, "TransactionConflictException": true,
		"LimitExceededException": true,
	}
)

// isTransient says whether retrying err may help. Errors it does not
// recognise are taken as transient: not from the SDK (errorKind knows every
// SDK error), they are this function's own failures, such as a panic in a
// goroutine, which a fresh invocation may not repeat.
func isTransient(err error) bool {
	transient, known := errorKind(err)
	return transient || !known
}

// errorKind says whether err is transient, and whether it is a kind of error
// this package recognises at all.
func errorKind(err error) (transient, known bool) {
	var pe *PermanentStepError
	if errors.As(err, &pe) {
		return false, true
	}
	var ee *export.Error
	// A checksum S3 refused: our bytes and our CRC disagree, every time.
	if errors.As(err, &ee) && ee.Stage == export.StageEncode || errors.Is(err, upload.ErrTooLarge) ||
		errors.Is(err, upload.ErrChecksumMismatch) {
		return false, true
	}
	// A continuation that cannot go on: no retry makes it.
	var ue *upload.Error
	if errors.Is(err, upload.ErrUploadGone) || errors.Is(err, export.ErrBadContinuation) || errors.As(err, &ue) && ue.Op == "Resume" {
		return false, true
	}
	if errors.Is(err, export.ErrDeadline) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true, true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case transientCodes[code]:
			return true, true
		case permanentCodes[code], strings.HasPrefix(code, "KMS."):
			return false, true
		}
	}
	// Network failures first: a reset or a reply cut mid-body may carry an
	// HTTP response with status 0 or 200. A RequestSendError is the SDK's
	// "the request did not get through"; MaxAttemptsError and
	// QuotaExceededError say the SDK's retries ran out on retryable errors.
	var me *retry.MaxAttemptsError
	var ne net.Error
	var se *smithyhttp.RequestSendError
	var qe ratelimit.QuotaExceededError
	if errors.As(err, &me) || errors.As(err, &ne) || errors.As(err, &se) || errors.As(err, &qe) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) {
		return true, true
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 400 {
		return re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 429, true
	}
	if api != nil {
		return api.ErrorFault() == smithy.FaultServer, true
	}
	// A reply that arrived but could not be read: a retry gets a new one.
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return true, true
	}
	// An SDK error with no reply and no transport failure in it: the SDK
	// refused before sending anything, for a missing or malformed region, no
	// credentials, a bucket such as "arn:garbage" or an invalid parameter.
	// A retry fails the same way, after the whole query is read again.
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return false, true
	}
	return false, false
}

// response turns a classified error into what aws-lambda-go reports. It
// returns messages.InvokeResponse_Error by value, because aws-lambda-go takes
// errorType from the Go type name of the returned error without unwrapping.
func response(err error) error {
	err = Classify(err)
	typ := "PermanentStepError"
	var te *TransientStepError
	if errors.As(err, &te) {
		typ = "TransientStepError"
	}
	return messages.InvokeResponse_Error{Type: typ, Message: err.Error()}
}

// explain makes AWS errors that stem from one config field name it.
func explain(err error, cfg *config.Config) error {
	if errors.Is(err, upload.ErrExists) {
		return &PermanentStepError{Message: fmt.Sprintf("destination.overwrite is false and an object already exists at s3://%s/%s: %v",
			cfg.Destination.BucketName, cfg.Destination.Key, err)}
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch code := api.ErrorCode(); {
	case code == "ValidationException" && cfg.Query.ConsistentRead != nil && *cfg.Query.ConsistentRead &&
		strings.Contains(strings.ToLower(api.ErrorMessage()), "consistent read"):
		return &PermanentStepError{Message: fmt.Sprintf("query.consistentRead: true is not supported on global secondary index %q; "+
			"leave it out or query the table or a local secondary index: %v", cfg.Query.IndexName, err)}
	case code == "PreconditionFailed" && !cfg.Destination.Overwrite:
		return &PermanentStepError{Message: fmt.Sprintf("destination.overwrite is false and an object already exists at s3://%s/%s: %v",
			cfg.Destination.BucketName, cfg.Destination.Key, err)}
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" && strings.Contains(api.ErrorMessage(), "region"):
		region := "another region"
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.Response != nil {
			if r := re.Response.Header.Get("X-Amz-Bucket-Region"); r != "" {
				region = "region " + r
			}
		}
		return &PermanentStepError{Message: fmt.Sprintf("destination.bucketName: bucket %q is in %s; deploy the function there or use a bucket in its region: %v",
			cfg.Destination.BucketName, region, err)}
	}
	return err
}
