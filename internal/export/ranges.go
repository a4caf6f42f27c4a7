package export

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/keyrange"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// Parallel key ranges.
//
// With query.parallelism above one, the export reads the first page as the
// sequential export does. Only when that page has a LastEvaluatedKey does it
// learn the key schema (DescribeTable) and the last sort key (one Limit 1
// Query the other way, without the filter), and split what is left between
// the first page's position and the last key into closed intervals
// (internal/keyrange), each read by its own reader with the key condition
// rewritten to "sort key BETWEEN lo AND hi", going on within its interval
// only from the LastEvaluatedKeys DynamoDB returns. No synthetic start key
// is ever sent.
//
// The head interval, the one the first page began, goes on through the
// pipeline's fetcher into the manifest's upload, as the sequential export's
// pages do. Every other interval's lines go to a segment object of its own,
// written by its own upload.Writer (part buffers from one pool shared by
// all segments, which bounds their memory); when every reader is done, the
// segments are appended to the manifest's upload in key order
// (upload.Writer.Append: server-side UploadPartCopy for whole parts, a
// read of at most a part's worth where two meet), and deleted.
//
// Rebalancing: a reader whose interval is done takes half of what is left
// of the largest interval still being read: it asks that interval's reader,
// which splits at the midpoint between its position and its end between
// two pages, so that no request in flight ever spans the split.
//
// Concurrency: requests in flight are bounded by a limit that is fixed, or,
// for "auto", grows by one reader per round of requests while throughput
// rises and no request is throttled, and shrinks by a factor when one is
// (additive increase, multiplicative decrease). A throttled request is not
// retried by the SDK in a reader: the reader backs off and sends it again,
// and it fails only after as many throttled attempts in a row as the SDK
// would make once the limit is down to one reader, as the sequential
// export would.

// Describer is the DynamoDB call that learns a table's key schema. The
// export makes it only when the query may be read by several readers and
// its first page is not its last.
type Describer interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ Describer = (*dynamodb.Client)(nil)

// Tuning of the readers.
const (
	autoStart        = 2   // readers an "auto" export starts with
	decrease         = 0.7 // the limit's factor on a throttle
	riseFactor       = 1.05
	probeRounds      = 8 // rounds without a rise before one more reader is tried anyway
	throttleAttempts = 5 // throttled attempts in a row that fail a lone reader (the SDK's attempts)
	maxBackoff       = 2 * time.Second
	segmentBuffers   = 8 // part buffers shared by all segments
)

// errHandOn: the ranges are read, but a range this invocation finished is
// one its continuation had open, whose segment only a later invocation may
// append: the export hands on a continuation.
var errHandOn = errors.New("every range is read; the rest is assembled by the next invocation")

// errHeadSplit ends the first page's paging when the query is to be split.
var errHeadSplit = errors.New("split after the first page")

// layout is how an export's remaining sort-key range is read.
type layout struct {
	cond    keyrange.Condition
	hash    string
	sortKey string
	asc     bool
	a, b    types.AttributeValue // ends of the range split, a < b
}

// parallel says whether the query may be split after its first page. It
// is not with a limit (the sequential export stops at an exact position)
// or with offloading (an offloaded item is named by its line's index, which
// a range does not know until the ranges before it are done), and not
// after the first invocation of a resumable export: a query is split once,
// after its first page, and the continuation then holds every range.
func (p *pipeline) parallel() bool {
	q := &p.cfg.Query
	_, ok := p.db.(Describer)
	return ok && q.Parallelism.Max() > 1 && q.Limit == 0 && !p.cfg.EnableItemOffloading && !p.queryDone && p.opts.From == nil
}

