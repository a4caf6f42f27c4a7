// Package export runs one export: it pages the Query, turns each raw page
// into JSON lines, offloads lines that are too large, and streams the lines
// into the S3 upload, under the invocation's deadline policy
// (internal/deadline), keeping count of what was written. After any failure
// it aborts the upload and deletes what it offloaded, so nothing is left.
//
// Concurrency: a fetcher goroutine pages the Query up to Options.Prefetch
// pages ahead of the encoder; the encoder writes into the upload's part
// buffers, whose full parts the writer sends concurrently. Backpressure
// comes from the writer's pool of part buffers, the bounded channel of pages
// and the pool of page buffers.
// The encoder starts on a raw page once the next request has its first
// response byte (a gate per page, which the fetcher also opens whenever it
// would wait), so that transcoding does not take the CPU from that request.
package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/deadline"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/membudget"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/resume"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// Defaults.
const (
	DefaultPrefetch         = 1
	DefaultProgressInterval = 5 * time.Second
	writeBufferSize         = 256 << 10
)

// ErrDeadline is the cause given when the export stops a margin before the
// invocation's deadline.
var ErrDeadline = deadline.ErrDeadline

var errPanic = errors.New("panic")

// Options tunes an export. The zero value uses the defaults.
type Options struct {
	Prefetch int // pages fetched ahead of the encoder
	// Policy is the invocation's time policy; nil: one made from the
	// context's deadline and DeadlineMargin.
	Policy           *deadline.Policy
	DeadlineMargin   time.Duration // stop this long before ctx's deadline (when Policy is nil)
	ProgressInterval time.Duration // how often to log progress
	Logger           *slog.Logger  // nil: no logs
	// Upload tunes the manifest's upload (part size, parts in flight).
	Upload upload.Options
	// RunID names this run: in offloaded objects' keys and in the
	// manifest's metadata (upload.ExportIDMetadata). Empty: a new one.
	// When From is set, From.Export is used instead: one export, one id.
	RunID string
	// From is the continuation a resumable export goes on from; nil: it
	// starts.
	From *resume.Token
	// Retryable says whether a failure may pass on a retry. When From is
	// set, such a failure keeps the upload, its side objects and the
	// offloaded items, so that a retry of the same continuation goes on.
	Retryable func(error) bool
	// Offload is used when the config enables item offloading.
	Offload Offload
	// Progress, when set, is called after every page with the running
	// totals (from the encoding goroutine; it must return quickly).
	Progress func(Progress)
	// Stats, when set, receives what this call of Run did when it returns.
	Stats *Stats
}

// Progress is a snapshot of a running export.
type Progress struct {
	Items   int64
	Bytes   int64
	Pages   int
	Elapsed time.Duration
	Readers int // range readers reading now (1: sequential)
}

// Result is what an export wrote. When Next is set, the export is not done:
// Object names where the manifest will be (its Size is the bytes so far)
// and Next is the continuation.
type Result struct {
	Next             *resume.Token
	Object           upload.Object
	Items            int64
	Pages            int
	Truncated        bool
	LastEvaluatedKey map[string]types.AttributeValue
	Offloaded        int64 // items written to objects of their own
	Readers          int   // the most range readers that read at once (1: sequential)
}

// Stage is the step of an export that failed.
type Stage string

// The stages an Error names.
const (
	StageQuery    Stage = "query"    // a Query request, or a malformed page
	StageEncode   Stage = "encode"   // an item that cannot be written as a line
	StageOffload  Stage = "offload"  // writing an offloaded item
	StageUpload   Stage = "upload"   // the manifest's upload
	StageDeadline Stage = "deadline" // stopped before the invocation's deadline
	StageInternal Stage = "internal" // a panic
)

// Error is a failed export; it says how far the export got.
type Error struct {
	Stage Stage
	// Where: the table (and index) read and the manifest's bucket and key.
	Table, Index, Bucket, Key string
	Items                     int64 // items written to the upload before the failure
	Pages                     int   // pages read
	// Offloaded objects this run wrote and then deleted, or failed to delete.
	OffloadDeleted, OffloadLeft int
	// AbortErr is why the upload could not be aborted; nil: it was (or none
	// was open).
	AbortErr error
	// Kept: the upload and what the continuation needs were kept for a
	// retry of the same continuation.
	Kept bool
	// Untouched: the export failed before it wrote or changed anything.
	Untouched bool
	Err       error
}

