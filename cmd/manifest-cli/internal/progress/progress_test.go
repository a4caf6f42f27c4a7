package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFormatBar(t *testing.T) {
	tests := []struct {
		name    string
		s       Stats
		elapsed time.Duration
		total   int64
		frame   int
		final   bool
		want    string
	}{
		{"start", Stats{}, 0, 0, 0, false, "⠋ 0 items  0.0 MB  0.0 MB/s  0 items/s  0:00"},
		{"running spins", Stats{Items: 12345, Bytes: 18_200_000, Pages: 12}, 5 * time.Second, 0, 3, false,
			"⠸ 12,345 items  18.2 MB  3.6 MB/s  2,469 items/s  0:05"},
		{"final ticks", Stats{Items: 1_000_000, Bytes: 2_500_000_000, Pages: 2500}, 3*time.Minute + 20*time.Second, 0, 7, true,
			"✓ 1,000,000 items  2500.0 MB  12.5 MB/s  5,000 items/s  3:20"},
		{"known total", Stats{Items: 450, Bytes: 45_000, Pages: 1}, time.Second, 1000, 0, false,
			"[████░░░░░░]  45% 450 items  0.0 MB  0.0 MB/s  450 items/s  0:01"},
		{"widest", Stats{Items: 9_999_999, Bytes: 99_999_000_000}, 9*time.Hour + 59*time.Minute, 10_000_000, 0, false,
			"[█████████░]  99% 9,999,999 items  99999.0 MB  2.8 MB/s  278 items/s  9:59:00"},
		{"one item", Stats{Items: 1, Bytes: 20, Pages: 1}, time.Second, 0, 0, true,
			"✓ 1 item  0.0 MB  0.0 MB/s  1 items/s  0:01"},
		{"total overshoot capped", Stats{Items: 2000}, time.Hour + 2*time.Second, 1000, 0, true,
			"[██████████] 100% 2,000 items  0.0 MB  0.0 MB/s  0 items/s  1:00:02"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatBar(tc.s, tc.elapsed, tc.total, tc.frame, tc.final)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FormatBar (-want +got):\n%s", diff)
			}
			if n := len([]rune(got)); n > 80 {
				t.Errorf("bar is %d columns, want 80 at most", n)
			}
		})
	}
}

func TestFormatLine(t *testing.T) {
	tests := []struct {
		name    string
		s       Stats
		elapsed time.Duration
		want    string
	}{
		{"zero elapsed", Stats{}, 0, "0 items, 0.0 MB, 0 pages, 0s elapsed, 0.0 MB/s, 0 items/s"},
		{"running", Stats{Items: 12345, Bytes: 18_200_000, Pages: 12}, 5200 * time.Millisecond,
			"12345 items, 18.2 MB, 12 pages, 5s elapsed, 3.5 MB/s, 2374 items/s"},
		{"one item, one page", Stats{Items: 1, Bytes: 20, Pages: 1}, time.Second, "1 item, 0.0 MB, 1 page, 1s elapsed, 0.0 MB/s, 1 items/s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, FormatLine(tc.s, tc.elapsed)); diff != "" {
				t.Errorf("FormatLine (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCountAndClock(t *testing.T) {
	counts := map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"}
	for n, want := range counts {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
	clocks := map[time.Duration]string{0: "0:00", 59499 * time.Millisecond: "0:59", 61 * time.Second: "1:01", 3725 * time.Second: "1:02:05"}
	for d, want := range clocks {
		if got := Clock(d); got != want {
			t.Errorf("Clock(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		tty     bool
		want    Mode
		wantErr bool
	}{
		{"auto", true, Bar, false},
		{"", false, Lines, false},
		{"bar", false, Bar, false},
		{"lines", true, Lines, false},
		{"none", true, Off, false},
		{"fancy", true, Off, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMode(tc.in, tc.tty)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseMode(%q, %v) = %v, %v; want %v, error %v", tc.in, tc.tty, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the Reporter's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock advances one second per reading.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func TestReporter(t *testing.T) {
	tests := []struct {
		name  string
		mode  Mode
		ok    bool
		check func(t *testing.T, out string)
	}{
		{"lines", Lines, true, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "done: 10 items, 0.0 MB, 2 pages") {
				t.Errorf("last line = %q, want the final totals", last)
			}
			if strings.Contains(out, "\r") || strings.Contains(out, "\x1b") {
				t.Errorf("plain lines hold terminal escapes: %q", out)
			}
		}},
		{"bar ok ends the line", Bar, true, func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "\r") || !strings.HasSuffix(out, "\x1b[K\n") || !strings.Contains(out, "✓ 10 items") {
				t.Errorf("bar output = %q, want redraws ending in the final bar and a newline", out)
			}
		}},
		{"bar failed clears the line", Bar, false, func(t *testing.T, out string) {
			if !strings.HasSuffix(out, "\r\x1b[K") {
				t.Errorf("bar output = %q, want it to end by clearing the line", out)
			}
		}},
		{"off writes nothing", Off, true, func(t *testing.T, out string) {
			if out != "" {
				t.Errorf("output = %q, want nothing", out)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncBuffer
			r := Start(&buf, Options{Mode: tc.mode, Interval: time.Millisecond, Now: fakeClock()})
			r.Update(Stats{Items: 5, Bytes: 500, Pages: 1})
			time.Sleep(5 * time.Millisecond)
			r.Update(Stats{Items: 10, Bytes: 1000, Pages: 2})
			r.Stop(tc.ok)
			r.Stop(tc.ok) // a second Stop is harmless
			out := buf.String()
			r.Update(Stats{Items: 99}) // after Stop: nothing more is drawn
			time.Sleep(3 * time.Millisecond)
			if buf.String() != out {
				t.Errorf("Reporter wrote after Stop")
			}
			tc.check(t, out)
		})
	}
}

func TestReadersShown(t *testing.T) {
	s := Stats{Items: 10, Bytes: 1000, Pages: 2, Readers: 4}
	if got := FormatLine(s, time.Second); !strings.HasSuffix(got, ", 4 readers") {
		t.Errorf("line %q does not end with the readers", got)
	}
	if got := FormatBar(s, time.Second, 0, 0, false); !strings.HasSuffix(got, "  4 readers") {
		t.Errorf("bar %q does not end with the readers", got)
	}
	s.Readers = 1
	if got := FormatLine(s, time.Second); strings.Contains(got, "reader") {
		t.Errorf("one reader shown: %q", got)
	}
}