// layout learns the key schema and the last sort key, and returns how to
// split what is left after the first page, whose LastEvaluatedKey is lek;
// nil when it cannot be split.
func (p *pipeline) layout(ctx context.Context, lek map[string]types.AttributeValue) (*layout, error) {
	q := &p.cfg.Query
	out, err := p.db.(Describer).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(q.TableName)})
	if err != nil {
		return nil, fmt.Errorf("DescribeTable: %w", err)
	}
	schema := out.Table.KeySchema
	if q.IndexName != "" {
		schema = nil
		for _, ix := range out.Table.GlobalSecondaryIndexes {
			if aws.ToString(ix.IndexName) == q.IndexName {
				schema = ix.KeySchema
			}
		}
		for _, ix := range out.Table.LocalSecondaryIndexes {
			if aws.ToString(ix.IndexName) == q.IndexName {
				schema = ix.KeySchema
			}
		}
	}
	var hash, rng string
	for _, k := range schema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	if hash == "" || rng == "" {
		return nil, nil // no sort key: nothing to split
	}
	cond, err := keyrange.ParseCondition(q.KeyConditionExpression, q.ExpressionAttributeNames, hash, rng)
	if err != nil {
		return nil, err
	}
	if err := keyrange.CheckReserved(q.FilterExpression, q.ProjectionExpression); err != nil {
		return nil, err
	}
	if cond.SortOp == "=" {
		return nil, nil // one sort-key value: its items cannot be split
	}
	at := lek[rng]
	if keyrange.KindOf(at) == "" {
		return nil, fmt.Errorf("the first page's LastEvaluatedKey has no sort key %s", rng)
	}
	asc := q.ScanIndexForward == nil || *q.ScanIndexForward
	last, err := p.lastKey(ctx, cond, rng, !asc)
	if err != nil || last == nil {
		return nil, err
	}
	l := &layout{cond: cond, hash: hash, sortKey: rng, asc: asc, a: at, b: last}
	if !asc {
		l.a, l.b = last, at
	}
	if c, err := keyrange.Compare(l.a, l.b); err != nil || c >= 0 {
		return nil, err
	}
	return l, nil
}

