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
	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/render"
	"github.com/allma/ddb-query-to-s3-manifest/internal/resume"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// Deps are the handler's collaborators, built once per process.
type Deps struct {
	DynamoDB query.API
	S3       export.S3            // the manifest's uploads
	Pointers render.PointerReader // reads _s3_output_pointer objects; nil: unavailable
	Export   export.Options       // DeadlineMargin here overrides the default; Offload.API enables offloading
	Logger   *slog.Logger         // nil: no logs
	// Metrics receives one record per invocation (Invoke); nil: none.
	Metrics *metrics.Emitter
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
	ItemCount int64 `json:"itemCount"`
	SizeBytes int64 `json:"sizeBytes"`
	// ChecksumCRC64NVME is the manifest's full-object CRC-64/NVME as S3
	// names and writes it (base64 of the 8 big-endian bytes), on a
	// complete export.
	ChecksumCRC64NVME string          `json:"checksumCRC64NVME,omitempty"`
	ItemsOffloaded    *int64          `json:"itemsOffloaded,omitempty"`
	Truncated         bool            `json:"truncated,omitempty"`
	LastEvaluatedKey  json.RawMessage `json:"lastEvaluatedKey,omitempty"`
	// Complete says, for a resumable export, whether the manifest is
	// written; when not, Continuation is what the next invocation takes.
	Complete     *bool  `json:"complete,omitempty"`
	Continuation string `json:"continuation,omitempty"`
	// Cancelled: the export was given up (the event's cancel).
	Cancelled bool `json:"cancelled,omitempty"`
}

// Invoke implements lambda.Handler. It decodes the event itself, so invalid
// JSON is a PermanentStepError, not aws-lambda-go's SyntaxError. Every log
// line of the invocation carries its request id, and the event's flow
// execution and step instance ids when it has them; when it returns, it
// writes the invocation's metrics record (Deps.Metrics), whatever the
// outcome.
func (h *Handler) Invoke(ctx context.Context, payload []byte) (reply []byte, err error) {
	start := time.Now()
	log := h.logger(ctx, nil)
	var fig metrics.Invocation
	var ev *Event
	defer func() {
		fig.Failed = err != nil
		h.emit(ctx, ev, log, fig, start)
	}()
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			reply, err = nil, response(&TransientStepError{Message: fmt.Sprintf("internal error: panic: %v", p)})
		}
	}()
	if ev, err = ParseEvent(payload); err != nil {
		return nil, response(err)
	}
	log = h.logger(ctx, ev)
	out, err := h.Run(ctx, ev, &fig)
	if err != nil {
		log.Error("failed", "error", err.Error())
		return nil, response(err)
	}
	fig.Continuation = out.Continuation != ""
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
	cfg, err := config.Decode(rendered, ev.Config)
	if err != nil {
		return nil, permanent(fmt.Errorf("config: %w", err))
	}
	if cfg.Digest, err = resume.Digest(rendered); err != nil {
		return nil, permanent(err)
	}
	return cfg, nil
}

// Run plans and runs the export for ev, under one time policy for the
// invocation: rendering (which may read pointers from S3) stops at its
// margin too. fig, when not nil, receives what the invocation did, after a
// failure too (the figures so far).
func (h *Handler) Run(ctx context.Context, ev *Event, fig *metrics.Invocation) (*Output, error) {
	ctx = WithLogger(ctx, h.logger(ctx, ev)) // the SDK's lines while rendering, too
	policy := h.Policy(ctx)
	wctx, cancel := policy.Work(ctx)
	defer cancel()
	cfg, err := h.Plan(wctx, ev)
	if err != nil {
		return nil, err
	}
	return h.Export(ctx, policy, ev, cfg, fig)
}

// Policy is the time policy of an invocation whose context is ctx: its
// deadline, the configured margin (or the default for the time left) and
// cleanup budget.
func (h *Handler) Policy(ctx context.Context) *deadline.Policy {
	return deadline.New(ctx, deadline.Options{Margin: h.d.Export.DeadlineMargin, CleanupBudget: h.d.CleanupBudget})
}