func (e *Error) Error() string {
	where := "table " + e.Table
	if e.Index != "" {
		where += " index " + e.Index
	}
	msg := fmt.Sprintf("%v (exporting %s to s3://%s/%s: %s written from %s; ",
		e.Err, where, e.Bucket, e.Key, count(e.Items, "item"), count(int64(e.Pages), "page"))
	if e.Untouched {
		msg += "nothing was written or changed"
	} else if e.Kept {
		msg += "the upload is kept: a retry with the same continuation goes on from it"
	} else if e.AbortErr != nil {
		msg += fmt.Sprintf("no manifest was written, but the upload may still be open: %v", e.AbortErr)
	} else {
		msg += "the upload was aborted, no manifest was written"
	}
	if e.OffloadDeleted > 0 || e.OffloadLeft > 0 {
		msg += fmt.Sprintf("; %d offloaded item objects deleted", e.OffloadDeleted)
		if e.OffloadLeft > 0 {
			msg += fmt.Sprintf(", %d could not be deleted", e.OffloadLeft)
		}
	}
	return msg + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// count says "1 item" or "n items".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Run exports cfg's Query to cfg's destination.
func Run(ctx context.Context, db query.API, s3 S3, cfg *config.Config, opts Options) (res *Result, err error) {
	ctx, report := countStats(ctx, opts.Stats)
	p := newPipeline(ctx, db, s3, cfg, opts)
	defer p.release()
	defer report(p)
	defer func() {
		if r := recover(); r != nil {
			res, err = p.fail(StageInternal, fmt.Errorf("%w while exporting: %v", errPanic, r))
		}
	}()
	if err := p.open(); err != nil {
		var done *upload.AlreadyCompleteError
		if errors.As(err, &done) {
			return p.completed(done.Object)
		}
		return nil, err
	}
	p.started = true
	go p.fetch()
	stage, err := p.encode()
	if rs := p.par.Load(); err == nil && rs != nil {
		stage, err = p.absorb(rs)
	}
	if err != nil {
		if rs := p.par.Load(); rs != nil {
			if s, e := rs.failure(); e != nil {
				stage, err = s, e
			}
		}
		if p.cfg.Resumable && (p.stoppedByDeadline() || errors.Is(err, errHandOn)) && p.upload.Err() == nil {
			return p.suspend()
		}
		return p.fail(stage, err)
	}
	return p.finish()
}

// pipeline is one export under way. The fetcher goroutine (fetch) pages the
// Query into pages; the caller's goroutine turns each page into lines
// (encode), offloads lines that are too large (writeLines) and streams the
// lines to the upload, then completes it (finish) or, after a failure,
// cleans up (fail). Every time limit comes from policy.
type pipeline struct {
	ctx    context.Context // the invocation's
	db     query.API
	s3     S3
	cfg    *config.Config
	opts   Options
	policy *deadline.Policy
	log    *slog.Logger

	// work bounds the query: it ends at the policy's StopBy, or with the
	// cause of a failure; no new item is offloaded after it. upload bounds
	// the manifest's upload and the offloaded items' uploads: the policy's
	// FinishBy, by when they must be complete or suspended, and no other
	// cancellation (an offload cancelled in flight may still land, so
	// cleanup waits for each, then deletes).
	work, upload context.Context
	cancel       context.CancelCauseFunc
	stops        []context.CancelFunc

	w   *upload.Writer
	bw  *bufio.Writer
	off *offloader

	// Pages travel from the fetcher to the encoder through pages; free
	// holds the page buffers: one being filled, Prefetch waiting, one being
	// encoded. Their number bounds the memory pages take.
	pages   chan fetchedPage
	free    chan *query.Capture
	fetched chan struct{} // closed when the fetcher has ended
	started bool          // the fetcher was started
	qres    query.Result  // the fetcher's, read after fetched is closed
	qerr    error

	// position is the LastEvaluatedKey of the last page written (nil:
	// none yet, or the query's end); queryDone says that an earlier
	// invocation read the query to its end.
	position    map[string]types.AttributeValue
	queryDone   bool
	headEnd     bool   // the last page written had no LastEvaluatedKey
	pagesBefore int    // pages earlier invocations read
	fromUpload  string // the upload id the continuation names ("": none yet)

	// par runs the range readers once the query is split (set by the
	// fetcher); nil: one reader.
	par atomic.Pointer[ranges]
	// Progress: the head's totals, published by the encoder for the range
	// readers' reports; progMu serialises reports.
	progMu                       sync.Mutex
	headItems, headBytes, headPg atomic.Int64

	budget   *membudget.Budget
	engageAt int64 // bytes written at which the budget engages; -1: never again
	st       state
}

func newPipeline(ctx context.Context, db query.API, s3 S3, cfg *config.Config, opts Options) *pipeline {
	if opts.Prefetch <= 0 {
		opts.Prefetch = DefaultPrefetch
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.From != nil {
		opts.RunID = opts.From.Export
	}
	if opts.RunID == "" {
		opts.RunID = NewRunID()
	}
	if opts.Policy == nil {
		opts.Policy = deadline.New(ctx, deadline.Options{Margin: opts.DeadlineMargin})
	}
	now := time.Now()
	p := &pipeline{ctx: ctx, db: db, s3: s3, cfg: cfg, opts: opts, policy: opts.Policy, log: opts.Logger,
		st: state{log: opts.Logger, start: now, lastLog: now}, engageAt: -1}
	work, stopWork := p.policy.Work(ctx)
	p.work, p.cancel = context.WithCancelCause(work)
	var stopUpload context.CancelFunc
	p.upload, stopUpload = p.policy.Finish(ctx)
	p.stops = []context.CancelFunc{func() { p.cancel(context.Canceled) }, stopWork, stopUpload}
	p.pages = make(chan fetchedPage, opts.Prefetch)
	p.free = make(chan *query.Capture, opts.Prefetch+2)
	for range cap(p.free) {
		p.free <- &query.Capture{}
	}
	p.fetched = make(chan struct{})
	return p
}

// release ends the pipeline's contexts and the memory budget.
func (p *pipeline) release() {
	for _, stop := range p.stops {
		stop()
	}
	p.budget.End()
}

// open starts the upload and the offloader.
func (p *pipeline) open() error {
	if p.cfg.EnableItemOffloading {
		if p.opts.Offload.API == nil {
			return p.newError(StageEncode, errOffloadUnavailable)
		}
		p.off = newOffloader(p.opts.Offload, &p.cfg.Destination)
	}
	uopts := p.opts.Upload
	uopts.Cleanup = p.policy.Cleanup
	target := manifestTarget(&p.cfg.Destination, p.opts.RunID)
	target.Metadata = manifestMetadata(p.cfg)
	var w *upload.Writer
	var err error
	if p.opts.From != nil {
		w, err = p.resume(target, uopts)
	} else {
		w, err = upload.New(p.upload, p.s3, target, uopts)
	}
	if err != nil {
		e := p.newError(StageUpload, err)
		e.Untouched = true
		return e
	}
	p.w = w
	p.bw = bufio.NewWriterSize(p.w, writeBufferSize)
	if p.cfg.Output.Container == config.Array && p.opts.From == nil {
		p.bw.WriteByte('[') // a bufio.Writer's first byte does not fail
	}
	// Memory: once the export is past its first part, the collector runs
	// when garbage passes a small budget over what is live, not when it
	// equals it, so peak memory does not grow with the length of the run.
	p.budget = membudget.Begin()
	p.engageAt = max(uopts.PartSize, upload.DefaultPartSize)
	return nil
}

// fetch pages the Query into p.pages, on its own goroutine, until the
// query ends, fails or p.work ends. It closes p.pages, then p.fetched.
func (p *pipeline) fetch() {
	defer close(p.fetched)
	defer close(p.pages)
	// The gate of the last page sent: opened once the next request has
	// its first response byte (or fails, or the fetcher waits for a buffer
	// or ends).
	var pending *gate
	defer func() { pending.open() }()
	defer func() {
		if r := recover(); r != nil {
			p.qerr = fmt.Errorf("query goroutine panicked: %v", r)
		}
	}()
	send := func(pg *query.Page) error {
		g := newGate()
		if err := p.send(fetchedPage{Page: pg, gate: g}); err != nil {
			g.open()
			return err
		}
		pending = g
		return nil
	}
	next := func() (*query.Capture, error) {
		select {
		case c := <-p.free:
			return c, nil
		default:
		}
		pending.open() // no buffer free: the encoder must not wait for the next request
		select {
		case c := <-p.free:
			return c, nil
		case <-p.work.Done():
			return nil, context.Cause(p.work)
		}
	}
	if rs := p.par.Load(); rs != nil { // a continuation's key ranges
		head := rs.order[0] // before the readers start splitting
		rs.resumeReaders()
		if !head.done {
			p.qerr = rs.head(head, next, p.sendHead(&pending))
		}
		return
	}
	if p.queryDone {
		return
	}
	in := query.Input(&p.cfg.Query)
	if p.parallel() {
		p.qres, p.qerr = p.fetchSplit(in, next, send, &pending)
		return
	}
	p.qres, p.qerr = query.Pages(p.work, gatedAPI{p.db, &pending}, in, p.cfg.Query.Limit, p.cfg.Query.PageSize, next, send)
}

// fetchSplit reads the first page; when it is not the last, it splits what
// is left of the query into key ranges (ranges.go), reads the head range
// into p.pages and starts readers for the others. When the query cannot be
// split, it goes on with one reader from the first page's position.
func (p *pipeline) fetchSplit(in *dynamodb.QueryInput, next func() (*query.Capture, error), send func(*query.Page) error, pending **gate) (query.Result, error) {
	var first map[string]types.AttributeValue
	res, err := query.Pages(p.work, gatedAPI{p.db, pending}, in, 0, p.cfg.Query.PageSize, next, func(pg *query.Page) error {
		if err := send(pg); err != nil {
			return err
		}
		if len(pg.LastEvaluatedKey) > 0 {
			first = pg.LastEvaluatedKey
			return errHeadSplit
		}
		return nil
	})
	if !errors.Is(err, errHeadSplit) {
		return res, err
	}
	res.LastEvaluatedKey = nil // the query goes on, whoever reads it
	(*pending).open()          // the first page is written while the query is split
	*pending = nil
	l, err := p.layout(p.work, first)
	if err != nil || l == nil {
		if err != nil {
			p.log.Warn("reading with one reader: the query cannot be split", "error", err.Error())
		}
		rest := *in
		rest.ExclusiveStartKey = first
		more, err := query.Pages(p.work, gatedAPI{p.db, pending}, &rest, 0, p.cfg.Query.PageSize, next, func(pg *query.Page) error {
			pg.Number += res.Pages
			return send(pg)
		})
		more.Pages += res.Pages
		more.Items += res.Items
		return more, err
	}
	rs, err := p.newRanges(l)
	if err != nil {
		return res, err
	}
	p.par.Store(rs)
	head := rs.start(first)
	p.log.Info("reading in key ranges", "readers", rs.peakReaders(), "parallelism", p.cfg.Query.Parallelism.String())
	if err := rs.head(head, next, p.sendHead(pending)); err != nil {
		return res, err
	}
	return res, nil
}

// sendHead sends the head range's pages to the encoder. They need no gate
// (the range readers' requests do not open one): the pending gate is
// opened and none is kept.
func (p *pipeline) sendHead(pending **gate) func(*query.Page) error {
	return func(pg *query.Page) error {
		(*pending).open()
		*pending = nil
		return p.send(fetchedPage{Page: pg})
	}
}

func (p *pipeline) send(fp fetchedPage) error {
	select {
	case p.pages <- fp:
		return nil
	case <-p.work.Done():
		return context.Cause(p.work)
	}
}

// encode turns every page the fetcher sends into lines and writes them,
// until the fetcher is done. It returns the stage that failed, if any.
func (p *pipeline) encode() (Stage, error) {
	tr := lines.NewTranscoder(p.cfg.Output.Format)
	var wp lines.Page
	for pg := range p.pages {
		pg.gate.wait()
		p.st.pages = p.pagesBefore + pg.Number
		if stage, err := p.encodePage(tr, &wp, pg); err != nil {
			return stage, err
		}
		// Every line of the page is written: the next invocation would
		// go on from here.
		p.position = pg.LastEvaluatedKey
		p.headEnd = len(pg.LastEvaluatedKey) == 0
		if err := context.Cause(p.work); p.work.Err() != nil {
			return StageDeadline, err
		}
		p.pageDone()
	}
	<-p.fetched
	if p.qerr != nil {
		return StageQuery, p.qerr
	}
	return "", nil
}

// encodePage transcodes one raw page into lines and writes them.
func (p *pipeline) encodePage(tr *lines.Transcoder, wp *lines.Page, pg fetchedPage) (Stage, error) {
	wp.Reset()
	var err error
	if items := pg.Raw.Response.Items; items != nil { // null or absent: no items, as the SDK reads it
		err = tr.Items(wp, items)
	}
	p.free <- pg.Raw // the lines are in wp now
	var ie *lines.ItemError
	switch {
	case err == nil && wp.Count != pg.Count:
		return StageQuery, fmt.Errorf("page %d of table %s: malformed response: Count %d but %d items", pg.Number, p.cfg.Query.TableName, pg.Count, wp.Count)
	case errors.As(err, &ie):
		return StageEncode, fmt.Errorf("item %d (page %d): %w", p.st.items+int64(ie.Index), pg.Number, ie.Err)
	case err != nil:
		return StageQuery, fmt.Errorf("page %d of table %s: malformed response: %w", pg.Number, p.cfg.Query.TableName, err)
	case p.off == nil:
		if err := writeLines(p.bw, wp, p.cfg.Output.Container, p.st.items); err != nil {
			return StageUpload, err
		}
		p.st.items += int64(wp.Count)
		return "", nil
	}
	start := 0
	for _, end := range wp.Ends {
		if stage, err := p.writeLine(wp.Lines[start : end-1]); err != nil {
			return stage, err
		}
		start = end
	}
	return "", nil
}

// writeLine writes one line (without its newline), or its pointer when it
// is offloaded.
func (p *pipeline) writeLine(line []byte) (Stage, error) {
	if p.off != nil {
		out, offloaded, err := p.off.maybe(p.upload, line, p.st.items)
		if err != nil {
			return StageOffload, err
		}
		if offloaded {
			p.st.offloaded++
		}
		line = out
	}
	if err := writeLine(p.bw, line, p.cfg.Output.Container, p.st.items); err != nil {
		return StageUpload, err
	}
	p.st.items++
	return "", nil
}

// writeLines writes a page's lines in the container's framing: JSON lines
// as they are; array elements each after a separator unless it is the
// first (before: the items written before the page).
func writeLines(w *bufio.Writer, wp *lines.Page, c config.Container, before int64) error {
	if c != config.Array {
		_, err := w.Write(wp.Lines)
		return err
	}
	start := 0
	for i, end := range wp.Ends {
		if err := writeLine(w, wp.Lines[start:end-1], c, before+int64(i)); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// arraySeparator goes between two items of the array container.
const arraySeparator = ",\n"

// writeLine writes one item (line, without its newline) in the container's
// framing; before is the items written before it.
func writeLine(w *bufio.Writer, line []byte, c config.Container, before int64) error {
	if c == config.Array {
		if before > 0 {
			if _, err := w.WriteString(arraySeparator); err != nil {
				return err
			}
		}
		_, err := w.Write(line)
		return err
	}
	if _, err := w.Write(line); err != nil {
		return err
	}
	return w.WriteByte('\n')
}

// pageDone engages the memory budget once past the first part, and reports
// progress.
func (p *pipeline) pageDone() {
	size := p.w.Size() + int64(p.bw.Buffered())
	if p.engageAt >= 0 && size >= p.engageAt {
		p.engageAt = -1
		if limit, ok := p.budget.Engage(); ok {
			p.log.Debug("memory budget engaged", "bytesWritten", size, "limitBytes", limit)
		}
	}
	p.headItems.Store(p.st.items)
	p.headBytes.Store(size)
	p.headPg.Store(int64(p.st.pages))
	p.report()
}

// report logs progress (every ProgressInterval) and calls the Progress
// callback with the totals of every reader. It is called by the encoder
// and the range readers.
func (p *pipeline) report() {
	p.progMu.Lock()
	defer p.progMu.Unlock()
	pr := Progress{Items: p.headItems.Load(), Bytes: p.headBytes.Load(), Pages: int(p.headPg.Load()), Readers: 1}
	if rs := p.par.Load(); rs != nil {
		pr.Items += rs.items.Load()
		pr.Bytes += rs.bytes.Load()
		pr.Pages = p.pagesBefore + int(rs.pages.Load())
		pr.Readers = rs.current()
	}
	pr.Elapsed = time.Since(p.st.start)
	p.st.progress(pr, p.opts.ProgressInterval)
	if p.opts.Progress != nil {
		p.opts.Progress(pr)
	}
}

// finish flushes the lines, waits for the offloaded items (every one is in
// S3 before the manifest can appear) and completes the upload.
func (p *pipeline) finish() (*Result, error) {
	readers := 1
	if rs := p.par.Load(); rs != nil {
		if stage, err := rs.wait(); err != nil {
			return p.fail(stage, err)
		}
		p.st.pages = p.pagesBefore + int(rs.pages.Load())
		readers = rs.peakReaders()
	}
	if p.cfg.Output.Container == config.Array {
		if err := p.bw.WriteByte(']'); err != nil {
			return p.fail(StageUpload, err)
		}
	}
	if err := p.bw.Flush(); err != nil {
		return p.fail(StageUpload, err)
	}
	if p.off != nil {
		if err := p.off.wait(); err != nil {
			return p.fail(StageOffload, err)
		}
	}
	obj, err := p.w.Close(p.upload)
	if err != nil {
		stage := StageUpload
		if errors.Is(context.Cause(p.upload), ErrDeadline) {
			stage, err = StageDeadline, fmt.Errorf("%w while completing the upload: %w", ErrDeadline, err)
		}
		return p.fail(stage, err)
	}
	res := &Result{Object: *obj, Items: p.st.items, Pages: p.st.pages, Truncated: p.qres.Truncated,
		LastEvaluatedKey: p.qres.LastEvaluatedKey, Offloaded: p.st.offloaded, Readers: readers}
	cctx, cancel := p.policy.Cleanup(p.ctx) // Close may have settled past the upload's deadline
	defer cancel()
	if rs := p.par.Load(); rs != nil {
		p.dropSegments(cctx, rs, false)
	}
	p.tag(cctx, obj, res)
	if p.opts.From != nil {
		if err := dropStates(cctx, p.s3, &p.cfg.Destination, p.opts.RunID); err != nil {
			p.log.Warn("continuation state objects left", "error", err.Error())
		}
	}
	return res, nil
}

// fail stops the fetcher, aborts the upload and deletes what was offloaded,
// under a cleanup budget that starts now, and describes the failure.
func (p *pipeline) fail(stage Stage, err error) (*Result, error) {
	p.stopFetcher(err)
	e := p.newError(stage, err)
	deadline := stage == StageDeadline || errors.Is(err, ErrDeadline) || p.stoppedByDeadline()
	if deadline {
		e.Stage = StageDeadline
		if !errors.Is(err, ErrDeadline) {
			err = ErrDeadline
		}
		hint := `set "resumable": true, which exports a query of any size across invocations, or use a smaller query.limit or a longer timeout`
		if p.cfg.Resumable {
			hint = "there was no time left to hand back a continuation; retry with the same event"
		}
		e.Err = fmt.Errorf("%w (%s left at start, margin %s); %s", err, p.policy.Left(), p.policy.Margin(), hint)
	}
	if p.opts.From != nil && (deadline || p.opts.Retryable != nil && p.opts.Retryable(err)) {
		// A retry of the same continuation goes on from it: keep the
		// upload, its side objects and the offloaded items; but an upload
		// this invocation created, which the continuation does not name,
		// is aborted (the retry makes its own).
		e.Kept = true
		ctx, cancel := p.policy.Cleanup(p.ctx)
		defer cancel()
		if p.w != nil && p.w.UploadID() != "" && p.w.UploadID() != p.fromUpload {
			e.AbortErr = p.w.AbortUpload(ctx)
		}
		if rs := p.par.Load(); rs != nil {
			rs.wg.Wait()
			p.dropSegments(ctx, rs, true)
		}
		return nil, e
	}
	ctx, cancel := p.policy.Cleanup(p.ctx)
	defer cancel()
	if rs := p.par.Load(); rs != nil {
		rs.wg.Wait()
		p.dropSegments(ctx, rs, false)
	}
	if p.w != nil {
		e.AbortErr = p.w.Abort(ctx)
	}
	if p.opts.From != nil {
		if err := dropStates(ctx, p.s3, &p.cfg.Destination, p.opts.RunID); err != nil {
			p.log.Warn("continuation state objects left", "error", err.Error())
		}
	}
	switch {
	case p.off != nil && p.opts.From != nil:
		// Earlier invocations offloaded items too: all are under the prefix.
		e.OffloadDeleted, e.OffloadLeft = p.off.cleanupAll(ctx)
	case p.off != nil:
		e.OffloadDeleted, e.OffloadLeft = p.off.cleanup(ctx)
	}
	return nil, e
}

// stopFetcher stops the fetcher with cause and waits for it to end; the
// pages it had fetched are dropped.
func (p *pipeline) stopFetcher(cause error) {
	p.cancel(cause)
	go func() {
		for range p.pages { // let the fetcher finish
		}
	}()
	if p.started {
		<-p.fetched
	}
}

// stoppedByDeadline says whether one of the pipeline's contexts ended at
// the policy's deadline (its failure may then only be the symptom).
func (p *pipeline) stoppedByDeadline() bool {
	for _, ctx := range []context.Context{p.work, p.upload} {
		if errors.Is(context.Cause(ctx), ErrDeadline) {
			return true
		}
	}
	return false
}

func (p *pipeline) newError(stage Stage, err error) *Error {
	d := &p.cfg.Destination
	return &Error{Stage: stage, Table: p.cfg.Query.TableName, Index: p.cfg.Query.IndexName,
		Bucket: d.BucketName, Key: d.Key, Items: p.st.items, Pages: p.st.pages, Err: err}
}

// Metadata keys of the manifest (x-amz-meta-...), besides the writer's
// upload.ExportIDMetadata (the export id): what a reader needs to know
// about its lines without the config.
const (
	metaFormat       = "format"        // output.format: plain or dynamodb
	metaContainer    = "container"     // how items are framed: jsonl
	metaConfigDigest = "config-digest" // the rendered config's digest
)

// manifestTarget is the manifest's upload, for run runID.
func manifestTarget(d *config.Destination, runID string) upload.Target {
	o := objectOptions(d, d.BucketName)
	return upload.Target{Bucket: d.BucketName, Key: d.Key, ContentType: d.ContentType, Overwrite: d.Overwrite,
		SSE: o.sse, KMSKeyID: o.kmsKeyID, ExpectedBucketOwner: o.owner, ExportID: runID,
		SideKey: d.Key + ".resume/" + runID + "/tail"}
}

// manifestMetadata is the manifest's user metadata for cfg, set when its
// upload is created: its format, container and config digest.
func manifestMetadata(cfg *config.Config) map[string]string {
	meta := map[string]string{metaFormat: cfg.Output.Format.String(), metaContainer: cfg.Output.Container.String()}
	if cfg.Digest != "" {
		meta[metaConfigDigest] = cfg.Digest
	}
	return meta
}

// writeOptions is how the export writes an object to a bucket: the
// destination's encryption and expected owner apply to objects in its
// bucket (the manifest, and offloaded items when they share it).
type writeOptions struct {
	sse             s3types.ServerSideEncryption
	kmsKeyID, owner string
}

func objectOptions(d *config.Destination, bucket string) writeOptions {
	if bucket != d.BucketName {
		return writeOptions{}
	}
	return writeOptions{sse: s3types.ServerSideEncryption(d.ServerSideEncryption), kmsKeyID: d.KMSKeyID, owner: d.ExpectedBucketOwner}
}

// put is the request that writes body, a JSON object the export makes (an
// offloaded item, a continuation's state), to bucket/key.
func (o writeOptions) put(bucket, key string, body []byte) *s3.PutObjectInput {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ContentType: aws.String("application/json"),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ServerSideEncryption: o.sse}
	if o.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(o.kmsKeyID)
	}
	if o.owner != "" {
		in.ExpectedBucketOwner = aws.String(o.owner)
	}
	return in
}

// NewRunID returns a random (version 4) UUID: the id of a run outside
// Lambda, where the Lambda function uses its request id.
func NewRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
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

func (s *state) progress(pr Progress, every time.Duration) {
	now := time.Now()
	if now.Sub(s.lastLog) < every {
		return
	}
	s.lastLog = now
	el := now.Sub(s.start)
	s.log.Info("progress", "items", pr.Items, "bytes", pr.Bytes, "pages", pr.Pages, "readers", pr.Readers,
		"elapsed", el.Round(time.Millisecond).String(), "MBps", fmt.Sprintf("%.1f", float64(pr.Bytes)/1e6/el.Seconds()))
}

// fetchedPage is a page on its way from the fetcher to the encoder.
type fetchedPage struct {
	*query.Page
	gate *gate // nil: no need to wait
}

// gate holds the encoder back from a raw page until the next request has
// its first response byte: transcoding a page is a burst of CPU that would
// otherwise take the CPU from the SDK building, signing and sending that
// request, which is on the critical path (docs/performance.md has the
// figures). It opens once, from either goroutine.
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

// gatedAPI opens the pending gate when the Query's response has its first
// byte (httptrace's GotFirstResponseByte, on the transport's goroutine),
// and in any case when the call returns.
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