// lastKey is the sort key of the query's last item in its order: the first
// in the other order (forward: ascending), without the filter.
func (p *pipeline) lastKey(ctx context.Context, cond keyrange.Condition, rng string, forward bool) (types.AttributeValue, error) {
	q := &p.cfg.Query
	ref, names := cond.SortName(q.ExpressionAttributeNames)
	in := query.Input(q)
	in.FilterExpression = nil
	in.ExclusiveStartKey = nil
	in.ScanIndexForward = aws.Bool(forward)
	in.Limit = aws.Int32(1)
	in.ProjectionExpression = aws.String(ref)
	all := maps.Clone(names)
	maps.Copy(all, q.ExpressionAttributeNames)
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = keyrange.Prune(all, q.ExpressionAttributeValues, q.KeyConditionExpression, ref)
	out, err := p.db.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("the query's last key: %w", err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	v := out.Items[0][rng]
	if keyrange.KindOf(v) == "" {
		return nil, fmt.Errorf("the query's last item has no sort key %s", rng)
	}
	return v, nil
}

// span is one interval and its reader's progress.
type span struct {
	id     int
	lo, hi types.AttributeValue // closed, in ascending key order
	// pos is where the reader goes on from (a LastEvaluatedKey), nil
	// before its first page; at is its sort-key value.
	pos  map[string]types.AttributeValue
	at   types.AttributeValue
	done bool
	// split, when set, asks the reader to split off the second half of
	// what it has left and send it (nil: it cannot).
	split chan *span
	stuck bool // it could not be split where its reader is
	// fromOpen: the continuation this invocation resumed has it not done.
	// Its segment is then appended by a later invocation only: a retry of
	// that continuation reads it again from where the continuation says.
	fromOpen bool
	seg      *segment // nil for the head span
}

// ranges runs the readers of a split query.
type ranges struct {
	p   *pipeline
	l   *layout
	ctx context.Context // the pipeline's work context

	mu       sync.Mutex
	order    []*span // in the manifest's order
	nextID   int
	running  int           // reader goroutines
	reading  int           // of them, reading a span (not waiting for one)
	rtt      time.Duration // a request's time, averaged
	inflight int
	limit    float64
	max      int
	auto     bool
	changed  chan struct{} // closed and replaced when inflight or limit change
	err      error
	stage    Stage
	// A round is about one request per reader; AIMD decides once a round.
	roundPages  int
	roundBytes  int64
	roundStart  time.Time
	lastRate    float64
	flat        int       // rounds since the rate last rose
	lastDecease time.Time // last decrease
	streak      int       // throttled requests in a row at one reader
	peak        int
	absorbed    []*span // spans appended to the manifest, whose segments remain until it is complete
	// restoredBytes: the segments' bytes when this invocation resumed them.
	restoredBytes int64
	// fromID: spans numbered below it come from the continuation this
	// invocation resumed (0: none did).
	fromID int

	wg    sync.WaitGroup
	pool  *upload.Pool
	pages atomic.Int64 // pages read by every reader
	items atomic.Int64 // items written to segments
	bytes atomic.Int64 // bytes written to segments
}

func (p *pipeline) newRanges(l *layout) (*ranges, error) {
	par := p.cfg.Query.Parallelism
	pool, err := upload.NewPool(min(segmentBuffers, par.Max()), upload.MinPartSize)
	if err != nil {
		return nil, err
	}
	rs := &ranges{p: p, l: l, ctx: p.work, max: par.Max(), auto: par.Auto, changed: make(chan struct{}),
		roundStart: time.Now(), pool: pool}
	rs.pages.Store(1) // the first page, read before the split
	rs.rtt = 100 * time.Millisecond
	rs.limit = float64(par.Max())
	if par.Auto {
		rs.limit = autoStart
	}
	return rs, nil
}

// start splits [l.a, l.b] into as many intervals as the limit allows; the
// head one is read from pos (the first page's LastEvaluatedKey) by the
// caller, the others by reader goroutines started here. It returns the head.
func (rs *ranges) start(pos map[string]types.AttributeValue) *span {
	k := int64(rs.readers())
	var ivs []*span
	lo := rs.l.a
	for i := int64(1); i < k; i++ {
		v, ok := keyrange.Point(lo, rs.l.b, 1, k-i+1)
		if !ok {
			continue
		}
		next, ok := keyrange.Succ(v)
		if !ok {
			break
		}
		ivs = append(ivs, &span{lo: lo, hi: v})
		lo = next
	}
	ivs = append(ivs, &span{lo: lo, hi: rs.l.b})
	head := ivs[0]
	if !rs.l.asc {
		for i, j := 0, len(ivs)-1; i < j; i, j = i+1, j-1 {
			ivs[i], ivs[j] = ivs[j], ivs[i]
		}
		head = ivs[0]
	}
	head.pos, head.at = pos, pos[rs.l.sortKey]
	rs.mu.Lock()
	for _, s := range ivs {
		s.id = rs.nextID
		rs.nextID++
	}
	rs.order = ivs
	rs.running = len(ivs)
	rs.peak = rs.running
	rs.mu.Unlock()
	for _, s := range ivs[1:] {
		rs.wg.Add(1)
		go rs.reader(s)
	}
	return head
}

// readers is the number of readers the limit allows now.
func (rs *ranges) readers() int { return max(1, min(rs.max, int(rs.limit))) }

// reader reads s into its segment, then takes over half of what is left of
// the largest interval, until there is none; on its own goroutine.
func (rs *ranges) reader(s *span) {
	defer rs.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			rs.fail(StageInternal, fmt.Errorf("%w in a range reader: %v", errPanic, r))
		}
	}()
	for s != nil {
		if s.seg == nil {
			s.seg = rs.newSegment(s)
		}
		if stage, err := rs.read(s, s.seg.capture, s.seg.page); err != nil {
			rs.fail(stage, err)
			return
		}
		if err := s.seg.end(rs.p.upload); err != nil {
			rs.fail(StageUpload, err)
			return
		}
		s = rs.next(s)
	}
}

// head reads the head span through the pipeline's fetcher (capture and
// deliver are its); when it is done, a new reader takes its place.
func (rs *ranges) head(s *span, capture func() (*query.Capture, error), deliver func(*query.Page) error) error {
	_, err := rs.read(s, capture, deliver)
	if err != nil {
		return err
	}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		if n := rs.next(s); n != nil {
			rs.wg.Add(1)
			rs.reader(n)
		}
	}()
	return nil
}

