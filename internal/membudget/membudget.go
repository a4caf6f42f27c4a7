// Package membudget bounds the Go heap of an export by what its buffers
// need, so that peak memory does not grow with the length of the run.
//
// An export's live heap is almost all large, reused buffers: the upload
// manager's parts, the page buffers and the encoder's line buffer. Its
// garbage is small (per-request SDK objects, the manager's first part once
// sent) but steady, and with GOGC=100
// the collector lets it grow to the size of the live heap before it runs:
// about 16 MiB more at the defaults, reached only on long runs. While an
// export runs, Apply sets the runtime's soft memory limit to the memory in
// use when it started, plus what the export's buffers need (Need), plus
// Headroom for garbage: the collector then runs when that is reached, and a
// run of a million items peaks where a run of ten thousand does. If the
// estimate is short, the limit follows the live heap after each collection
// (an eighth more for fragmentation and an eighth for garbage, as GOGC=25
// would), so the collector never runs flat out.
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
// collector runs. When the live heap outgrows the estimate the headroom is
// an eighth of it, if that is more, so that a collection's cost (which
// grows with the live heap) stays small next to the work between two.
const Headroom = 2 << 20

// Settings are what an export's buffers depend on.
type Settings struct {
	PartSize    int64 // bytes per uploaded part
	Concurrency int   // parts uploading at once
	Prefetch    int   // pages fetched ahead of the encoder
	// Offloads is how many offloaded items may upload at once; 0 when
	// offloading is off.
	Offloads int
}

// Per-buffer sizes of the estimate. A Query page holds at most 1 MB of
// items; its JSON, with type descriptors, a little more.
const (
	pageBytes    = 3 << 19 // a raw page buffer: 1.5 MiB
	encoderBytes = 3 << 19 // one page's lines and the write buffer
	offloadBytes = 1 << 20 // an offloaded item (at most 400 KB) as a line
)

// Need is the memory an export with s needs for its buffers: the upload
// manager's pooled parts (Concurrency+1 of them; at least two, since it
// reads the first part by growing one buffer), the page buffers (one being
// read, Prefetch waiting, one being encoded), the encoder's buffers and
// the offloads in flight.
func Need(s Settings) int64 {
	parts := int64(max(2, s.Concurrency+1)) * s.PartSize
	pages := int64(s.Prefetch+2) * pageBytes
	return parts + pages + encoderBytes + int64(s.Offloads)*offloadBytes
}

var (
	mu     sync.Mutex
	active []*budget // the budgets of the exports running
	before int64     // the limit before the first of them
	armed  bool      // a sentinel's finalizer will run after the next collection
	// afterGC counts the finalizer's runs (for the tests).
	afterGC int
)

// budget is one export's: the limit never goes below floor while it runs.
type budget struct{ floor int64 }

// Apply sets the soft memory limit to the memory in use now plus need plus
// Headroom, never above the limit already set, and returns a function that
// restores the limit once the export is done. After each collection the
// limit is raised if the live heap outgrew the estimate (a page far larger
// than 1 MB, a large rendering context), to what it holds plus headroom,
// so that a short estimate costs one early collection, not a collector
// running flat out. Budgets of exports that overlap (tests, not Lambda)
// add up; the limit goes back when the last one ends. With GOMEMLIMIT set
// it does nothing.
func Apply(need int64) (release func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(active) == 0 {
		before = debug.SetMemoryLimit(-1)
	}
	b := &budget{floor: InUse() + need + Headroom}
	if len(active) > 0 {
		// The others' buffers are in use already, and in their floors.
		b.floor = active[len(active)-1].floor + need + Headroom
	}
	active = append(active, b)
	armLocked()
	setLocked()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			for i, a := range active {
				if a == b {
					active = append(active[:i], active[i+1:]...)
					break
				}
			}
			if len(active) == 0 {
				debug.SetMemoryLimit(before)
				return
			}
			setLocked()
		})
	}
}

// setLocked sets the limit for the active budgets: the largest floor, or
// what the live heap needs if that is more, capped by the limit before.
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
// starts before the last one's sentinel was collected reuses it.
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
