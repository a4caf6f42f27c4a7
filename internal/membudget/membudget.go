// Package membudget keeps the Go heap of a long export near what it holds
// live, so that peak memory does not grow with the length of the run.
//
// An export's live heap is almost all large, reused buffers: the writer's
// parts, the page buffers and the encoder's line buffer. Its
// garbage is small (per-request SDK objects) but steady, and with GOGC=100
// the collector lets it grow to the size of the live heap before it runs:
// about 16 MiB more at the defaults, reached only on long runs. Once an
// export is past its first part, Budget.Engage sets the runtime's soft
// memory limit to what the process holds then plus Headroom: the collector
// then runs when garbage reaches about Headroom (the runtime keeps a little
// of it for itself), and a run of a million items peaks where a run of ten
// thousand does. After each collection the limit follows the live heap if
// that grows (an eighth more for fragmentation and the larger of Headroom
// and an eighth for garbage, as GOGC=25 would).
//
// Engaging only after the first part: by then the writer has allocated its
// part buffers, so the limit is measured on the export's steady state;
// before, a limit near a heap still growing makes the runtime collect often
// (docs/performance.md has the figures with and without the budget). Before it,
// Begin holds an export to what the last one measured when it engaged
// (Lambda reuses the process), which costs nothing since the runtime holds
// that much already; an export of one part in a fresh process runs under
// the collector's own pacing.
//
// A process whose GOMEMLIMIT is set is left alone: its limit is the
// operator's. SetProcessLimit gives a Lambda function without one a limit
// below its memory size.
package membudget

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
)

// Headroom is the least garbage an export may accumulate before the
// collector runs. When the live heap grows past what Engage measured, the
// headroom is an eighth of it if that is more, so that a collection's cost
// (which grows with the live heap) stays small next to the work between
// two.
const Headroom = 2 << 20

var (
	mu     sync.Mutex
	active []*budget // the budgets of the exports running
	before int64     // the limit before the first of them
	armed  bool      // a sentinel's finalizer will run after the next collection
	last   int64     // what the last engaged export measured when it engaged (Budget.measured)
	// afterGC counts the finalizer's runs (for the tests).
	afterGC int
)

// budget is one export's: the limit never goes below floor while it runs
// (math.MaxInt64: no limit).
type budget struct{ floor int64 }

// Budget is one export's. Begin it before the export allocates anything,
// Engage it once the export is past its first part, End it when the export
// returns, all from one goroutine (a Budget is not safe for concurrent
// use). A nil Budget (GOMEMLIMIT set) does nothing.
type Budget struct {
	b        *budget
	engaged  bool
	measured int64 // what Engage measured: held after a collection, plus Headroom
	ended    bool  // under mu
	once     sync.Once
}

// Begin starts an export's budget. Until Engage, the limit is what the last
// engaged export measured when it engaged (its steady state plus
// Headroom), if any: the buffers of that export die when it returns and
// nothing collects them between invocations, so without it this export's
// first part, under the collector's own pacing, would run the heap up to
// twice the last export's live heap. The runtime already holds that much,
// so it returns nothing to the OS. In a fresh process there is no limit
// until Engage.
func Begin() *Budget {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	if len(active) == 0 {
		before = debug.SetMemoryLimit(-1)
	}
	b := &budget{floor: math.MaxInt64} // no limit of its own yet
	if last > 0 {
		b.floor = last
	}
	active = append(active, b)
	armLocked()
	setLocked()
	return &Budget{b: b}
}

// Engage sets the soft memory limit to what the process holds, measured
// after a collection and without the heap's free pages, plus Headroom,
// never above the limit set before Begin. Call it when the export's
// buffers are all allocated or being allocated for the last time (after
// the first part); later calls do nothing. It returns the
// limit it set, and whether it set one.
//
// In a Lambda process that served an invocation before, the heap's free
// pages are those the last export used: the limit is at least what the
// runtime holds, up to what that export measured when it engaged, so that
// they are reused rather than returned to the OS and faulted in again (and
// not past it, or what one export overshot its soft limit by would raise
// the next one's). Budgets of exports that overlap (tests, not Lambda) take the
// highest floor, and one not yet engaged lifts the limit.
func (x *Budget) Engage() (limit int64, ok bool) {
	if x == nil || x.engaged {
		return 0, false
	}
	x.engaged = true
	runtime.GC() // a millisecond or two: the live heap is mostly byte buffers
	mu.Lock()
	defer mu.Unlock()
	if x.ended {
		return 0, false
	}
	x.measured = Held() + Headroom
	x.b.floor = engageFloor(x.measured, InUse(), last, len(active) == 1)
	setLocked()
	return debug.SetMemoryLimit(-1), true
}