// next ends the reader of done and returns a new span for it to read, or
// nil when there is none (it then stops running).
func (rs *ranges) next(done *span) *span {
	rs.mu.Lock()
	done.done = true
	rs.answer(done, nil)
	rs.wake()
	rs.mu.Unlock()
	for rs.ctx.Err() == nil {
		rs.mu.Lock()
		if rs.running > rs.readers() {
			rs.running--
			rs.mu.Unlock()
			return nil
		}
		target := rs.largest()
		if target == nil {
			rs.running--
			rs.mu.Unlock()
			return nil
		}
		ch := make(chan *span, 1)
		target.split = ch
		rs.mu.Unlock()
		select {
		case n := <-ch:
			if n != nil {
				return n
			}
		case <-rs.ctx.Done():
		}
	}
	rs.mu.Lock()
	rs.running--
	rs.mu.Unlock()
	return nil
}

// grow starts readers while the limit allows more than are running (for
// "auto"); rs.mu is held.
func (rs *ranges) grow() {
	for rs.running < rs.readers() && rs.largest() != nil {
		rs.running++
		rs.peak = max(rs.peak, rs.running)
		rs.wg.Add(1)
		go func() {
			defer rs.wg.Done()
			// A new reader takes half of the largest interval, like a
			// reader whose own is done.
			if n := rs.next(&span{}); n != nil {
				rs.wg.Add(1)
				rs.reader(n)
			}
		}()
	}
}

// largest is the span with the most left to read that no reader is
// already splitting; rs.mu is held.
func (rs *ranges) largest() *span {
	var best *span
	bestW := 0.0
	for _, s := range rs.order {
		if s.done || s.split != nil || s.stuck || s.hi == nil {
			continue
		}
		from, to := rs.left(s)
		if c, err := keyrange.Compare(from, to); err != nil || c >= 0 {
			continue
		}
		if w := keyrange.Width(rs.l.a, rs.l.b, from, to); best == nil || w > bestW {
			best, bestW = s, w
		}
	}
	return best
}

// left is what s has left to read, [from, to] in ascending key order.
func (rs *ranges) left(s *span) (from, to types.AttributeValue) {
	switch {
	case s.at == nil:
		return s.lo, s.hi
	case rs.l.asc:
		return s.at, s.hi
	default:
		return s.lo, s.at
	}
}

// answer answers a pending split request of s with n; rs.mu is held.
func (rs *ranges) answer(s, n *span) {
	if s.split != nil {
		s.split <- n
		s.split = nil
	}
}

// splitIfAsked splits s between two of its pages when a reader asked.
func (rs *ranges) splitIfAsked(s *span) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if s.split == nil {
		return
	}
	from, to := rs.left(s)
	mid, ok := keyrange.Point(from, to, 1, 2)
	var succ types.AttributeValue
	if ok {
		succ, ok = keyrange.Succ(mid)
	}
	if !ok {
		s.stuck = true // until its reader moves on
		rs.answer(s, nil)
		return
	}
	n := &span{id: rs.nextID}
	rs.nextID++
	if rs.l.asc { // s keeps [.., mid], n reads (mid, hi]
		n.lo, n.hi = succ, s.hi
		s.hi = mid
	} else { // s reads down to (mid, and n [lo, mid]
		n.lo, n.hi = s.lo, mid
		s.lo = succ
	}
	for i, o := range rs.order {
		if o == s {
			rs.order = append(rs.order[:i+1], append([]*span{n}, rs.order[i+1:]...)...)
			break
		}
	}
	rs.answer(s, n)
}

