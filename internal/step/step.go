// Package step owns the Lambda handler: it recognises the event's shape,
// builds the template context, renders and validates the config, runs the
// export and shapes the reply. It is the one place where errors become
// PermanentStepError or TransientStepError.
package step

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonl"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/render"
	"github.com/allma/ddb-query-to-s3-manifest/internal/sink"
)

// Deadline margin: by default the larger of MinDeadlineMargin and
// DeadlineMarginFraction of the time left when the invocation starts.
const (
	MinDeadlineMargin      = 3 * time.Second
	DeadlineMarginFraction = 0.05
)

// Deps are the handler's collaborators, built once per process.
type Deps struct {
	DynamoDB query.API
	Sink     *sink.Sink
	Pointers render.PointerReader // reads _s3_output_pointer objects; nil: unavailable
	Export   export.Options       // DeadlineMargin here overrides the default; Offload.API enables offloading
	Logger   *slog.Logger         // nil: no logs
}

// Handler is the Lambda handler. It is safe for concurrent use.
type Handler struct{ d Deps }

// New returns a Handler.
func New(d Deps) *Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{d: d}
}

// Pointer is the orchestrator's S3 pointer to an object.
type Pointer struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
}

// Output is the step's result (CONTRACT.md section 6).
type Output struct {
	Manifest struct {
		Pointer Pointer `json:"_s3_output_pointer"`
	} `json:"manifest"`
	ItemCount        int64           `json:"itemCount"`
	SizeBytes        int64           `json:"sizeBytes"`
	ItemsOffloaded   *int64          `json:"itemsOffloaded,omitempty"`
	Truncated        bool            `json:"truncated,omitempty"`
	LastEvaluatedKey json.RawMessage `json:"lastEvaluatedKey,omitempty"`
}

// Invoke implements lambda.Handler. It decodes the event itself, so invalid
// JSON is a PermanentStepError, not aws-lambda-go's SyntaxError.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (reply []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			h.d.Logger.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			reply, err = nil, response(&TransientStepError{Message: fmt.Sprintf("internal error: panic: %v", p)})
		}
	}()
	ev, err := ParseEvent(payload)
	if err != nil {
		return nil, response(err)
	}
	out, err := h.Run(ctx, ev)
	if err != nil {
		h.d.Logger.Error("failed", "error", err.Error())
		return nil, response(err)
	}
	var v any = out
	if ev.Shape == Envelope {
		v = map[string]any{"outputData": out}
	}
	return json.Marshal(v)
}

// Plan renders and validates ev's config without calling DynamoDB or S3
// (except to read _s3_output_pointer objects the templates go through).
func (h *Handler) Plan(ctx context.Context, ev *Event) (*config.Config, error) {
	rendered, err := render.New(render.Options{Pointers: h.d.Pointers}).Config(ctx, ev.Config, ev.Context)
	if err != nil {
		return nil, renderError(err)
	}
	maps.Copy(rendered, ev.Overrides) // stepInput is already resolved: not rendered
	cfg, err := config.Decode(rendered, ev.Config)
	if err != nil {
		return nil, permanent(fmt.Errorf("config: %w", err))
	}
	return cfg, nil
}

// Run plans and runs the export for ev.
func (h *Handler) Run(ctx context.Context, ev *Event) (*Output, error) {
	margin := h.margin(ctx)
	// Rendering may read pointers from S3: it too stops at the margin.
	pctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		pctx, cancel = context.WithDeadlineCause(ctx, dl.Add(-margin), export.ErrDeadline)
		defer cancel()
	}
	cfg, err := h.Plan(pctx, ev)
	if err != nil {
		return nil, err
	}
	return h.Export(ctx, ev, cfg)
}

// margin is the configured deadline margin, or the default for ctx.
func (h *Handler) margin(ctx context.Context) time.Duration {
	if m := h.d.Export.DeadlineMargin; m > 0 {
		return m
	}
	return defaultMargin(ctx)
}

// Export runs the export for a config that Plan returned for ev.
func (h *Handler) Export(ctx context.Context, ev *Event, cfg *config.Config) (*Output, error) {
	start := time.Now()
	margin := h.margin(ctx)
	log := h.d.Logger.With("shape", ev.Shape.String(), "table", cfg.Query.TableName, "index", cfg.Query.IndexName,
		"bucket", cfg.Destination.BucketName, "key", cfg.Destination.Key)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("requestId", lc.AwsRequestID)
	}
	opts := h.d.Export
	opts.Logger = log
	runID := requestID(ctx)
	flow, stepID := ev.FlowExecutionID, ev.StepInstanceID
	if flow == "" {
		flow = runID
	}
	if stepID == "" {
		stepID = "manifest"
	}
	opts.Offload.Prefix = fmt.Sprintf("manifest_items/%s/%s/%s/", flow, stepID, runID)
	opts.DeadlineMargin = margin
	log.Info("start", "format", cfg.Output.Format.String(), "limit", cfg.Query.Limit, "pageSize", cfg.Query.PageSize)
	res, err := export.Run(ctx, h.d.DynamoDB, h.d.Sink, cfg, opts)
	if err != nil {
		return nil, Classify(explain(err, cfg))
	}
	out := &Output{ItemCount: res.Items, SizeBytes: res.Object.Size, Truncated: res.Truncated}
	out.Manifest.Pointer = Pointer{Bucket: res.Object.Bucket, Key: res.Object.Key, VersionID: res.Object.VersionID}
	if cfg.EnableItemOffloading {
		out.ItemsOffloaded = &res.Offloaded
	}
	if res.Truncated && len(res.LastEvaluatedKey) > 0 {
		// The manifest is written: nothing after this may fail the step.
		if b, err := jsonl.AppendDynamoJSON(nil, res.LastEvaluatedKey); err == nil {
			out.LastEvaluatedKey = b
		} else {
			log.Error("lastEvaluatedKey not encodable", "error", err.Error())
		}
	}
	el := time.Since(start)
	log.Info("done", "items", res.Items, "bytes", res.Object.Size, "pages", res.Pages, "truncated", res.Truncated,
		"elapsed", el.Round(time.Millisecond).String(), "MBps", fmt.Sprintf("%.1f", float64(res.Object.Size)/1e6/el.Seconds()))
	return out, nil
}

// requestID is the Lambda request id, or a random id outside Lambda (the
// CLI), so that two runs never share offloaded objects.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// defaultMargin is the larger of MinDeadlineMargin and
// DeadlineMarginFraction of the time left, but at most half the time left,
// so a short timeout still leaves the export time to run.
func defaultMargin(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return MinDeadlineMargin
	}
	left := time.Until(dl)
	return min(left/2, max(MinDeadlineMargin, time.Duration(float64(left)*DeadlineMarginFraction)))
}

// renderError classifies a template failure: permanent, unless a pointer
// read failed in a way that retrying may help.
func renderError(err error) error {
	var errs render.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			if transient, _ := errorKind(e.Err); e.Err != nil && transient {
				return &TransientStepError{Message: "template: " + err.Error()}
			}
		}
	}
	return &PermanentStepError{Message: "template: " + err.Error()}
}
