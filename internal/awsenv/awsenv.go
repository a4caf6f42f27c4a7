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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
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
	// Metrics: MANIFEST_METRICS=off writes no metrics record; the
	// namespace defaults to metrics.DefaultNamespace.
	EnvMetrics          = "MANIFEST_METRICS"
	EnvMetricsNamespace = "MANIFEST_METRICS_NAMESPACE"
	EnvFunctionName     = "AWS_LAMBDA_FUNCTION_NAME"
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
//
// What no retry can fix is found here, before any Query: a setting that is
// not valid, no region, a region that is not one, and no credentials (they
// are retrieved once, so a missing profile or role fails now, not after the
// templates are rendered). The SDK's own log lines (retries, warnings) go
// to log as JSON.
func Deps(ctx context.Context, log *slog.Logger) (step.Deps, error) {
	var d step.Deps
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRetryer(func() aws.Retryer { return NewRetryer(MaxBackoff) }),
		config.WithLogger(sdkLogger{log}))
	if err != nil {
		return d, fmt.Errorf("load AWS config: %w", err)
	}
	if err := checkRegion(cfg.Region); err != nil {
		return d, err
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return d, fmt.Errorf("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role: %w", err)
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
	pathStyle, err := boolEnv(EnvPathStyle)
	if err != nil {
		return d, err
	}
	pathStyle = pathStyle || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
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
	if d.Metrics, err = Metrics(os.Getenv, os.Stdout); err != nil {
		return d, err
	}
	return d, nil
}

// Metrics returns the emitter of the invocations' metrics records, which
// writes each as one line to w (Lambda sends the function's stdout to
// CloudWatch Logs, which reads the EMF records), or nil when
// MANIFEST_METRICS is off. MANIFEST_METRICS takes on (the default) or off;
// MANIFEST_METRICS_NAMESPACE names the namespace; the dimension is
// AWS_LAMBDA_FUNCTION_NAME.
func Metrics(getenv func(string) string, w io.Writer) (*metrics.Emitter, error) {
	switch v := getenv(EnvMetrics); strings.ToLower(v) {
	case "off":
		return nil, nil
	case "", "on":
	default:
		return nil, fmt.Errorf("%s=%q: expected on or off", EnvMetrics, v)
	}
	e, err := metrics.NewEmitter(w, getenv(EnvMetricsNamespace), getenv(EnvFunctionName))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMetricsNamespace, err)
	}
	return e, nil
}

// regionRE is what an AWS region name looks like (us-east-1, us-gov-west-1):
// a DNS label, which is all the SDK's endpoint rules accept.
var regionRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// checkRegion fails for a missing region or one that cannot be: the SDK would
// only say so on the first call, after the templates are rendered.
func checkRegion(region string) error {
	switch {
	case region == "":
		return errors.New("no AWS region: set AWS_REGION (manifest-cli: --region), or a region in the AWS profile")
	case !regionRE.MatchString(region):
		return fmt.Errorf("AWS region %q is not a region name such as us-east-1", region)
	}
	return nil
}

// sdkLogger is a logging.Logger for the AWS SDK that writes to log: the SDK's
// warnings (such as "failed to discard remaining HTTP response body") become
// JSON lines like every other, with source "aws-sdk". For a call whose
// context carries an invocation's logger (step.WithLogger), the SDK asks
// for one through WithContext, and its lines go through that logger, with
// the invocation's attributes.
type sdkLogger struct{ log *slog.Logger }

var _ logging.ContextLogger = sdkLogger{}

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelWarn
	if c == logging.Debug {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}

// WithContext is the logger for a call made with ctx.
func (l sdkLogger) WithContext(ctx context.Context) logging.Logger {
	if log := step.LoggerFrom(ctx); log != nil {
		return sdkLogger{log}
	}
	return l
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

// boolEnv reads a boolean setting: unset or empty is false, and anything
// strconv.ParseBool does not take ("maybe", "yes") is an error naming it.
func boolEnv(name string) (bool, error) {
	s := os.Getenv(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s=%q: expected true or false", name, s)
	}
	return b, nil
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
