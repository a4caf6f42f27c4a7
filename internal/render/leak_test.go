package render

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFailedParsesLeaveNothing renders many templates that fail to parse early, in one warm
// process, and checks that neither goroutines nor the heap grow with their number (issue 13
// item 3: raymond's parser left its lexer goroutine blocked, holding the template).
func TestFailedParsesLeaveNothing(t *testing.T) {
	const runs = 20
	// A syntax error at the start of a template near the size limit: the lexer has almost all
	// of it still to scan when the parser stops (text and a few mustaches, so that draining
	// stays cheap under the race detector).
	body := strings.Repeat("{{a}} "+strings.Repeat("x", 4090), maxTemplateBytes/4096-1)
	r := New(Options{})
	before := runtime.NumGoroutine()
	settle := func() (goroutines int, heap uint64) {
		var ms runtime.MemStats
		for range 50 { // lexer goroutines end just after their last send
			runtime.GC()
			if goroutines = runtime.NumGoroutine(); goroutines <= before {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		runtime.ReadMemStats(&ms)
		return goroutines, ms.HeapAlloc
	}
	_, heapBefore := settle()
	for i := range runs {
		tmpl := "{{/" + strconv.Itoa(i) + "}}" + body // a fresh string each time, as each event is
		_, err := r.Value(context.Background(), "destination.key", tmpl, map[string]any{"a": "x"})
		var re *Error
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "syntax error") {
			t.Fatalf("Value error = %v, want a syntax error", err)
		}
	}
	goroutines, heapAfter := settle()
	if goroutines > before {
		t.Errorf("%d goroutines after %d failed parses, %d before", goroutines, runs, before)
	}
	// Leaking, each run would keep its template (64 KiB): 1.25 MiB in all.
	if grew := int64(heapAfter) - int64(heapBefore); grew > 512<<10 {
		t.Errorf("heap grew by %d bytes over %d failed parses, want it bounded", grew, runs)
	}
}

// TestTemplateSizeLimit checks that a template over maxTemplateBytes is an error naming the
// field, and that a long literal string (no `{{`) is not limited.
func TestTemplateSizeLimit(t *testing.T) {
	long := strings.Repeat("x", maxTemplateBytes)
	r := New(Options{})
	_, err := r.Value(context.Background(), "query.filterExpression", long+"{{a}}", map[string]any{"a": "y"})
	var re *Error
	if !errors.As(err, &re) || re.Field != "query.filterExpression" || !strings.Contains(re.Msg, "at most 65536 bytes may hold {{...}}") {
		t.Errorf("error = %v, want one for query.filterExpression about the size limit", err)
	}
	if got, err := r.Value(context.Background(), "f", long+long, nil); err != nil || got != long+long {
		t.Errorf("long literal: %v", err)
	}
	if got, err := r.Value(context.Background(), "f", long[:maxTemplateBytes-5]+"{{a}}", map[string]any{"a": "y"}); err != nil || got != long[:maxTemplateBytes-5]+"y" {
		t.Errorf("template at the limit: %v", err)
	}
}
