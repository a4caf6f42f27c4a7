// Package awsenv builds the handler's dependencies from the process
// environment: AWS clients (once per process), tuning knobs and the logger.
// Both mains use it, so the Lambda function and the CLI behave alike.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// Environment variables read by Deps.
const (
	EnvPartSizeMiB    = "MANIFEST_PART_SIZE_MIB"
	EnvConcurrency    = "MANIFEST_UPLOAD_CONCURRENCY"
	EnvPrefetch       = "MANIFEST_PREFETCH_PAGES"
	EnvDeadlineMargin = "MANIFEST_DEADLINE_MARGIN"
	EnvPathStyle      = "MANIFEST_S3_PATH_STYLE"
	EnvLogLevel       = "AWS_LAMBDA_LOG_LEVEL"
	// Item offloading (CONTRACT.md section 5).
	EnvOffloadBucket    = "ALLMA_EXECUTION_TRACES_BUCKET_NAME"
	EnvOffloadThreshold = "MAX_CONTEXT_DATA_SIZE_BYTES"
)

// Retry policy: the SDK's standard mode, with a backoff capped so retries
// cannot eat the invocation's deadline margin.
const (
	MaxAttempts = 5
	MaxBackoff  = 2 * time.Second
)

// NewRetryer is the SDK's standard retryer with MaxAttempts attempts, a
// backoff capped at maxBackoff, and one more retryable error: a reply cut
// mid-body (unexpected EOF while deserializing), which the SDK does not
// retry by itself. Query and UploadPart are safe to repeat.
func NewRetryer(maxBackoff time.Duration) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = maxBackoff
		o.Retryables = append(slices.Clone(o.Retryables), retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return aws.TrueTernary
			}
			return aws.UnknownTernary
		}))
	})
}

// Deps loads the AWS configuration (region, credentials, endpoints such as
// AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_S3) and the MANIFEST_*
// settings, and returns the handler's dependencies.
func Deps(ctx context.Context, log *slog.Logger) (step.Deps, error) {
	var d step.Deps
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(func() aws.Retryer { return NewRetryer(MaxBackoff) }))
	if err != nil {
		return d, fmt.Errorf("load AWS config: %w", err)
	}
	partMiB, err := intEnv(EnvPartSizeMiB, upload.DefaultPartSize>>20, 5, 5<<10)
	if err != nil {
		return d, err
	}
	conc, err := intEnv(EnvConcurrency, upload.DefaultConcurrency, 1, 64)
	if err != nil {
		return d, err
	}
	prefetch, err := intEnv(EnvPrefetch, 1, 1, 64)
	if err != nil {
		return d, err
	}
	var margin time.Duration
	if s := os.Getenv(EnvDeadlineMargin); s != "" {
		if margin, err = time.ParseDuration(s); err != nil || margin <= 0 {
			return d, fmt.Errorf("%s=%q: expected a positive Go duration such as 5s", EnvDeadlineMargin, s)
		}
	}
	pathStyle := os.Getenv(EnvPathStyle) == "true" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	d.DynamoDB = dynamodb.NewFromConfig(cfg)
	d.S3 = s3c
	d.Export.Upload = upload.Options{PartSize: int64(partMiB) << 20, Concurrency: conc}
	d.Pointers = step.PointerReader{S3: s3c}
	threshold, err := intEnv(EnvOffloadThreshold, export.DefaultOffloadThreshold, 1, 1<<30)
	if err != nil {
		return d, err
	}
	d.Export.Offload = export.Offload{API: s3c, Bucket: os.Getenv(EnvOffloadBucket), Threshold: threshold}
	d.Export.Prefetch = prefetch
	d.Export.DeadlineMargin = margin
	d.Logger = log
	return d, nil
}

// Logger returns a JSON logger at the level AWS_LAMBDA_LOG_LEVEL names
// (default INFO).
func Logger() *slog.Logger {
	var level slog.Level
	switch strings.ToUpper(os.Getenv(EnvLogLevel)) {
	case "TRACE", "DEBUG":
		level = slog.LevelDebug
	case "WARN":
		level = slog.LevelWarn
	case "ERROR", "FATAL":
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

func intEnv(name string, def, lo, hi int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: expected an integer from %d to %d", name, s, lo, hi)
	}
	return n, nil
}
