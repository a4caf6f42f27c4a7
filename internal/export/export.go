// Package export wires one export together: it pages the Query, encodes each
// item as one JSON line and streams the lines into the S3 sink, under the
// invocation's deadline, keeping count of what was written.
//
// Concurrency: a fetcher goroutine pages the Query up to Options.Prefetch
// pages ahead of the encoder; the encoder writes into the sink's pipe, whose
// reader, the upload manager, sends parts concurrently. Backpressure comes
// from the pipe, the bounded channel of pages and the pool of page buffers.
// The encoder starts on a raw page once the next request has its first
// response byte (a gate per page, which the fetcher also opens whenever it
// would wait), so that transcoding does not take the CPU from that request.
package export

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/membudget"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/sink"
)

// Defaults.
const (
	DefaultPrefetch         = 1
	DefaultProgressInterval = 5 * time.Second
	writeBufferSize         = 256 << 10
)

// ErrDeadline is the cause given when the export stops a margin before the
// invocation's deadline.
var ErrDeadline = errors.New("stopped before the invocation's deadline")

var errPanic = errors.New("panic")

// Options tunes an export. The zero value uses the defaults.
type Options struct {
	Prefetch         int           // pages fetched ahead of the encoder
	DeadlineMargin   time.Duration // stop this long before ctx's deadline
	ProgressInterval time.Duration // how often to log progress
	Logger           *slog.Logger  // nil: no logs
	// Offload is used when the config enables item offloading.
	Offload Offload
	// Progress, when set, is called after every page with the running
	// totals (from the encoding goroutine; it must return quickly).
	Progress func(Progress)
}

// Progress is a snapshot of a running export.
type Progress struct {
	Items   int64
	Bytes   int64
	Pages   int
	Elapsed time.Duration
}

// Result is what an export wrote.
type Result struct {
	Object           sink.Object
	Items            int64
	Pages            int
	Truncated        bool
	LastEvaluatedKey map[string]types.AttributeValue
	Offloaded        int64 // items written to objects of their own
}

// Error is a failed export; it says how far the export got.
type Error struct {
	Stage string // "query", "encode", "offload", "upload", "deadline" or "internal"
	// Where: the table (and index) read and the manifest's bucket and key.
	Table, Index, Bucket, Key string
	Items                     int64 // items written to the upload before the failure
	Pages                     int   // pages read
	// Offloaded objects this run wrote and then deleted, or failed to delete.
	OffloadDeleted, OffloadLeft int
	Err                         error
}