// read reads s to its end: each page from capture's buffer, handed to
// deliver in order.
func (rs *ranges) read(s *span, capture func() (*query.Capture, error), deliver func(*query.Page) error) (Stage, error) {
	q := &rs.p.cfg.Query
	base := query.Input(q)
	rs.mu.Lock()
	rs.reading++
	rs.mu.Unlock()
	defer func() {
		rs.mu.Lock()
		rs.reading--
		rs.mu.Unlock()
	}()
	throttled := 0           // throttled attempts of this request in a row
	var spare *query.Capture // the buffer of a throttled request, for the next
	for {
		rs.splitIfAsked(s)
		r := rs.l.cond.Between(q.ExpressionAttributeNames, q.ExpressionAttributeValues, q.FilterExpression, q.ProjectionExpression, s.lo, s.hi)
		req := *base
		req.KeyConditionExpression = aws.String(r.KeyConditionExpression)
		req.ExpressionAttributeNames, req.ExpressionAttributeValues = r.ExpressionAttributeNames, r.ExpressionAttributeValues
		req.ExclusiveStartKey = s.pos
		if q.PageSize > 0 {
			req.Limit = aws.Int32(q.PageSize)
		}
		c := spare
		if c == nil {
			var err error
			if c, err = capture(); err != nil {
				return StageQuery, err
			}
		}
		spare = nil
		if err := rs.acquire(); err != nil {
			return StageQuery, err
		}
		sent := time.Now()
		pg, _, err := query.One(rs.ctx, rs.p.db, &req, c, int(rs.pages.Add(1)), noThrottleRetries)
		size := int64(len(c.Body))
		rs.release(err == nil, size, time.Since(sent))
		if err != nil {
			rs.pages.Add(-1)
			if !isThrottle(err) {
				return StageQuery, err
			}
			throttled++
			if rs.throttle() >= throttleAttempts {
				return StageQuery, err
			}
			if err := sleep(rs.ctx, backoff(throttled)); err != nil {
				return StageQuery, err
			}
			spare = c
			continue
		}
		throttled = 0
		if err := deliver(pg); err != nil {
			var se *stageError
			if errors.As(err, &se) {
				return se.stage, se.err
			}
			return StageQuery, err
		}
		rs.mu.Lock() // other readers compare what is left of s
		s.pos, s.stuck = pg.LastEvaluatedKey, false
		if len(s.pos) > 0 {
			s.at = s.pos[rs.l.sortKey]
		}
		rs.mu.Unlock()
		if len(pg.LastEvaluatedKey) == 0 {
			return "", nil
		}
	}
}

// stageError is a failure of a reader's sink and the stage it failed in.
type stageError struct {
	stage Stage
	err   error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// acquire waits until a request may be sent.
func (rs *ranges) acquire() error {
	for {
		rs.mu.Lock()
		if rs.inflight < rs.readers() {
			rs.inflight++
			rs.mu.Unlock()
			return nil
		}
		ch := rs.changed
		rs.mu.Unlock()
		select {
		case <-ch:
		case <-rs.ctx.Done():
			return context.Cause(rs.ctx)
		}
	}
}

// release ends a request that took d; ok: it was answered with a page of
// size bytes. Once a round (a page per reader allowed), the limit grows by
// one reader: for "auto" while throughput rises (and once in a while to
// probe), for a fixed number back up to it after throttles shrank it.
func (rs *ranges) release(ok bool, size int64, d time.Duration) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.inflight--
	rs.wake()
	if !ok {
		return
	}
	rs.streak = 0
	rs.rtt += (d - rs.rtt) / 8
	rs.roundPages++
	rs.roundBytes += size
	if rs.roundPages < rs.readers() {
		return
	}
	rate := float64(rs.roundBytes) / time.Since(rs.roundStart).Seconds()
	rs.roundPages, rs.roundBytes, rs.roundStart = 0, 0, time.Now()
	grow := !rs.auto
	if rs.auto {
		if rate >= rs.lastRate*riseFactor || rs.flat >= probeRounds {
			rs.flat, grow = 0, true
		} else {
			rs.flat++
		}
		rs.lastRate = rate
	}
	if grow && rs.limit < float64(rs.max) {
		rs.limit = min(float64(rs.max), float64(int(rs.limit))+1)
		rs.grow()
	}
}

