// Package step owns the Lambda handler: it recognises the event's shape,
// builds the template context, renders and validates the config, runs the
// export and shapes the reply. It is the one place where errors become
// PermanentStepError or TransientStepError.
package step

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/deadline"
	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/render"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// Deps are the handler's collaborators, built once per process.
type Deps struct {
	DynamoDB query.API
	S3       upload.API           // the manifest's uploads
	Pointers render.PointerReader // reads _s3_output_pointer objects; nil: unavailable
	Export   export.Options       // DeadlineMargin here overrides the default; Offload.API enables offloading
	Logger   *slog.Logger         // nil: no logs
	// CleanupBudget bounds the cleanup after a failure, from the failure
	// on; 0: deadline.DefaultCleanupBudget.
	CleanupBudget time.Duration
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
	return json.Marshal(Reply(ev, out))
}

// Reply is what the function replies for ev: out itself, or, in the
// orchestrator's envelope, {"outputData": out}.
func Reply(ev *Event, out any) any {
	if ev.Shape == Envelope {
		return map[string]any{"outputData": out}
	}
	return out
}

// Plan renders and validates ev's config without calling DynamoDB or S3
// (except to read _s3_output_pointer objects the templates go through).
func (h *Handler) Plan(ctx context.Context, ev *Event) (*config.Config, error) {
	rendered, err := render.New(render.Options{Pointers: h.d.Pointers}).Config(ctx, ev.Config, ev.Context)
	if err != nil {
		return nil, renderError(err)
	}
	maps.Copy(rendered, ev.Overrides) // stepInput is already resolved: not rendered
	cfg, err := config.Decode(rendered)
	if err != nil {
		return nil, permanent(fmt.Errorf("config: %w", err))
	}
	return cfg, nil
}

// Run plans and runs the export for ev, under one time policy for the
// invocation: rendering (which may read pointers from S3) stops at its
// margin too.
func (h *Handler) Run(ctx context.Context, ev *Event) (*Output, error) {
	policy := h.Policy(ctx)
	wctx, cancel := policy.Work(ctx)
	defer cancel()
	cfg, err := h.Plan(wctx, ev)
	if err != nil {
		return nil, err
	}
	return h.Export(ctx, policy, ev, cfg)
}

// Policy is the time policy of an invocation whose context is ctx: its
// deadline, the configured margin (or the default for the time left) and
// cleanup budget.
func (h *Handler) Policy(ctx context.Context) *deadline.Policy {
	return deadline.New(ctx, deadline.Options{Margin: h.d.Export.DeadlineMargin, CleanupBudget: h.d.CleanupBudget})
}

// Export runs the export for a config that Plan returned for ev, under the
// invocation's policy.
func (h *Handler) Export(ctx context.Context, policy *deadline.Policy, ev *Event, cfg *config.Config) (*Output, error) {
	start := time.Now()
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
	opts.Policy = policy
	log.Info("start", "format", cfg.Output.Format.String(), "limit", cfg.Query.Limit, "pageSize", cfg.Query.PageSize)
	res, err := export.Run(ctx, h.d.DynamoDB, h.d.S3, cfg, opts)
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
		if b, err := lines.AppendDynamoJSON(nil, res.LastEvaluatedKey); err == nil {
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

// requestID is the Lambda request id, or a new run id outside Lambda, so
// that two runs never share offloaded objects.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return export.NewRunID()
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