func (e *Error) Error() string {
	where := "table " + e.Table
	if e.Index != "" {
		where += " index " + e.Index
	}
	msg := fmt.Sprintf("%v (exporting %s to s3://%s/%s: %d items written from %d pages; the upload was aborted, no manifest was written",
		e.Err, where, e.Bucket, e.Key, e.Items, e.Pages)
	if e.OffloadDeleted > 0 || e.OffloadLeft > 0 {
		msg += fmt.Sprintf("; %d offloaded item objects deleted", e.OffloadDeleted)
		if e.OffloadLeft > 0 {
			msg += fmt.Sprintf(", %d could not be deleted", e.OffloadLeft)
		}
	}
	return msg + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// Run exports cfg's Query to cfg's destination.
func Run(ctx context.Context, db query.API, snk *sink.Sink, cfg *config.Config, opts Options) (res *Result, err error) {
	if opts.Prefetch <= 0 {
		opts.Prefetch = DefaultPrefetch
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// The query stops a margin before the deadline; the upload keeps the
	// invocation's own context so that it can complete or abort cleanly.
	qctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	if dl, ok := ctx.Deadline(); ok {
		var stop context.CancelFunc
		qctx, stop = context.WithDeadlineCause(qctx, dl.Add(-opts.DeadlineMargin), ErrDeadline)
		defer stop()
	}

	// Memory: once the export is past its first part, the collector runs
	// when garbage passes a small budget over what is live, not when it
	// equals it, so peak memory does not grow with the length of the run.
	// Not before: the manager reads the first part into a buffer grown
	// from 512 bytes, and a limit during that churn costs collections and
	// page faults; right after, it fills its pool of parts, which without
	// a limit would run the heap up to twice the live one.
	budget := membudget.Begin()
	defer budget.End()
	engageAt := snk.PartSize()

	st := &state{log: log, start: time.Now(), lastLog: time.Now()}
	var off *offloader
	if cfg.EnableItemOffloading {
		if opts.Offload.API == nil {
			return nil, newError(cfg, "encode", st, errOffloadUnavailable)
		}
		off = newOffloader(opts.Offload, &cfg.Destination, cleanupDeadline(ctx, opts.DeadlineMargin))
	}

	// The upload stops at half the margin, as a backstop for an S3 call
	// that stalls: the pipe is normally closed long before that.
	uctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var stop context.CancelFunc
		uctx, stop = context.WithDeadlineCause(ctx, dl.Add(-opts.DeadlineMargin/2), ErrDeadline)
		defer stop()
	}
	w := snk.Open(uctx, putInput(&cfg.Destination))
	// Cleanup after a failure (abort, deleting offloaded items) must be done
	// a quarter margin before the deadline.
	w.CleanupBy(cleanupDeadline(ctx, opts.DeadlineMargin))
	// Offloaded items are written under the same margin as the query, but
	// not cancelled by other failures: an upload cancelled in flight may
	// still land, so cleanup waits for each to finish, then deletes.
	octx, ocancel := context.WithCancelCause(ctx)
	defer ocancel(context.Canceled)
	if dl, ok := ctx.Deadline(); ok {
		var stop context.CancelFunc
		octx, stop = context.WithDeadlineCause(octx, dl.Add(-opts.DeadlineMargin), ErrDeadline)
		defer stop()
	}
	pages := make(chan fetchedPage, opts.Prefetch)
	fetched := make(chan struct{})
	fetcherStarted := false
	defer func() {
		// A panic while encoding must not leave the upload open: abort it and
		// report the panic as an error.
		if p := recover(); p != nil {
			cancel(errPanic)
			go func() {
				for range pages {
				}
			}()
			if fetcherStarted {
				<-fetched
			}
			_ = w.Abort(errPanic)
			e := newError(cfg, "internal", st, fmt.Errorf("panic while exporting: %v", p))
			if off != nil {
				e.OffloadDeleted, e.OffloadLeft = off.cleanup()
			}
			res, err = nil, e
		}
	}()
	// Page buffers: one being filled by the fetcher, Prefetch waiting, one
	// being encoded. Their number bounds the memory pages take.
	free := make(chan *query.Capture, opts.Prefetch+2)
	for range cap(free) {
		free <- &query.Capture{}
	}
	var qres query.Result
	var qerr error
	fetcherStarted = true
	go func() {
		defer close(fetched)
		defer close(pages)
		// The gate of the last page sent: opened once the next request is
		// written (or fails, or the fetcher waits for a buffer or ends).
		var pending *gate
		defer func() { pending.open() }()
		defer func() {
			if p := recover(); p != nil {
				qerr = fmt.Errorf("query goroutine panicked: %v", p)
			}
		}()
		in := query.Input(&cfg.Query)
		send := func(p *query.Page) error {
			g := newGate()
			if err := sendPage(qctx, pages, fetchedPage{Page: p, gate: g}); err != nil {
				g.open()
				return err
			}
			pending = g
			return nil
		}
		next := func() (*query.Capture, error) {
			select {
			case c := <-free:
				return c, nil
			default:
			}
			pending.open() // no buffer free: the encoder must not wait for the next request
			select {
			case c := <-free:
				return c, nil
			case <-qctx.Done():
				return nil, context.Cause(qctx)
			}
		}
		qres, qerr = query.Pages(qctx, gatedAPI{db, &pending}, in, cfg.Query.Limit, cfg.Query.PageSize, next, send)
	}()

	fail := func(stage string, err error) (*Result, error) {
		cancel(err)
		for range pages { // let the fetcher finish
		}
		<-fetched
		if upErr := w.Abort(err); upErr != nil {
			// The upload failed first: that is the root cause.
			stage, err = "upload", upErr
		}
		e := newError(cfg, stage, st, err)
		if off != nil {
			e.OffloadDeleted, e.OffloadLeft = off.cleanup()
		}
		if errors.Is(err, ErrDeadline) || errors.Is(context.Cause(qctx), ErrDeadline) || errors.Is(context.Cause(uctx), ErrDeadline) || errors.Is(context.Cause(octx), ErrDeadline) {
			e.Stage = "deadline"
			e.Err = fmt.Errorf("%w (%s left at start, margin %s); continue with a smaller query.limit or a longer timeout", ErrDeadline, st.budget(ctx), opts.DeadlineMargin)
		}
		return nil, e
	}

	tr := lines.NewTranscoder(cfg.Output.Format)
	var wp lines.Page
	bw := bufio.NewWriterSize(w, writeBufferSize)
	// writeLine writes one line (without its newline), or its pointer when
	// it is offloaded.
	writeLine := func(line []byte) (string, error) {
		if off != nil {
			out, offloaded, err := off.maybe(octx, line, st.items)
			if err != nil {
				return "offload", err
			}
			if offloaded {
				st.offloaded++
			}
			line = out
		}
		if _, err := bw.Write(line); err != nil {
			return "upload", err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return "upload", err
		}
		st.items++
		return "", nil
	}
	for p := range pages {
		p.gate.wait()
		st.pages = p.Number
		wp.Reset()
		var err error
		if items := p.Raw.Response.Items; items != nil { // null or absent: no items, as the SDK reads it
			err = tr.Items(&wp, items)
		}
		free <- p.Raw // the lines are in wp now
		var ie *lines.ItemError
		switch {
		case err == nil && wp.Count != p.Count:
			return fail("query", fmt.Errorf("page %d of table %s: malformed response: Count %d but %d items", p.Number, cfg.Query.TableName, p.Count, wp.Count))
		case errors.As(err, &ie):
			return fail("encode", fmt.Errorf("item %d (page %d): %w", st.items+int64(ie.Index), p.Number, ie.Err))
		case err != nil:
			return fail("query", fmt.Errorf("page %d of table %s: malformed response: %w", p.Number, cfg.Query.TableName, err))
		case off == nil:
			if _, err := bw.Write(wp.Lines); err != nil {
				return fail("upload", err)
			}
			st.items += int64(wp.Count)
		default:
			start := 0
			for _, end := range wp.Ends {
				if stage, err := writeLine(wp.Lines[start : end-1]); err != nil {
					return fail(stage, err)
				}
				start = end
			}
		}
		if err := context.Cause(qctx); err != nil && qctx.Err() != nil {
			return fail("deadline", err)
		}
		size := w.Size() + int64(bw.Buffered())
		if engageAt >= 0 && size >= engageAt {
			engageAt = -1
			if limit, ok := budget.Engage(); ok {
				log.Debug("memory budget engaged", "bytesWritten", size, "limitBytes", limit)
			}
		}
		st.progress(size, opts.ProgressInterval)
		if opts.Progress != nil {
			opts.Progress(Progress{Items: st.items, Bytes: size, Pages: st.pages, Elapsed: time.Since(st.start)})
		}
	}
	<-fetched
	if qerr != nil {
		return fail("query", qerr)
	}
	if err := bw.Flush(); err != nil {
		return fail("upload", err)
	}
	if off != nil {
		// Every offloaded item is in S3 before the manifest can appear.
		if err := off.wait(); err != nil {
			return fail("offload", err)
		}
	}
	obj, err := w.Close()
	if err != nil {
		e := newError(cfg, "upload", st, err)
		if errors.Is(context.Cause(uctx), ErrDeadline) {
			e.Stage, e.Err = "deadline", fmt.Errorf("%w while completing the upload: %v", ErrDeadline, err)
		}
		if off != nil {
			e.OffloadDeleted, e.OffloadLeft = off.cleanup()
		}
		return nil, e
	}
	return &Result{Object: *obj, Items: st.items, Pages: qres.Pages, Truncated: qres.Truncated,
		LastEvaluatedKey: qres.LastEvaluatedKey, Offloaded: st.offloaded}, nil
}

// cleanupDeadline is when cleanup after a failure must be done: a quarter
// of the margin before ctx's deadline, or a fixed time from now.
func cleanupDeadline(ctx context.Context, margin time.Duration) time.Time {
	by := time.Now().Add(offloadCleanupTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-margin/4).Before(by) {
		by = dl.Add(-margin / 4)
	}
	return by
}

func newError(cfg *config.Config, stage string, st *state, err error) *Error {
	return &Error{Stage: stage, Table: cfg.Query.TableName, Index: cfg.Query.IndexName,
		Bucket: cfg.Destination.BucketName, Key: cfg.Destination.Key, Items: st.items, Pages: st.pages, Err: err}
}

func putInput(d *config.Destination) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:      aws.String(d.BucketName),
		Key:         aws.String(d.Key),
		ContentType: aws.String(d.ContentType),
	}
	if !d.Overwrite {
		in.IfNoneMatch = aws.String("*")
	}
	if d.ServerSideEncryption != "" {
		in.ServerSideEncryption = s3types.ServerSideEncryption(d.ServerSideEncryption)
	}
	if d.KMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(d.KMSKeyID)
	}
	if d.ExpectedBucketOwner != "" {
		in.ExpectedBucketOwner = aws.String(d.ExpectedBucketOwner)
	}
	return in
}