// throttle notes a throttled request: the limit shrinks, at most once a
// request's time (so that the throttles of one burst count once). It
// returns how many requests in a row were throttled with no page read in
// between since the limit came down to one reader: the sequential
// export's request fails after throttleAttempts of them.
func (rs *ranges) throttle() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if time.Since(rs.lastDecease) > rs.rtt {
		rs.limit = max(1, rs.limit*decrease)
		rs.lastDecease = time.Now()
		rs.roundPages, rs.roundBytes, rs.roundStart, rs.flat = 0, 0, time.Now(), 0
		rs.wake()
	}
	if rs.readers() <= 1 {
		rs.streak++
	}
	return rs.streak
}

func (rs *ranges) wake() {
	close(rs.changed)
	rs.changed = make(chan struct{})
}

// fail records the first failure and stops every reader.
func (rs *ranges) fail(stage Stage, err error) {
	rs.mu.Lock()
	if rs.err == nil {
		rs.err, rs.stage = err, stage
	}
	rs.mu.Unlock()
	rs.p.cancel(err)
}

// failure is the first failure of a reader, if any.
func (rs *ranges) failure() (Stage, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.stage, rs.err
}

// wait waits for every reader; then the spans are final.
func (rs *ranges) wait() (Stage, error) {
	rs.wg.Wait()
	return rs.failure()
}

// noThrottleRetries leaves throttled requests to the reader, which shrinks
// the number of readers before it sends them again.
func noThrottleRetries(o *dynamodb.Options) {
	if o.Retryer != nil {
		o.Retryer = throttleless{o.Retryer}
	}
}

type throttleless struct{ aws.Retryer }

func (r throttleless) IsErrorRetryable(err error) bool {
	return !isThrottle(err) && r.Retryer.IsErrorRetryable(err)
}

// isThrottle: DynamoDB throttled the request (query.IsThrottle, the same
// test the metrics count with), or the SDK's retry quota, which throttles
// drain, ran out.
func isThrottle(err error) bool {
	var quota ratelimit.QuotaExceededError
	return query.IsThrottle(err) || errors.As(err, &quota)
}

