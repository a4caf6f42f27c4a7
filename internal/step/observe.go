package step

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
)

// The attributes every log line of an invocation carries, so that one run
// can be followed across invocations.
const (
	AttrRequestID       = "requestId"       // the Lambda request id (manifest-cli: its run id)
	AttrFlowExecutionID = "flowExecutionId" // the event's, when it has one
	AttrStepInstanceID  = "stepInstanceId"  // the event's, when it has one
)

// ids are the ids of the invocation whose context is ctx, for event ev
// (nil: not parsed yet): the request id and the event's flow execution and
// step instance ids; a value is empty when absent.
func ids(ctx context.Context, ev *Event) []metrics.Property {
	id := []metrics.Property{{Name: AttrRequestID}, {Name: AttrFlowExecutionID}, {Name: AttrStepInstanceID}}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		id[0].Value = lc.AwsRequestID
	}
	if ev != nil {
		id[1].Value, id[2].Value = ev.FlowExecutionID, ev.StepInstanceID
	}
	return id
}

// logger is the logger of the invocation whose context is ctx, for event
// ev (nil: not parsed yet): the handler's, with the ids that are present.
func (h *Handler) logger(ctx context.Context, ev *Event) *slog.Logger {
	var attrs []any
	for _, p := range ids(ctx, ev) {
		if p.Value != "" {
			attrs = append(attrs, p.Name, p.Value)
		}
	}
	return h.d.Logger.With(attrs...)
}

type loggerKey struct{}

// WithLogger returns ctx carrying log, an invocation's logger. The SDK's
// log adapter (awsenv) writes the SDK's lines for calls made with ctx
// through it, so that they carry the invocation's attributes too.
func WithLogger(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

// LoggerFrom returns the logger ctx carries (WithLogger), or nil.
func LoggerFrom(ctx context.Context) *slog.Logger {
	log, _ := ctx.Value(loggerKey{}).(*slog.Logger)
	return log
}

// figures adds what one call of export.Run did to fig (nil: nowhere).
func figures(fig *metrics.Invocation, st *export.Stats) {
	if fig == nil {
		return
	}
	fig.Items, fig.Bytes, fig.Pages, fig.Offloaded = st.Items, st.Bytes, int64(st.Pages), st.Offloaded
	fig.QueryRetries, fig.Throttles, fig.Readers = st.QueryRetries, st.Throttles, int64(st.Readers)
}

// emit writes the invocation's metrics record, if metrics are on, with
// the ids its log lines carry, so that a query finds both.
func (h *Handler) emit(ctx context.Context, ev *Event, log *slog.Logger, fig metrics.Invocation, start time.Time) {
	fig.Duration = time.Since(start)
	if err := h.d.Metrics.Emit(fig, ids(ctx, ev)...); err != nil {
		log.Warn("metrics record not written", "error", err.Error())
	}
}