// state counts progress for logs and errors.
type state struct {
	log       *slog.Logger
	start     time.Time
	lastLog   time.Time
	items     int64
	offloaded int64
	pages     int
}

func (s *state) progress(bytes int64, every time.Duration) {
	now := time.Now()
	if now.Sub(s.lastLog) < every {
		return
	}
	s.lastLog = now
	el := now.Sub(s.start)
	s.log.Info("progress", "items", s.items, "bytes", bytes, "pages", s.pages,
		"elapsed", el.Round(time.Millisecond).String(), "MBps", fmt.Sprintf("%.1f", float64(bytes)/1e6/el.Seconds()))
}

func (s *state) budget(ctx context.Context) string {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(s.start).Round(time.Millisecond).String()
	}
	return "no deadline"
}

// fetchedPage is a page on its way from the fetcher to the encoder.
type fetchedPage struct {
	*query.Page
	gate *gate // nil: no need to wait
}

func sendPage(ctx context.Context, pages chan<- fetchedPage, p fetchedPage) error {
	select {
	case pages <- p:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// gate holds the encoder back from a raw page until the fetcher has
// written the next request: transcoding a page is a burst of CPU (~2.5 ms
// for 1 MB here, ~14x that on a 128 MB function's share of a core) that
// would otherwise take the CPU from the SDK building and signing that
// request, which is on the critical path (measured on 2 cores: 0.2 ms of
// turnaround per page). It opens once, from either goroutine.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) open() {
	if g != nil {
		g.once.Do(func() { close(g.ch) })
	}
}

func (g *gate) wait() {
	if g != nil {
		<-g.ch
	}
}

// gatedAPI opens the pending gate when the Query's request has been
// written (httptrace's WroteRequest, on the transport's goroutine), and in
// any case when the call returns.
type gatedAPI struct {
	api     query.API
	pending **gate
}

func (a gatedAPI) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	g := *a.pending
	if g != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: g.open})
	}
	defer g.open()
	return a.api.Query(ctx, in, optFns...)
}