func backoff(attempt int) time.Duration {
	d := min(maxBackoff, 50*time.Millisecond<<min(attempt, 10))
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// segment is one span's lines, written to an object of their own.
type segment struct {
	rs  *ranges
	s   *span
	key string
	c   *query.Capture
	tr  *lines.Transcoder
	wp  lines.Page
	w   *upload.Writer
	bw  *bufio.Writer
	n   int64 // items written
	// st is the segment's suspended upload (a resumable export suspends
	// a segment when its range is done, and completes it only when the
	// manifest is assembled); obj is the completed segment.
	st  *upload.State
	obj *upload.Object
	// created: this invocation started the segment's upload (no
	// continuation names it).
	created bool
}

func (rs *ranges) newSegment(s *span) *segment {
	return &segment{rs: rs, s: s, key: segmentTarget(rs.p.cfg, rs.p.opts.RunID, s.id).Key,
		c: &query.Capture{}, tr: lines.NewTranscoder(rs.p.cfg.Output.Format)}
}

// segmentTarget is the object span id's lines go to, beside the manifest.
func segmentTarget(cfg *config.Config, exportID string, id int) upload.Target {
	t := manifestTarget(&cfg.Destination, exportID)
	t.Key = sidePrefix(&cfg.Destination, exportID) + "seg." + strconv.Itoa(id)
	t.Overwrite = true
	t.SideKey = t.Key + ".tail"
	return t
}

// open starts the segment's writer, or resumes its suspended upload.
func (g *segment) open(ctx context.Context) error {
	if g.w != nil {
		return nil
	}
	p := g.rs.p
	t := segmentTarget(p.cfg, p.opts.RunID, g.s.id)
	opts := upload.Options{PartSize: upload.MinPartSize, Concurrency: 1, Pool: g.rs.pool, Cleanup: p.policy.Cleanup}
	var w *upload.Writer
	var err error
	if g.st != nil {
		opts.PartSize, opts.KeepOpen = 0, true
		w, err = upload.Resume(ctx, p.s3, t, *g.st, opts)
	} else {
		w, err = upload.New(ctx, p.s3, t, opts)
		g.created = true
	}
	if err != nil {
		return err
	}
	g.w, g.st = w, nil
	g.bw = bufio.NewWriterSize(w, writeBufferSize)
	return nil
}

// end is the end of the segment's range: a resumable export suspends the
// segment (it is completed when the manifest is assembled); any other
// completes it.
func (g *segment) end(ctx context.Context) error {
	if g.rs.p.cfg.Resumable {
		return g.suspend(ctx)
	}
	return g.close(ctx)
}

// suspend suspends the segment's writer, if it has one.
func (g *segment) suspend(ctx context.Context) error {
	if g.w == nil {
		return nil
	}
	if err := g.bw.Flush(); err != nil {
		return err
	}
	st, err := g.w.Suspend(ctx)
	if err != nil {
		return err
	}
	g.st, g.w = &st, nil
	return nil
}

func (g *segment) capture() (*query.Capture, error) { return g.c, nil }

// page writes a page's lines to the segment.
func (g *segment) page(pg *query.Page) error {
	g.wp.Reset()
	var err error
	if items := pg.Raw.Response.Items; items != nil {
		err = g.tr.Items(&g.wp, items)
	}
	var ie *lines.ItemError
	switch {
	case err == nil && g.wp.Count != pg.Count:
		return fmt.Errorf("page %d of table %s: malformed response: Count %d but %d items", pg.Number, g.rs.p.cfg.Query.TableName, pg.Count, g.wp.Count)
	case errors.As(err, &ie):
		return &stageError{StageEncode, fmt.Errorf("item %d of page %d: %w", ie.Index, pg.Number, ie.Err)}
	case err != nil:
		return fmt.Errorf("page %d of table %s: malformed response: %w", pg.Number, g.rs.p.cfg.Query.TableName, err)
	}
	if g.wp.Count == 0 {
		return nil
	}
	if err := g.open(g.rs.p.upload); err != nil {
		return &stageError{StageUpload, err}
	}
	before := g.w.Size() + int64(g.bw.Buffered())
	if err := writeLines(g.bw, &g.wp, g.rs.p.cfg.Output.Container, g.n); err != nil {
		return &stageError{StageUpload, err}
	}
	g.n += int64(g.wp.Count)
	g.rs.items.Add(int64(g.wp.Count))
	g.rs.bytes.Add(g.w.Size() + int64(g.bw.Buffered()) - before)
	g.rs.p.report()
	return nil
}

// close completes the segment's object (none when it has no items),
// resuming it first when it is suspended.
func (g *segment) close(ctx context.Context) error {
	if g.obj != nil {
		return nil
	}
	if g.st != nil {
		err := g.open(ctx)
		var done *upload.AlreadyCompleteError
		if errors.As(err, &done) { // completed by an invocation whose reply was lost
			g.obj, g.st = &done.Object, nil
			return nil
		}
		if err != nil {
			return err
		}
	}
	if g.w == nil {
		return nil
	}
	if err := g.bw.Flush(); err != nil {
		return err
	}
	obj, err := g.w.Close(ctx)
	if err != nil {
		return err
	}
	g.obj, g.w = obj, nil
	return nil
}

// abort removes the segment's upload and side objects: its live writer's,
// or the suspended one's.
func (g *segment) abort(ctx context.Context) error {
	switch {
	case g.w != nil:
		return g.w.Abort(ctx)
	case g.st != nil:
		return upload.Cancel(ctx, g.rs.p.s3, segmentTarget(g.rs.p.cfg, g.rs.p.opts.RunID, g.s.id), *g.st)
	}
	return nil
}

// current is the number of readers reading now.
func (rs *ranges) current() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return min(rs.reading, rs.readers())
}

// peakReaders is the most readers that ran at once.
func (rs *ranges) peakReaders() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.peak
}

