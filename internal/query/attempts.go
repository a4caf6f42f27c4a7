package query

import (
	"context"
	"errors"
	"sync/atomic"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Attempts counts the attempts the SDK makes for the Query requests whose
// context carries it (WithAttempts): the retries, and the throttling errors
// DynamoDB answered. Two middlewares that WithRawItems adds count them, one
// outside the SDK's retry loop and one inside it, so every attempt is seen
// once, whatever the retryer. An Attempts is safe for concurrent use: the
// Query requests of several readers may share one.
type Attempts struct {
	requests, attempts, throttles atomic.Int64
}

// Requests is the number of Query requests made.
func (a *Attempts) Requests() int64 { return a.requests.Load() }

// Retries is the number of attempts that repeated a request: every attempt
// but the first of each.
func (a *Attempts) Retries() int64 { return a.attempts.Load() - a.requests.Load() }

// Throttles is the number of attempts DynamoDB answered with a throttling
// error (IsThrottle), retried or not (the last attempt of a request that
// ran out of them is counted too).
func (a *Attempts) Throttles() int64 { return a.throttles.Load() }

// throttleCodes are the error codes DynamoDB throttles with.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
}

// IsThrottle says whether err is DynamoDB's answer that a request was
// throttled: ProvisionedThroughputExceededException, ThrottlingException
// or RequestLimitExceeded.
func IsThrottle(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
}

type attemptsKey struct{}

// WithAttempts returns ctx carrying a, which counts the attempts of the
// Query requests made with it (and with WithRawItems).
func WithAttempts(ctx context.Context, a *Attempts) context.Context {
	return context.WithValue(ctx, attemptsKey{}, a)
}

func attemptsFrom(ctx context.Context) *Attempts {
	a, _ := ctx.Value(attemptsKey{}).(*Attempts)
	return a
}

// The IDs of the counting middlewares, and of the SDK's retry middleware
// they are placed around.
const (
	RequestCounterID = "query:CountRequests"
	AttemptCounterID = "query:CountAttempts"
	retryID          = "Retry"
)

// addCounters adds the counting middlewares around the SDK's retry loop;
// without one (a client with no retries), both count once per request.
func addCounters(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get(RequestCounterID); ok {
		return nil
	}
	if _, ok := stack.Finalize.Get(retryID); !ok {
		if err := stack.Finalize.Add(requestCounter{}, middleware.Before); err != nil {
			return err
		}
		return stack.Finalize.Insert(attemptCounter{}, RequestCounterID, middleware.After)
	}
	if err := stack.Finalize.Insert(requestCounter{}, retryID, middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Insert(attemptCounter{}, retryID, middleware.After)
}

// requestCounter counts a Query request, once, before the retry loop.
type requestCounter struct{}

func (requestCounter) ID() string { return RequestCounterID }

func (requestCounter) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	if a := attemptsFrom(ctx); a != nil && awsmiddleware.GetOperationName(ctx) == "Query" {
		a.requests.Add(1)
	}
	return next.HandleFinalize(ctx, in)
}

// attemptCounter counts each attempt of a Query request, inside the retry
// loop, and the throttling errors among their answers.
type attemptCounter struct{}

func (attemptCounter) ID() string { return AttemptCounterID }

func (attemptCounter) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	a := attemptsFrom(ctx)
	if a == nil || awsmiddleware.GetOperationName(ctx) != "Query" {
		return next.HandleFinalize(ctx, in)
	}
	a.attempts.Add(1)
	out, md, err := next.HandleFinalize(ctx, in)
	if err != nil && IsThrottle(err) {
		a.throttles.Add(1)
	}
	return out, md, err
}
