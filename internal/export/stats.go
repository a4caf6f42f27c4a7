package export

import (
	"context"
	"encoding/json"

	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// Stats is what one call of Run did: for a resumable export, this
// invocation's share, not the totals of the invocations before it (those
// are in Result and Error). Run fills Options.Stats when it returns, after
// a success, a continuation or a failure (then with the figures so far:
// lines written to an upload that was then aborted count).
type Stats struct {
	Items     int64 // lines written to the manifest's upload
	Bytes     int64 // their bytes
	Pages     int   // Query pages read and written
	Offloaded int64 // items written to objects of their own
	// Readers is the most Query readers that ran at once: 1 once the
	// query started (0 when it did not, or an earlier invocation had read
	// it to its end).
	Readers int
	// QueryRetries counts the Query attempts that repeated a request (the
	// SDK's retries); Throttles the attempts DynamoDB answered with a
	// throttling error (query.Attempts).
	QueryRetries, Throttles int64
}

// countStats returns ctx carrying a count of the Query's attempts, and the
// function that fills *st from the pipeline and that count when Run
// returns (nothing when st is nil).
func countStats(ctx context.Context, st *Stats) (context.Context, func(*pipeline)) {
	if st == nil {
		return ctx, func(*pipeline) {}
	}
	var att query.Attempts
	return query.WithAttempts(ctx, &att), func(p *pipeline) {
		*st = p.stats()
		st.QueryRetries, st.Throttles = att.Retries(), att.Throttles()
	}
}

// stats is what the pipeline did in this invocation: its counts less
// those its continuation started from.
func (p *pipeline) stats() Stats {
	s := Stats{Items: p.st.items, Pages: p.st.pages - p.pagesBefore, Offloaded: p.st.offloaded}
	if p.w != nil {
		s.Bytes = p.w.Size()
		if p.bw != nil {
			s.Bytes += int64(p.bw.Buffered())
		}
	}
	if from := p.opts.From; from != nil {
		s.Items -= from.Items
		s.Offloaded -= from.Offloaded
		var st upload.State
		if p.w != nil && json.Unmarshal(from.Upload, &st) == nil {
			s.Bytes -= st.Size
		}
	}
	if p.started && !p.queryDone {
		s.Readers = 1
	}
	if rs := p.par.Load(); rs != nil { // the segments not yet appended
		s.Items += rs.items.Load()
		s.Bytes += rs.bytes.Load() - rs.restoredBytes
		s.Pages = int(rs.pages.Load())
		s.Readers = rs.peakReaders()
	}
	s.Items, s.Pages, s.Offloaded, s.Bytes = max(s.Items, 0), max(s.Pages, 0), max(s.Offloaded, 0), max(s.Bytes, 0)
	return s
}