// absorb appends each range's segment to the manifest's upload once the
// ranges before it are: the head's lines are written; the next range in
// the manifest's order is waited for, completed, appended, and dropped
// from the ranges, until none is left or work ends. So the segments are
// assembled while the last ranges are still being read, and a resumable
// export's last invocation has only the ranges left to assemble.
func (p *pipeline) absorb(rs *ranges) (Stage, error) {
	if err := p.bw.Flush(); err != nil {
		return StageUpload, err
	}
	for {
		rs.mu.Lock()
		if len(rs.order) == 1 {
			rs.mu.Unlock()
			rs.wg.Wait()
			return rs.failure()
		}
		s := rs.order[1]
		if !s.done {
			ch := rs.changed
			rs.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-p.work.Done():
				return StageDeadline, context.Cause(p.work)
			}
		}
		if s.fromOpen {
			rs.mu.Unlock()
			rs.wg.Wait()
			if stage, err := rs.failure(); err != nil {
				return stage, err
			}
			return StageDeadline, errHandOn
		}
		rs.mu.Unlock()
		g := s.seg
		if err := g.close(p.upload); err != nil {
			return StageUpload, err
		}
		if g.obj != nil && p.cfg.Output.Container == config.Array && p.st.items > 0 {
			// The segment's first item is the first it wrote: the
			// separator from the items before it goes here.
			if _, err := p.bw.WriteString(arraySeparator); err != nil {
				return StageUpload, err
			}
			if err := p.bw.Flush(); err != nil {
				return StageUpload, err
			}
		}
		if g.obj != nil {
			src := upload.Source{Bucket: g.obj.Bucket, Key: g.obj.Key, VersionID: g.obj.VersionID, Size: g.obj.Size, ChecksumCRC64NVME: g.obj.ChecksumCRC64NVME}
			if err := p.w.Append(p.upload, src); err != nil {
				return StageUpload, err
			}
		}
		if g.obj != nil {
			p.log.Debug("segment appended", "key", g.obj.Key, "bytes", g.obj.Size, "items", g.n)
		}
		rs.mu.Lock()
		rs.order = append(rs.order[:1], rs.order[2:]...)
		rs.absorbed = append(rs.absorbed, s)
		rs.mu.Unlock()
		p.st.items += g.n
		rs.items.Add(-g.n)
		if g.obj != nil {
			rs.bytes.Add(-g.obj.Size)
		}
		p.headItems.Store(p.st.items)
		p.headBytes.Store(p.w.Size())
		if err := context.Cause(p.work); p.work.Err() != nil {
			return StageDeadline, err
		}
	}
}

// dropSegments aborts the segments' uploads and deletes their objects;
// the readers have ended. With keep, the segments a continuation names
// stay for its retry, and only those this invocation started go.
func (p *pipeline) dropSegments(ctx context.Context, rs *ranges, keep bool) {
	var keys []string
	for _, s := range append(rs.absorbed, rs.order...) {
		if s.seg == nil || keep && s.id < rs.fromID && !s.seg.created {
			continue
		}
		if err := s.seg.abort(ctx); err != nil {
			p.log.Warn("a segment's upload could not be aborted", "key", s.seg.key, "error", err.Error())
		}
		keys = append(keys, s.seg.key)
	}
	if keep {
		d := &p.cfg.Destination
		if _, left := deleteKeys(ctx, p.s3, d, d.BucketName, keys); left > 0 {
			p.log.Warn("segment objects left", "count", left)
		}
		return
	}
	d := &p.cfg.Destination
	if _, left := deletePrefix(ctx, p.s3, d, d.BucketName, sidePrefix(d, p.opts.RunID)+"seg."); left > 0 {
		p.log.Warn("segment objects left", "count", left)
	}
}

// suspendAll suspends every segment still being written; the readers have
// ended.
func (rs *ranges) suspendAll(ctx context.Context) error {
	for _, s := range rs.order {
		if s.seg != nil {
			if err := s.seg.suspend(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// resumeReaders starts a reader for every span of a restored continuation
// that is not done, but the head; it returns how many.
func (rs *ranges) resumeReaders() {
	rs.mu.Lock()
	var open []*span
	for _, s := range rs.order[1:] {
		if !s.done {
			open = append(open, s)
		}
	}
	rs.running = len(open)
	if !rs.order[0].done {
		rs.running++
	}
	rs.peak = rs.running
	rs.grow()
	rs.mu.Unlock()
	for _, s := range open {
		rs.wg.Add(1)
		go rs.reader(s)
	}
}
