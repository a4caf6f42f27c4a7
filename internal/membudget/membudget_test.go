package membudget

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var sink [][]byte

// churn allocates n bytes of garbage in 64 KiB pieces, writing each as an
// export writes its buffers (so that the collector's share of the CPU
// stays below the point where the runtime lets the heap pass the limit),
// and returns how many collections ran meanwhile.
func churn(n int) uint64 {
	before := gcCycles()
	for i := 0; i < n; i += 64 << 10 {
		b := make([]byte, 64<<10)
		for j := range b {
			b[j] = byte(j)
		}
		sink = append(sink[:0], b)
	}
	return gcCycles() - before
}

func limit() int64 { return debug.SetMemoryLimit(-1) }

// engage begins and engages a budget, and returns its End.
func engage() func() {
	b := Begin()
	b.Engage()
	return b.End
}

// fresh makes the test start as in a fresh process (no earlier export's
// measure carried over), and end so too.
func fresh(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	reset := func() {
		mu.Lock()
		last = 0
		mu.Unlock()
	}
	reset()
	t.Cleanup(reset)
	runtime.GC()
}

// live allocates n MiB that stay reachable, touched so that they are
// resident.
func live(n int) [][]byte {
	var bufs [][]byte
	for range n {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		bufs = append(bufs, b)
	}
	return bufs
}

// TestEngageFloor: the limit is what the process holds after a collection
// (the export's buffers included) plus Headroom, not counting what an
// earlier export dropped; it goes back on release.
func TestEngageFloor(t *testing.T) {
	fresh(t)
	dropped := live(64) // an earlier export's, dead by Engage
	runtime.KeepAlive(dropped)
	dropped = nil
	bufs := live(16)
	old := limit()
	release := engage()
	runtime.GC()
	if got, want := limit(), Held()+Headroom; got < want-(4<<20) || got > want+(4<<20) {
		t.Errorf("limit %d MiB, want about %d MiB (held %d MiB, in use %d MiB)", got>>20, want>>20, Held()>>20, InUse()>>20)
	}
	runtime.KeepAlive(bufs)
	release()
	release() // a second call is a no-op
	if got := limit(); got != old {
		t.Errorf("limit after release %d, want %d", got, old)
	}
}

// TestEngageBoundsGarbage: with the budget engaged, garbage makes the
// collector run about every Headroom, instead of every live-heap's worth
// (GOGC=100).
func TestEngageBoundsGarbage(t *testing.T) {
	fresh(t)
	bufs := live(32)
	without := churn(128 << 20)
	release := engage()
	with := churn(128 << 20)
	release()
	runtime.KeepAlive(bufs)
	// 128 MiB of garbage over 32 MiB live: ~4 collections with GOGC=100;
	// with the limit at the live heap plus an eighth plus 4 MiB, ~13.
	if with < 2*without || with < 8 {
		t.Errorf("%d collections with the budget, %d without: the budget does not bound garbage", with, without)
	}
}

// TestEngageFollowsTheLiveHeap: when the live heap grows well past what
// Engage measured, the limit follows it after each collection instead of
// holding the collector at the limit.
func TestEngageFollowsTheLiveHeap(t *testing.T) {
	fresh(t)
	release := engage()
	defer release()
	var grown [][]byte
	for range 96 {
		grown = append(grown, live(1)...) // 96 MiB more live
		churn(1 << 20)
	}
	n := churn(256 << 20)
	runtime.KeepAlive(grown)
	if l := limit(); l < 96<<20 {
		t.Errorf("limit %d MiB below the live heap", l>>20)
	}
	// With a 96 MiB live heap the headroom is 12 MiB: ~20 collections.
	if n > 60 {
		t.Errorf("%d collections for 256 MiB of garbage over a 96 MiB live heap; the limit is %d MiB", n, limit()>>20)
	}
}

// TestEngageWarm: exports one after another in one process (a warm
// Lambda), each holding the same buffers, engage at about the same limit:
// it does not climb by the buffers each time (counting the pages the last
// export freed as needed again), nor carry a spike of the last one's.
func TestEngageWarm(t *testing.T) {
	fresh(t)
	var limits []int64
	for range 4 {
		bufs := live(32)
		b := Begin()
		b.Engage()
		limits = append(limits, limit())
		churn(64 << 20)
		runtime.KeepAlive(bufs)
		b.End()
		bufs = nil
		runtime.KeepAlive(bufs)
	}
	for i, l := range limits[1:] {
		if l > limits[0]+8<<20 {
			t.Errorf("export %d engaged at %d MiB, the first at %d MiB: %d %d %d %d MiB", i+2, l>>20, limits[0]>>20,
				limits[0]>>20, limits[1]>>20, limits[2]>>20, limits[3]>>20)
		}
	}
}

