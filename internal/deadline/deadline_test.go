package deadline

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMargin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		left     time.Duration // 0: no deadline
		override time.Duration
		want     time.Duration
	}{
		{"no deadline", 0, 0, MinMargin},
		{"15 minutes: 5%", 15 * time.Minute, 0, 45 * time.Second},
		{"1 minute: the minimum", time.Minute, 0, MinMargin},
		{"4 seconds: at most half", 4 * time.Second, 0, 2 * time.Second},
		{"override", 15 * time.Minute, 7 * time.Second, 7 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
			ctx := context.Background()
			if tc.left > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.t.Add(tc.left))
				defer cancel()
			}
			if got := New(ctx, Options{Margin: tc.override, Now: clk.now}).Margin(); got != tc.want {
				t.Errorf("Margin() = %v, want %v", got, tc.want)
			}
		})
	}
}

// The cleanup budget starts when the cleanup starts: a failure at minute
// ten gets the whole budget, and cleanup still ends a quarter margin before
// the deadline.
func TestCleanupByStartsAtTheFailure(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: start}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(15*time.Minute))
	defer cancel()
	p := New(ctx, Options{Now: clk.now}) // margin 45s
	for _, tc := range []struct {
		at, want time.Duration // since start
	}{
		{time.Second, time.Second + DefaultCleanupBudget},
		{10 * time.Minute, 10*time.Minute + DefaultCleanupBudget},
		{14*time.Minute + 40*time.Second, 15*time.Minute - 45*time.Second/4},
	} {
		clk.t = start.Add(tc.at)
		if got := p.CleanupBy().Sub(start); got != tc.want {
			t.Errorf("failure at %v: CleanupBy() = start+%v, want start+%v", tc.at, got, tc.want)
		}
	}

	// Without a deadline (the CLI), the budget alone bounds it, from the failure on.
	clk.t = start
	p = New(context.Background(), Options{Now: clk.now, CleanupBudget: time.Minute})
	clk.t = start.Add(2 * time.Hour)
	if got, want := p.CleanupBy(), clk.t.Add(time.Minute); !got.Equal(want) {
		t.Errorf("no deadline, failure after 2h: CleanupBy() = %v, want %v", got, want)
	}
}

// Cleanup's context outlives the invocation's cancellation and keeps its values.
func TestCleanupIsDetached(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	p := New(ctx, Options{CleanupBudget: time.Hour})
	cancel()
	cctx, ccancel := p.Cleanup(ctx)
	defer ccancel()
	if cctx.Err() != nil {
		t.Fatalf("cleanup context ended with its parent: %v", cctx.Err())
	}
	if cctx.Value(key{}) != "v" {
		t.Error("cleanup context lost its parent's values")
	}
	if dl, ok := cctx.Deadline(); !ok || time.Until(dl) < 59*time.Minute {
		t.Errorf("cleanup deadline %v, want about an hour from now", dl)
	}
}

// Work and Finish end at the margin and half the margin, with cause ErrDeadline.
func TestWorkAndFinish(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := New(ctx, Options{Margin: 4 * time.Second})
	dl, _ := ctx.Deadline()
	w, wcancel := p.Work(ctx)
	defer wcancel()
	f, fcancel := p.Finish(ctx)
	defer fcancel()
	if got, _ := w.Deadline(); !got.Equal(dl.Add(-4 * time.Second)) {
		t.Errorf("Work deadline %v, want %v", got, dl.Add(-4*time.Second))
	}
	if got, _ := f.Deadline(); !got.Equal(dl.Add(-2 * time.Second)) {
		t.Errorf("Finish deadline %v, want %v", got, dl.Add(-2*time.Second))
	}

	short, scancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer scancel()
	sw, swcancel := New(short, Options{Margin: 40 * time.Millisecond}).Work(short)
	defer swcancel()
	<-sw.Done()
	if !errors.Is(context.Cause(sw), ErrDeadline) {
		t.Errorf("Work ended with cause %v, want ErrDeadline", context.Cause(sw))
	}
	if short.Err() != nil {
		t.Error("Work ended after the invocation's deadline")
	}
}
