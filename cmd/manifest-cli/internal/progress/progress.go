// Package progress shows a running export's progress on a terminal: a
// one-line bar redrawn in place when the output is a TTY, and plain lines
// every few seconds otherwise (a log file, CI). It knows nothing of AWS; the
// caller feeds it Stats.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Defaults.
const (
	// BarInterval is how often the bar is redrawn: at most 10 times a second.
	BarInterval = 100 * time.Millisecond
	// LineInterval is how often a plain progress line is written.
	LineInterval = 5 * time.Second
	// barWidth is the number of cells of the bar when the total is known.
	barWidth = 10
)

// Mode says how progress is shown.
type Mode int

const (
	Off   Mode = iota // nothing
	Bar               // one line, redrawn in place (a TTY)
	Lines             // a plain line every LineInterval
)

// ParseMode reads "bar", "lines" or "none"; "auto" (or "") picks Bar on a
// TTY and Lines otherwise.
func ParseMode(s string, tty bool) (Mode, error) {
	switch s {
	case "", "auto":
		if tty {
			return Bar, nil
		}
		return Lines, nil
	case "bar":
		return Bar, nil
	case "lines":
		return Lines, nil
	case "none", "off":
		return Off, nil
	}
	return Off, fmt.Errorf("progress mode %q: expected auto, bar, lines or none", s)
}

// Stats are an export's running totals.
type Stats struct {
	Items   int64 // items written
	Bytes   int64 // bytes written
	Pages   int   // Query pages read
	Readers int   // range readers reading now; 0 or 1: not shown
}

// Options tunes a Reporter. The zero value shows nothing.
type Options struct {
	Mode     Mode
	Interval time.Duration // default BarInterval or LineInterval
	// Total is the number of items expected (query.limit), or 0 when
	// unknown; a known total draws a filled bar and a percentage.
	Total int64
	Now   func() time.Time // default time.Now; for tests
}

// Reporter draws progress on a writer from its own goroutine. Update may be
// called from any goroutine and returns at once; the caller must call Stop
// exactly once, after which nothing more is written.
type Reporter struct {
	w     io.Writer
	opts  Options
	start time.Time

	mu      sync.Mutex
	cur     Stats
	frame   int
	stopped bool

	quit chan struct{}
	done chan struct{}
}

// Start starts a Reporter writing to w.
func Start(w io.Writer, opts Options) *Reporter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = LineInterval
		if opts.Mode == Bar {
			opts.Interval = BarInterval
		}
	}
	r := &Reporter{w: w, opts: opts, start: opts.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	if opts.Mode == Off {
		close(r.done)
		return r
	}
	go r.loop()
	return r
}

// Update records the latest totals; they are drawn on the next tick.
func (r *Reporter) Update(s Stats) {
	r.mu.Lock()
	r.cur = s
	r.mu.Unlock()
}

// Stats returns the latest totals given to Update.
func (r *Reporter) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Stop draws the final totals (the bar then ends its line) and stops the
// Reporter. With ok false the bar line is cleared instead, so an error
// message can take its place.
func (r *Reporter) Stop(ok bool) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	if r.opts.Mode == Off {
		return
	}
	close(r.quit)
	<-r.done
	switch {
	case r.opts.Mode == Bar && ok:
		r.draw(true)
		fmt.Fprint(r.w, "\n")
	case r.opts.Mode == Bar:
		fmt.Fprint(r.w, "\r\x1b[K")
	case ok:
		r.draw(true)
	}
}

func (r *Reporter) loop() {
	defer close(r.done)
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			r.draw(false)
		}
	}
}

// draw writes the current totals once: the bar redrawn in place, or a line.
func (r *Reporter) draw(final bool) {
	r.mu.Lock()
	s, frame := r.cur, r.frame
	r.frame++
	r.mu.Unlock()
	elapsed := r.opts.Now().Sub(r.start)
	if r.opts.Mode == Bar {
		fmt.Fprint(r.w, "\r"+FormatBar(s, elapsed, r.opts.Total, frame, final)+"\x1b[K")
		return
	}
	prefix := "progress"
	if final {
		prefix = "done"
	}
	fmt.Fprintln(r.w, prefix+": "+FormatLine(s, elapsed))
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// FormatBar renders one bar line: a spinner (or a filled bar and percentage
// when total is known), then items, MB, MB/s, items/s and elapsed time. It
// fits in 80 columns for up to ten million items and 100 GB.
func FormatBar(s Stats, elapsed time.Duration, total int64, frame int, final bool) string {
	var b strings.Builder
	switch {
	case total > 0:
		frac := min(float64(s.Items)/float64(total), 1)
		filled := int(frac * barWidth)
		b.WriteString("[" + strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled) + "]")
		fmt.Fprintf(&b, " %3d%%", int(frac*100))
	case final:
		b.WriteString("✓")
	default:
		b.WriteString(spinner[frame%len(spinner)])
	}
	fmt.Fprintf(&b, " %s %s  %s  %s  %s items/s  %s",
		Count(s.Items), plural(s.Items, "item"), MB(s.Bytes), MBps(s.Bytes, elapsed), Count(int64(perSecond(float64(s.Items), elapsed))), Clock(elapsed))
	if s.Readers > 1 {
		fmt.Fprintf(&b, "  %d readers", s.Readers)
	}
	return b.String()
}

// FormatLine renders one plain progress line, for logs: no escapes, no
// thousands separators, so that it greps and parses easily.
func FormatLine(s Stats, elapsed time.Duration) string {
	line := fmt.Sprintf("%d %s, %s, %d %s, %s elapsed, %s, %.0f items/s",
		s.Items, plural(s.Items, "item"), MB(s.Bytes), s.Pages, plural(int64(s.Pages), "page"), elapsed.Round(time.Second), MBps(s.Bytes, elapsed), perSecond(float64(s.Items), elapsed))
	if s.Readers > 1 {
		line += fmt.Sprintf(", %d readers", s.Readers)
	}
	return line
}

// plural returns word for a count of one, else word+"s".
func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// MB formats a byte count in decimal megabytes, as the logs' MBps do.
func MB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// MBps formats a transfer rate.
func MBps(n int64, elapsed time.Duration) string {
	return fmt.Sprintf("%.1f MB/s", perSecond(float64(n), elapsed)/1e6)
}

func perSecond(n float64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return n / elapsed.Seconds()
}

// Count formats n with thousands separators: 1234567 is "1,234,567".
func Count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Clock formats a duration as m:ss, or h:mm:ss from an hour.
func Clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
