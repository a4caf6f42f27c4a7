package bench

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbrange"
)

// DefaultDelay is how long the fakes wait, after reading a whole request,
// before they answer: about what a real endpoint takes, and enough that the
// SDK has finished with the request body before the response arrives.
const DefaultDelay = time.Millisecond

// TableOptions describes a table the fake DynamoDB serves.
type TableOptions struct {
	Items int // items in the partition, paged about 1 MB at a time
	// Latency, when above the fake's delay, is the time from reading a
	// request to writing the last byte of its page: the headers leave after
	// the delay, the body is streamed evenly over the rest.
	Latency time.Duration
	Mix     string // the items: "" the page mix (pageItems), "rich" (richItem)
}

// Stats counts what a fake served for one table.
type Stats struct {
	Pages         int   // pages in the table
	Requests      int   // Query requests answered, re-fetches included
	Refetched     int   // requests for a page already served
	ResponseBytes int64 // bytes of the distinct pages, each counted once
	Items         int   // items in the table
	// Where the time of a paced run went, summed over its requests:
	// Overshoot is how much later than the latency the fake sent a page's
	// last byte (timer slack); ClientGap is the time from a page's last
	// byte leaving to the next request being read whole: the client
	// finishing the page and sending the next request, and the fake's own
	// wake-up and read of it. Both are summed over gaps between requests
	// (Requests-1 of them).
	Overshoot, ClientGap time.Duration
}

// RequestsPerPage is Requests / Pages.
func (s Stats) RequestsPerPage() float64 {
	if s.Pages == 0 {
		return 0
	}
	return float64(s.Requests) / float64(s.Pages)
}

// DynamoDB is an in-process DynamoDB endpoint serving Query pages built once
// per table. Its methods are safe for concurrent use; Close stops it.
type DynamoDB struct {
	srv    *httptest.Server
	delay  time.Duration
	mu     sync.Mutex
	tables map[string]*table
	parts  map[string]*ddbrange.Table // tables serving a ddbrange.Partition
}

// table holds a table's pages: every page but the last shares one body of
// items; only the LastEvaluatedKey differs, so a page's CRC32 is the shared
// body's CRC32 updated with its suffix.
type table struct {
	opts      TableOptions
	pages     int
	full      []byte // {"Count":K,"ScannedCount":K,"Items":[...]
	fullCRC   uint32
	last      []byte // the last page, without its closing brace
	lastCRC   uint32
	perPage   int
	served    []atomic.Int32
	requests  atomic.Int64
	respBytes int64

	timing    sync.Mutex
	lastSent  time.Time // when the previous request's last byte left
	overshoot time.Duration
	clientGap time.Duration
}

// sent records that a request read at readAt had its last byte sent now.
func (t *table) sent(readAt time.Time) {
	now := time.Now()
	t.timing.Lock()
	defer t.timing.Unlock()
	if !t.lastSent.IsZero() {
		t.clientGap += readAt.Sub(t.lastSent)
	}
	t.lastSent = now
	if t.opts.Latency > 0 {
		t.overshoot += max(0, now.Sub(readAt)-t.opts.Latency)
	}
}

// NewDynamoDB starts a fake DynamoDB on 127.0.0.1, over TLS when useTLS.
// delay (DefaultDelay when zero) is the least time between reading a request
// and answering it.
func NewDynamoDB(useTLS bool, delay time.Duration) *DynamoDB {
	if delay <= 0 {
		delay = DefaultDelay
	}
	d := &DynamoDB{delay: delay, tables: map[string]*table{}, parts: map[string]*ddbrange.Table{}}
	d.srv = start(useTLS, http.HandlerFunc(d.serve))
	return d
}

// URL is the endpoint's base URL.
func (d *DynamoDB) URL() string { return d.srv.URL }

// Close stops the server.
func (d *DynamoDB) Close() { d.srv.Close() }

// AddTable builds name's pages. Building a table of a million items takes a
// moment; the pages themselves are shared, so memory does not grow with
// Items.
func (d *DynamoDB) AddTable(name string, opts TableOptions) {
	items, perPage := mixItems(opts.Mix, 1<<30, 1)
	t := &table{opts: opts, perPage: perPage}
	t.pages = max(1, (opts.Items+perPage-1)/perPage)
	t.full = fmt.Appendf(nil, `{"Count":%d,"ScannedCount":%d,"Items":[`, perPage, perPage)
	t.full = append(append(t.full, items...), ']')
	t.fullCRC = crc32.ChecksumIEEE(t.full)
	lastItems, n := mixItems(opts.Mix, opts.Items-(t.pages-1)*perPage, 1)
	t.last = fmt.Appendf(nil, `{"Count":%d,"ScannedCount":%d,"Items":[`, n, n)
	t.last = append(append(t.last, lastItems...), ']')
	t.lastCRC = crc32.ChecksumIEEE(t.last)
	t.served = make([]atomic.Int32, t.pages)
	for p := range t.pages {
		body, _ := t.page(p)
		t.respBytes += int64(len(body) + len(t.suffix(nil, p)))
	}
	d.mu.Lock()
	d.tables[name] = t
	d.mu.Unlock()
}

// Stats reports what was served for name so far.
func (d *DynamoDB) Stats(name string) Stats {
	d.mu.Lock()
	t := d.tables[name]
	d.mu.Unlock()
	if t == nil {
		return Stats{}
	}
	s := Stats{Pages: t.pages, Requests: int(t.requests.Load()), ResponseBytes: t.respBytes, Items: t.opts.Items}
	t.timing.Lock()
	s.Overshoot, s.ClientGap = t.overshoot, t.clientGap
	t.timing.Unlock()
	for i := range t.served {
		if n := int(t.served[i].Load()); n > 1 {
			s.Refetched += n - 1
		}
	}
	return s
}

