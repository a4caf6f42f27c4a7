// Package deadline owns the one time policy of an invocation: computed once
// from the invocation's deadline, it says when work stops taking new input
// (rendering, readers), when the upload must have finished, and how long the
// cleanup after a failure may take. Every other package asks it; none
// computes a margin of its own.
//
// The phases, for an invocation whose deadline is D and margin M:
//
//	now ........ D-M        work: render, query, encode, offload
//	D-M ........ D-M/2      finish: complete (or, later, hand back) the upload
//	failure .... min(failure+Budget, D-M/4)   cleanup: abort, delete
//
// Cleanup's budget starts when the failure is noticed, never when the run
// started, so a failure at minute ten cleans up as well as one at second one.
// Without a deadline (the CLI with --timeout 0) there are no work or finish
// limits, and cleanup has its budget from the failure on.
//
// A Policy is immutable and safe for concurrent use.
package deadline

import (
	"context"
	"errors"
	"time"
)

// Defaults.
const (
	// MinMargin and MarginFraction: the default margin is the larger of
	// MinMargin and MarginFraction of the time left when the policy is
	// made, but at most half of that time, so a short timeout still
	// leaves the export time to run.
	MinMargin      = 3 * time.Second
	MarginFraction = 20 // 1/20: 5%
	// DefaultCleanupBudget bounds the cleanup after a failure (aborting the
	// upload, deleting offloaded objects), from the moment it starts.
	DefaultCleanupBudget = 30 * time.Second
)

// ErrDeadline is the cause given when work stops a margin before the
// invocation's deadline.
var ErrDeadline = errors.New("stopped before the invocation's deadline")

// Options tunes a Policy. The zero value uses the defaults.
type Options struct {
	Margin        time.Duration    // 0: the default for the time left
	CleanupBudget time.Duration    // 0: DefaultCleanupBudget
	Now           func() time.Time // the clock; nil: time.Now
}

// Policy is the time policy of one invocation.
type Policy struct {
	start    time.Time
	deadline time.Time // zero: none
	margin   time.Duration
	budget   time.Duration
	now      func() time.Time
}

// New returns the policy for an invocation whose context is ctx.
func New(ctx context.Context, o Options) *Policy {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	p := &Policy{start: now(), margin: o.Margin, budget: o.CleanupBudget, now: now}
	if p.budget <= 0 {
		p.budget = DefaultCleanupBudget
	}
	if dl, ok := ctx.Deadline(); ok {
		p.deadline = dl
	}
	if p.margin <= 0 {
		p.margin = MinMargin
		if !p.deadline.IsZero() {
			left := p.deadline.Sub(p.start)
			p.margin = min(left/2, max(MinMargin, left/MarginFraction))
		}
	}
	return p
}

// Margin is how long before the deadline work stops.
func (p *Policy) Margin() time.Duration { return p.margin }

// Left is the time there was between the policy's start and the deadline,
// for messages ("14m left at start").
func (p *Policy) Left() string {
	if p.deadline.IsZero() {
		return "no deadline"
	}
	return p.deadline.Sub(p.start).Round(time.Millisecond).String()
}

// StopBy is when work stops taking new input: the deadline less the margin.
func (p *Policy) StopBy() (time.Time, bool) { return p.before(p.margin) }

// FinishBy is when the upload must have finished: the deadline less half
// the margin, a backstop for an S3 call that stalls.
func (p *Policy) FinishBy() (time.Time, bool) { return p.before(p.margin / 2) }

func (p *Policy) before(d time.Duration) (time.Time, bool) {
	if p.deadline.IsZero() {
		return time.Time{}, false
	}
	return p.deadline.Add(-d), true
}

// Work returns ctx bounded by StopBy, ending with cause ErrDeadline.
func (p *Policy) Work(ctx context.Context) (context.Context, context.CancelFunc) {
	return p.bound(ctx, p.margin)
}

// Finish returns ctx bounded by FinishBy, ending with cause ErrDeadline.
func (p *Policy) Finish(ctx context.Context) (context.Context, context.CancelFunc) {
	return p.bound(ctx, p.margin/2)
}

func (p *Policy) bound(ctx context.Context, before time.Duration) (context.Context, context.CancelFunc) {
	by, ok := p.before(before)
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadlineCause(ctx, by, ErrDeadline)
}

// CleanupBy is when a cleanup that starts now must end: the cleanup budget
// from now, but no later than a quarter margin before the deadline, so that
// the invocation can still reply.
func (p *Policy) CleanupBy() time.Time {
	by := p.now().Add(p.budget)
	if end, ok := p.before(p.margin / 4); ok && end.Before(by) {
		by = end
	}
	return by
}

// Cleanup returns a context for the cleanup after a failure, starting now:
// it keeps ctx's values but not its cancellation (ctx has usually ended, and
// that is why cleanup runs), and it ends at CleanupBy.
func (p *Policy) Cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.WithoutCancel(ctx), p.CleanupBy())
}
