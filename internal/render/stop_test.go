package render

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// errTestDeadline stands for the cause the step gives its rendering context at the deadline
// margin (export.ErrDeadline).
var errTestDeadline = errors.New("stopped before the invocation's deadline")

// countdownCtx is a context that is done after its Err has been asked n times: a deadline that
// arrives in the middle of an evaluation, without timing.
type countdownCtx struct {
	context.Context
	n atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.n.Add(-1) < 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// heavyTemplate iterates items three times over (n³ block bodies) and renders almost nothing,
// so only the deadline can stop it, not the output limit.
const heavyTemplate = "x{{#each items}}{{#each @root.items}}{{#each @root.items}}{{#if @last}}{{/if}}{{/each}}{{/each}}{{/each}}"

func heavyData(n int) map[string]any {
	items := make([]any, n)
	for i := range items {
		items[i] = map[string]any{"i": "v"}
	}
	return map[string]any{"items": items, "s": "hello"}
}

// TestValueStopsWhenContextEnds checks that evaluation looks at ctx in its loops (#each, nested
// blocks, JSONPath) and stops with an *Error wrapping context.Cause(ctx).
func TestValueStopsWhenContextEnds(t *testing.T) {
	data := heavyData(100) // 10^6 block bodies: seconds without the check
	tests := []struct {
		name string
		tmpl string
	}{
		{"nested each", heavyTemplate},
		{"each over an object's entries", "{{#each items}}{{#each @root}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}"},
		{"section blocks", "{{#items}}{{#@root.items}}{{#@root.items}}{{/@root.items}}{{/@root.items}}{{/items}}"},
		{"recursive JSONPath", "{{#with_json_path \"$..*..*..*\" as |v|}}{{/with_json_path}}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errTestDeadline)
			got, err := New(Options{}).Value(ctx, "destination.key", tc.tmpl, data)
			if err == nil {
				t.Fatalf("Value = %.40q, want an error: the context was done before it started", got)
			}
			var re *Error
			if !errors.As(err, &re) || re.Field != "destination.key" || re.Msg != "template evaluation stopped" {
				t.Errorf("error = %#v, want an *Error for destination.key saying evaluation stopped", err)
			}
			if !errors.Is(err, errTestDeadline) {
				t.Errorf("error %v does not wrap the context's cause", err)
			}
		})
	}
}

// TestValueStopsMidway ends the context after a few looks at it, as a deadline arriving during
// the evaluation would.
func TestValueStopsMidway(t *testing.T) {
	ctx := &countdownCtx{Context: context.Background()}
	ctx.n.Store(20)
	_, err := New(Options{}).Value(ctx, "f", heavyTemplate, heavyData(100)) // 10^6 bodies
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if left := ctx.n.Load(); left > 0 {
		t.Errorf("stopped with %d looks at ctx left, want it stopped by ctx", left)
	}
}

// TestConfigStopsWhenContextEnds checks that Config reports one stopped field and skips the
// rest, rather than one error per field.
func TestConfigStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errTestDeadline)
	cfg := map[string]any{"a": heavyTemplate, "b": "{{s}}", "c": []any{"$.s", "{{s}}-{{s}}"}, "d": "plain"}
	_, err := New(Options{}).Config(ctx, cfg, heavyData(10))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Config error = %v, want Errors", err)
	}
	want := "a: template evaluation stopped: " + errTestDeadline.Error()
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
	if !errors.Is(err, errTestDeadline) {
		t.Errorf("error %v does not wrap the context's cause", err)
	}
}

// TestValueUnaffectedByLiveContext checks the heavy template still renders when ctx is live.
func TestValueUnaffectedByLiveContext(t *testing.T) {
	got, err := New(Options{}).Value(context.Background(), "f", heavyTemplate, heavyData(20))
	if err != nil || !strings.HasPrefix(got.(string), "x") {
		t.Fatalf("Value = %q, %v", got, err)
	}
}