// AddPartition serves p as table name (see package ddbrange). Tables may
// share a partition; each has its own cap and counts.
func (d *DynamoDB) AddPartition(name string, p *ddbrange.Partition, o ddbrange.Options) {
	t := ddbrange.NewTable(p, o)
	d.mu.Lock()
	d.parts[name] = t
	d.mu.Unlock()
}

// RemoveTable stops serving name, so that its items can be collected.
func (d *DynamoDB) RemoveTable(name string) {
	d.mu.Lock()
	delete(d.parts, name)
	delete(d.tables, name)
	d.mu.Unlock()
}

func (d *DynamoDB) partition(name string) *ddbrange.Table {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.parts[name]
}

// PartitionStats reports what table name, added with AddPartition, answered
// so far.
func (d *DynamoDB) PartitionStats(name string) ddbrange.Stats {
	if t := d.partition(name); t != nil {
		return t.Stats()
	}
	return ddbrange.Stats{}
}

// SampleReaders samples the Query requests table name has in flight (see
// ddbrange.Table.SampleReaders); stop returns the samples.
func (d *DynamoDB) SampleReaders(name string, every time.Duration) (stop func() []int) {
	if t := d.partition(name); t != nil {
		return t.SampleReaders(every)
	}
	return func() []int { return nil }
}

// page returns page p's body without its suffix, and that body's CRC32.
func (t *table) page(p int) ([]byte, uint32) {
	if p == t.pages-1 {
		return t.last, t.lastCRC
	}
	return t.full, t.fullCRC
}

// suffix appends the end of page p: its LastEvaluatedKey, unless it is the
// last page, and the closing brace.
func (t *table) suffix(dst []byte, p int) []byte {
	if p < t.pages-1 {
		dst = fmt.Appendf(dst, `,"LastEvaluatedKey":{"PK":{"S":"TENANT#bench"},"SK":{"S":"PAGE#%010d"}}`, p+1)
	}
	return append(dst, '}')
}

// queryRequest is the part of a Query request the fake looks at.
type queryRequest struct {
	TableName         string
	ExclusiveStartKey struct {
		SK struct{ S string }
	}
}

func (d *DynamoDB) serve(w http.ResponseWriter, r *http.Request) {
	// Read the whole request first, as a real endpoint does.
	reqBody, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	readAt := time.Now()
	target := r.Header.Get("X-Amz-Target")
	if target != "DynamoDB_20120810.Query" && target != "DynamoDB_20120810.DescribeTable" {
		ddbrange.WriteError(w, http.StatusBadRequest, "UnknownOperationException", "the fake serves Query and DescribeTable only, got "+target)
		return
	}
	var req queryRequest
	if err := json.Unmarshal(reqBody, &req); err != nil {
		ddbrange.WriteError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	d.mu.Lock()
	t, pt := d.tables[req.TableName], d.parts[req.TableName]
	d.mu.Unlock()
	if target == "DynamoDB_20120810.DescribeTable" && (t != nil || pt != nil) {
		time.Sleep(time.Until(readAt.Add(d.delay)))
		ddbrange.WriteBody(w, ddbrange.Describe(req.TableName, pt))
		return
	}
	if pt != nil {
		pt.ServeQuery(w, reqBody, readAt, d.delay)
		return
	}
	if t == nil {
		ddbrange.WriteError(w, http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Table: "+req.TableName+" not found")
		return
	}
	p := 0
	if sk := req.ExclusiveStartKey.SK.S; sk != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(sk, "PAGE#"))
		if err != nil || n < 1 || n >= t.pages {
			ddbrange.WriteError(w, http.StatusBadRequest, "ValidationException", "The provided starting key is invalid: "+sk)
			return
		}
		p = n
	}
	t.requests.Add(1)
	t.served[p].Add(1)
	var sfx [96]byte
	suffix := t.suffix(sfx[:0], p)
	body, crc := t.page(p)
	crc = crc32.Update(crc, crc32.IEEETable, suffix)
	h := w.Header()
	h["Content-Type"] = []string{"application/x-amz-json-1.0"}
	h["Content-Length"] = []string{strconv.Itoa(len(body) + len(suffix))}
	h["X-Amz-Crc32"] = []string{strconv.FormatUint(uint64(crc), 10)}
	h["X-Amzn-Requestid"] = []string{"BENCH" + strconv.Itoa(p)}
	if t.opts.Latency <= d.delay {
		time.Sleep(d.delay)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		_, _ = w.Write(suffix)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		t.sent(readAt)
		return
	}
	// A page that takes Latency: the headers after the delay, then the body
	// streamed at an even pace so that its last byte leaves Latency after
	// the request was read, as from an endpoint serving one page per
	// Latency (about 115 MB/s for 1 MB in 10 ms).
	start := readAt
	time.Sleep(d.delay)
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	stream := t.opts.Latency - d.delay
	for off := 0; off < len(body); off += paceChunk {
		end := min(off+paceChunk, len(body))
		due := start.Add(d.delay + time.Duration(float64(stream)*float64(end)/float64(len(body))))
		time.Sleep(time.Until(due))
		_, _ = w.Write(body[off:end])
		if end == len(body) {
			_, _ = w.Write(suffix)
		}
		if fl != nil {
			fl.Flush()
		}
	}
	t.sent(readAt)
}

// paceChunk is how much of a paced page is written at a time.
const paceChunk = 64 << 10

// start starts handler on a free port of 127.0.0.1, over TLS when useTLS.
// httptest's TLS servers all use one certificate, so one CA bundle trusts
// every fake.
func start(useTLS bool, handler http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(handler)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	return srv
}
