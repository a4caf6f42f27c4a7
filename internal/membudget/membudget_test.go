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

// churn allocates n bytes of garbage in 64 KiB pieces and returns how many
// collections ran meanwhile.
func churn(n int) uint64 {
	before := gcCycles()
	for i := 0; i < n; i += 64 << 10 {
		sink = append(sink[:0], make([]byte, 64<<10))
	}
	return gcCycles() - before
}

func limit() int64 { return debug.SetMemoryLimit(-1) }

// TestApplyFloor: the limit is the memory in use plus need plus Headroom
// (the collector's own pacing, GOGC, still applies below it); it goes back
// on release.
func TestApplyFloor(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	runtime.GC()
	old := limit()
	release := Apply(64 << 20)
	if got, want := limit(), InUse()+64<<20+Headroom; got < want-(4<<20) || got > want+(4<<20) {
		t.Errorf("limit %d MiB, want about %d MiB", got>>20, want>>20)
	}
	release()
	release() // a second call is a no-op
	if got := limit(); got != old {
		t.Errorf("limit after release %d, want %d", got, old)
	}
}

// TestApplyFollowsTheLiveHeap: with a budget far too small for what the
// export keeps live, the limit follows the live heap after each collection
// instead of making the collector run flat out.
func TestApplyFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	runtime.GC()
	release := Apply(0)
	defer release()
	live := make([][]byte, 0, 1024)
	for range 96 {
		live = append(live, make([]byte, 1<<20)) // 96 MiB live, noscan
		churn(1 << 20)
	}
	// 256 MiB of garbage with a live heap of 96 MiB: the headroom is an
	// eighth of it, 12 MiB, so about 20 collections; a limit stuck at the
	// 2 MiB budget would run one every few pieces.
	n := churn(256 << 20)
	runtime.KeepAlive(live)
	if n > 60 {
		t.Errorf("%d collections for 256 MiB of garbage over a 96 MiB live heap; the limit is %d MiB", n, limit()>>20)
	}
	if l := limit(); l < 96<<20 {
		t.Errorf("limit %d MiB below the live heap", l>>20)
	}
}

// TestApplyOverlapping: the limit goes back only when the last budget ends,
// whatever the order.
func TestApplyOverlapping(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	runtime.GC()
	old := limit()
	r1 := Apply(8 << 20)
	r2 := Apply(8 << 20)
	mu.Lock()
	f1, f2 := active[0].floor, active[1].floor
	mu.Unlock()
	if f2 != f1+8<<20+Headroom {
		t.Errorf("second budget's floor %d, want the first's %d + its need and headroom", f2, f1)
	}
	if l := limit(); l < f2 {
		t.Errorf("limit %d MiB below the second floor %d MiB", l>>20, f2>>20)
	}
	r1()
	if l := limit(); l < f2 {
		t.Errorf("after the first ended: limit %d MiB below the second floor %d MiB", l>>20, f2>>20)
	}
	r2()
	if l := limit(); l != old {
		t.Errorf("limit after both released %d, want %d", l, old)
	}
}

// TestApplyLeavesGOMEMLIMITAlone: an operator's GOMEMLIMIT wins.
func TestApplyLeavesGOMEMLIMITAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	old := limit()
	release := Apply(8 << 20)
	if l := limit(); l != old {
		t.Errorf("limit %d with GOMEMLIMIT set, want %d", l, old)
	}
	release()
}

func TestNeed(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want int64
	}{
		{Settings{PartSize: 5 << 20, Concurrency: 1, Prefetch: 1}, 2*5<<20 + 3*pageBytes + encoderBytes},
		{Settings{PartSize: 16 << 20, Concurrency: 4, Prefetch: 2}, 5*16<<20 + 4*pageBytes + encoderBytes},
		{Settings{PartSize: 5 << 20, Concurrency: 1, Prefetch: 1, Offloads: 8}, 2*5<<20 + 3*pageBytes + encoderBytes + 8*offloadBytes},
	} {
		if got := Need(c.s); got != c.want {
			t.Errorf("Need(%+v) = %d, want %d", c.s, got, c.want)
		}
	}
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

// TestOneSentinel: exports that start and end with no collection between
// them share one sentinel, so the finalizer does not multiply.
func TestOneSentinel(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	runtime.GC()
	runtime.GC()
	for range 10 {
		Apply(1 << 20)()
	}
	mu.Lock()
	n := afterGC
	mu.Unlock()
	runtime.GC()
	runtime.GC()
	waitFinalizers()
	mu.Lock()
	defer mu.Unlock()
	if runs := afterGC - n; runs != 1 {
		t.Errorf("the finalizer ran %d times after ten exports without a collection, want 1", runs)
	}
	if armed {
		t.Error("a sentinel is still armed with no budget active")
	}
}

// waitFinalizers waits for the finalizers queued by the last collection.
func waitFinalizers() {
	done := make(chan struct{})
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) { close(done) })
	runtime.GC()
	<-done
}