// engageFloor is an engaging export's floor: what it measured, or, alone
// in a process that ran an export before, what the runtime holds up to
// what that export measured (its free pages kept, not returned).
func engageFloor(measured, inUse, last int64, alone bool) int64 {
	if !alone {
		return measured
	}
	return max(measured, min(inUse, last))
}

// End ends the budget; the limit goes back to what it was before Begin
// when no other export's budget is active. It may be called more than once.
func (x *Budget) End() {
	if x == nil {
		return
	}
	x.once.Do(func() {
		mu.Lock()
		defer mu.Unlock()
		x.ended = true
		for i, a := range active {
			if a == x.b {
				active = append(active[:i], active[i+1:]...)
				break
			}
		}
		if x.measured > 0 {
			// What Engage measured, not the limit now: after-collection
			// raises follow the live heap of the moment (garbage allocated
			// while marking counts as live), and carrying one into the
			// next export would hold it to a spike.
			last = x.measured
		}
		if len(active) == 0 {
			debug.SetMemoryLimit(before)
			return
		}
		setLocked()
	})
}

// setLocked sets the limit for the active budgets: the highest floor, or
// what the live heap needs if that is more, capped by the limit before
// Begin.
func setLocked() {
	var floor int64
	for _, a := range active {
		floor = max(floor, a.floor)
	}
	debug.SetMemoryLimit(min(max(floor, needed()), before))
}

// armLocked has setLocked run after the next collection, and again after
// each one while a budget is active: a finalizer runs once the collector
// has found its object unreachable. One sentinel at a time: an export that
// engages before the last one's sentinel was collected reuses it.
func armLocked() {
	if armed {
		return
	}
	armed = true
	s := &sentinel{}
	runtime.SetFinalizer(s, func(*sentinel) {
		mu.Lock()
		defer mu.Unlock()
		afterGC++
		armed = false
		if len(active) == 0 {
			return
		}
		setLocked()
		armLocked()
	})
}

// sentinel has a pointer so that it is not a tiny allocation, whose
// finalizer could wait for its neighbours.
type sentinel struct{ _ *byte }

var samples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/gc/heap/live:bytes"},
}

func read() []metrics.Sample {
	s := make([]metrics.Sample, len(samples))
	copy(s, samples)
	metrics.Read(s)
	return s
}

// InUse is the memory the Go runtime holds from the OS, what the soft
// memory limit counts.
func InUse() int64 {
	s := read()
	return int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
}

// Held is InUse without the heap's free pages (held from the OS but holding
// no object): right after a collection, what the process needs.
func Held() int64 {
	s := read()
	return int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64()) - int64(s[4].Value.Uint64())
}

// needed is what the runtime needs to hold the live heap of the last
// collection with headroom: its memory outside the heap (stacks, metadata),
// the live heap and an eighth of it more (fragmentation), and the larger
// of Headroom and an eighth of the live heap for garbage.
func needed() int64 {
	s := read()
	total, released, objects, unused, free, live := int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64()),
		int64(s[2].Value.Uint64()), int64(s[3].Value.Uint64()), int64(s[4].Value.Uint64()), int64(s[5].Value.Uint64())
	other := total - released - objects - unused - free
	return other + live + live/8 + max(Headroom, live/8)
}

// SetProcessLimit gives a Lambda function without GOMEMLIMIT a soft memory
// limit of 90% of its memory size (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in
// MB), so that the collector works harder before the function runs out of
// memory, and returns the limit set (0 if none).
func SetProcessLimit(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 || mb > math.MaxInt64/(1<<20) {
		return 0
	}
	limit := mb << 20 / 10 * 9
	debug.SetMemoryLimit(limit)
	return limit
}