// TestEngageFloorKeepsWarmPages: alone in a process whose runtime holds
// the pages an earlier export used, the floor is at least what it holds,
// up to what that export measured, so those pages are reused, not
// returned to the OS; with other exports running it is what it measured.
func TestEngageFloorKeepsWarmPages(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		measured, inUse, last int64
		alone                 bool
		want                  int64
	}{
		{20 * mib, 50 * mib, 60 * mib, true, 50 * mib},  // warm pages kept
		{20 * mib, 50 * mib, 30 * mib, true, 30 * mib},  // not past what the last export measured
		{20 * mib, 50 * mib, 0, true, 20 * mib},         // fresh process
		{40 * mib, 30 * mib, 60 * mib, true, 40 * mib},  // needs more than is held
		{20 * mib, 50 * mib, 60 * mib, false, 20 * mib}, // others running: their floors hold theirs
	} {
		if got := engageFloor(c.measured, c.inUse, c.last, c.alone); got != c.want {
			t.Errorf("engageFloor(%d, %d, %d, %v) = %d MiB, want %d MiB", c.measured/mib, c.inUse/mib, c.last/mib, c.alone, got/mib, c.want/mib)
		}
	}
}

// TestEngageAfterEnd: a budget engaged after it ended sets no limit.
func TestEngageAfterEnd(t *testing.T) {
	fresh(t)
	old := limit()
	b := Begin()
	b.End()
	b.Engage()
	if l := limit(); l != old {
		t.Errorf("limit %d after Engage on an ended budget, want %d", l, old)
	}
}

// TestEngageOverlapping: the limit goes back only when the last budget
// ends, whatever the order.
func TestEngageOverlapping(t *testing.T) {
	fresh(t)
	old := limit()
	a := live(8)
	r1 := engage()
	b := live(8)
	r2 := engage()
	mu.Lock()
	f1, f2 := active[0].floor, active[1].floor
	mu.Unlock()
	if f2 < 16<<20 {
		t.Errorf("second floor %d MiB, below the 16 MiB both exports hold", f2>>20)
	}
	if l := limit(); l < max(f1, f2) {
		t.Errorf("limit %d MiB below the floors %d and %d MiB", l>>20, f1>>20, f2>>20)
	}
	r1()
	if l := limit(); l < f2 {
		t.Errorf("after the first ended: limit %d MiB below the second floor %d MiB", l>>20, f2>>20)
	}
	r2()
	if l := limit(); l != old {
		t.Errorf("limit after both released %d, want %d", l, old)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

// TestEngageLeavesGOMEMLIMITAlone: an operator's GOMEMLIMIT wins.
func TestEngageLeavesGOMEMLIMITAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	old := limit()
	release := engage()
	if l := limit(); l != old {
		t.Errorf("limit %d with GOMEMLIMIT set, want %d", l, old)
	}
	release()
}

// TestOneSentinel: exports that engage and end with no collection between
// them share one sentinel, so the finalizer does not multiply.
func TestOneSentinel(t *testing.T) {
	fresh(t)
	// Let a sentinel an earlier test armed run out.
	for {
		mu.Lock()
		a := armed
		mu.Unlock()
		if !a {
			break
		}
		waitFinalizers()
	}
	for range 10 {
		mu.Lock()
		armLocked()
		mu.Unlock()
	}
	mu.Lock()
	n := afterGC
	mu.Unlock()
	waitFinalizers()
	waitFinalizers()
	mu.Lock()
	defer mu.Unlock()
	if runs := afterGC - n; runs != 1 {
		t.Errorf("the finalizer ran %d times after ten arms without a collection, want 1", runs)
	}
	if armed {
		t.Error("a sentinel is still armed with no budget active")
	}
}

// waitFinalizers runs a collection and waits for the finalizers it queued.
func waitFinalizers() {
	done := make(chan struct{})
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) { close(done) })
	runtime.GC()
	<-done
}

func TestSetProcessLimit(t *testing.T) {
	old := limit()
	defer debug.SetMemoryLimit(old)
	env := map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}
	if got := SetProcessLimit(func(k string) string { return env[k] }); got != 128<<20/10*9 || limit() != got {
		t.Errorf("128 MB function: limit %d (set %d), want %d", got, limit(), 128<<20/10*9)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	env["GOMEMLIMIT"] = "200MiB"
	if got := SetProcessLimit(func(k string) string { return env[k] }); got != 0 || limit() != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT: set %d, limit %d; want nothing set", got, limit())
	}
	delete(env, "GOMEMLIMIT")
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "lots"
	if got := SetProcessLimit(func(k string) string { return env[k] }); got != 0 {
		t.Errorf("bad memory size: set %d", got)
	}
}

// TestBeginHoldsToTheLastLimit: before it engages, an export in a process
// that ran one before is held to the limit that one ended under (its
// buffers, dead, would otherwise let the heap run to twice their size);
// in a fresh process there is no limit until Engage.
func TestBeginHoldsToTheLastLimit(t *testing.T) {
	fresh(t)
	old := limit()
	b := Begin()
	if l := limit(); l != old {
		t.Errorf("fresh process: limit %d before Engage, want %d", l, old)
	}
	bufs := live(16)
	b.Engage()
	engaged := limit()
	runtime.KeepAlive(bufs)
	b.End()
	if l := limit(); l != old {
		t.Errorf("limit after End %d, want %d", l, old)
	}
	next := Begin()
	if l := limit(); l < engaged-(4<<20) || l > engaged+(4<<20) {
		t.Errorf("next export before Engage: limit %d MiB, want about the last one's %d MiB", l>>20, engaged>>20)
	}
	next.End()
	next.End()
	if l := limit(); l != old {
		t.Errorf("limit after the next End %d, want %d", l, old)
	}
	// A nil Budget (GOMEMLIMIT set) does nothing.
	var none *Budget
	none.Engage()
	none.End()
}