// Export runs the export for a config that Plan returned for ev, under the
// invocation's policy: from the start, or on from ev's continuation, or it
// cancels it. fig, when not nil, receives what this invocation did (a
// failed one too: the figures so far). Its log lines, and the SDK's for
// its calls, carry the invocation's ids (Invoke).
func (h *Handler) Export(ctx context.Context, policy *deadline.Policy, ev *Event, cfg *config.Config, fig *metrics.Invocation) (*Output, error) {
	start := time.Now()
	ilog := h.logger(ctx, ev)
	ctx = WithLogger(ctx, ilog)
	from, err := continuation(ev, cfg)
	if err != nil {
		return nil, err
	}
	if from != nil {
		var done *export.CompletedError
		switch from, err = export.LoadState(ctx, h.d.S3, cfg, from); {
		case errors.As(err, &done):
			return h.output(cfg, done.Result, ilog), nil
		case ev.Cancel && errors.Is(err, upload.ErrUploadGone):
			return cancelled(cfg, 0), nil // cancelled before: its state object went with it
		case err != nil:
			return nil, Classify(explain(fmt.Errorf("continuation: %w", err), cfg))
		}
	}
	runID := requestID(ctx)
	if from != nil {
		runID = from.Export // one export, one prefix for its offloaded items
	}
	// exportId is the same in every invocation of one export: the first
	// one's request id.
	log := ilog.With("exportId", runID, "shape", ev.Shape.String(), "table", cfg.Query.TableName, "index", cfg.Query.IndexName,
		"bucket", cfg.Destination.BucketName, "key", cfg.Destination.Key)
	opts := h.d.Export
	opts.Logger = log
	var st export.Stats
	opts.Stats = &st
	flow, stepID := ev.FlowExecutionID, ev.StepInstanceID
	if flow == "" {
		flow = runID
	}
	if stepID == "" {
		stepID = "manifest"
	}
	opts.Offload.Prefix = fmt.Sprintf("manifest_items/%s/%s/%s/", flow, stepID, runID)
	opts.Policy = policy
	opts.RunID, opts.From, opts.Retryable = runID, from, isTransient
	if ev.Cancel {
		return h.cancel(ctx, policy, cfg, opts, log)
	}
	log.Info("start", "format", cfg.Output.Format.String(), "limit", cfg.Query.Limit, "pageSize", cfg.Query.PageSize,
		"resumable", cfg.Resumable, "invocation", invocation(from))
	res, err := export.Run(ctx, h.d.DynamoDB, h.d.S3, cfg, opts)
	figures(fig, &st)
	if err != nil {
		return nil, Classify(explain(err, cfg))
	}
	out := h.output(cfg, res, log)
	if res.Next != nil {
		cctx, stop := policy.Cleanup(ctx) // past the margin: what is left of the invocation
		defer stop()
		if out.Continuation, err = export.HandOn(cctx, h.d.S3, cfg, res.Next); err != nil {
			return nil, Classify(fmt.Errorf("continuation: %w", err))
		}
		log.Info("continues", "items", res.Items, "bytes", res.Object.Size, "pages", res.Pages, "elapsed", time.Since(start).Round(time.Millisecond).String())
		if fig != nil {
			fig.Continuation = true
		}
		return out, nil
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

// output is the reply for what an export wrote (or, with res.Next, has
// written so far).
func (h *Handler) output(cfg *config.Config, res *export.Result, log *slog.Logger) *Output {
	out := &Output{ItemCount: res.Items, SizeBytes: res.Object.Size, Truncated: res.Truncated}
	out.Manifest.Pointer = Pointer{Bucket: res.Object.Bucket, Key: res.Object.Key, VersionID: res.Object.VersionID}
	if res.Next == nil {
		out.ChecksumCRC64NVME = res.Object.ChecksumCRC64NVME
	}
	if cfg.Resumable {
		complete := res.Next == nil
		out.Complete = &complete
	}
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
	return out
}

// continuation is the export ev goes on from, checked against cfg; nil: it
// starts. A continuation that cannot be used is a PermanentStepError naming
// it, and nothing is touched.
func continuation(ev *Event, cfg *config.Config) (*resume.Token, error) {
	if ev.Continuation == "" {
		if ev.Cancel {
			return nil, &PermanentStepError{Message: "cancel: there is nothing to cancel without the continuation of the export to give up"}
		}
		return nil, nil
	}
	if !cfg.Resumable {
		return nil, &PermanentStepError{Message: `continuation: given, but the config does not have "resumable": true`}
	}
	tok, err := resume.Decode(ev.Continuation)
	if err != nil {
		return nil, &PermanentStepError{Message: "continuation: " + err.Error()}
	}
	if tok.Config != cfg.Digest {
		return nil, &PermanentStepError{Message: "continuation: it was made for another config or destination (it is bound to the rendered " +
			"config it started with); send it with the same event, or cancel it with that event and \"cancel\": true"}
	}
	return tok, nil
}

// invocation numbers the invocations of one export from 1.
func invocation(from *resume.Token) int {
	if from == nil {
		return 1
	}
	return from.Seq + 1
}

// cancel gives up the export of ev's continuation and replies what it
// removed.
func (h *Handler) cancel(ctx context.Context, policy *deadline.Policy, cfg *config.Config, opts export.Options, log *slog.Logger) (*Output, error) {
	cctx, stop := policy.Cleanup(ctx)
	defer stop()
	c, err := export.Cancel(cctx, h.d.S3, opts.Offload, cfg, opts.From)
	if err != nil {
		return nil, Classify(fmt.Errorf("cancel: %w", err))
	}
	if c.Completed != nil {
		log.Info("not cancelled: the export was completed before", "items", c.Completed.Items)
		return h.output(cfg, c.Completed, log), nil
	}
	log.Info("cancelled", "items", c.Items, "offloadDeleted", c.OffloadDeleted, "offloadLeft", c.OffloadLeft)
	if c.OffloadLeft > 0 {
		return nil, &TransientStepError{Message: fmt.Sprintf("cancel: the upload was aborted, but %d offloaded item objects could not be deleted; cancel again", c.OffloadLeft)}
	}
	return cancelled(cfg, c.Items), nil
}

// cancelled is the reply to a cancel: where the manifest would have been,
// and how many items the export had written.
func cancelled(cfg *config.Config, items int64) *Output {
	out := &Output{ItemCount: items, Cancelled: true}
	out.Manifest.Pointer = Pointer{Bucket: cfg.Destination.BucketName, Key: cfg.Destination.Key}
	return out
}
