package upload

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/s3mem"
)

// TestPool: 16 Writers, three parts in flight each, over a pool of 4
// buffers all finish with the right bytes, never more than 4 buffers out
// or allocated, and all given back.
func TestPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := NewPool(4, ps)
	if err != nil {
		t.Fatal(err)
	}
	mem := &s3mem.S3{}
	const writers = 16
	want := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		want[i] = data(ps*(i%4)+1000*i+1, byte(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := New(ctx, mem, Target{Bucket: "b", Key: fmt.Sprint("k", i), Overwrite: true}, Options{Pool: pool, Concurrency: 3})
			if err != nil {
				errs <- err
				return
			}
			for b := want[i]; len(b) > 0; {
				n := min(len(b), 100_000)
				if _, err := w.Write(b[:n]); err != nil {
					errs <- err
					return
				}
				b = b[n:]
			}
			if _, err := w.Close(ctx); err != nil {
				errs <- err
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the writers did not finish: deadlock")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	objs := mem.Objects()
	for i := range writers {
		if got := objs[fmt.Sprint("k", i)]; got != string(want[i]) {
			t.Errorf("object k%d has %d bytes, differs from the %d written", i, len(got), len(want[i]))
		}
	}
	allocated, out, maxOut := pool.Stats()
	if allocated > 4 || maxOut > 4 || out != 0 {
		t.Errorf("pool: %d allocated, %d out at most, %d out at the end; want at most 4, 4, and 0", allocated, maxOut, out)
	}
	t.Logf("pool: %d buffers allocated, at most %d out", allocated, maxOut)
}

// TestPoolMemoryBound: 16 Writers sharing a pool of 4 allocate about 4
// buffers between them, not one set each.
func TestPoolMemoryBound(t *testing.T) {
	ctx := context.Background()
	pool, err := NewPool(4, ps)
	if err != nil {
		t.Fatal(err)
	}
	bound := uint64(4*ps + 4<<20) // the buffers, plus 4 MiB for the rest
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := New(ctx, &discard{}, Target{Bucket: "b", Key: "k", Overwrite: true}, Options{Pool: pool, Concurrency: 2})
			if err != nil {
				t.Error(err)
				return
			}
			for n := 0; n < 3*ps; n += len(line) {
				if _, err := w.Write(line); err != nil {
					t.Error(err)
					return
				}
			}
			if _, err := w.Close(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > bound {
		t.Errorf("16 writers of 15 MiB allocated %d bytes, want at most %d", got, bound)
	} else {
		t.Logf("16 writers of 15 MiB allocated %.2f MiB (bound %.2f MiB)", float64(got)/(1<<20), float64(bound)/(1<<20))
	}
}

// TestPoolWaitEndsWithCtx: a Write waiting for a buffer of an empty pool
// returns when the Writer's context ends, and the buffers held come back.
func TestPoolWaitEndsWithCtx(t *testing.T) {
	t.Parallel()
	pool, err := NewPool(1, ps)
	if err != nil {
		t.Fatal(err)
	}
	mem := &s3mem.S3{}
	holder, err := New(context.Background(), mem, Target{Bucket: "b", Key: "h", Overwrite: true}, Options{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, holder, data(10, 1)) // holds the only buffer
	ctx, cancel := context.WithCancel(context.Background())
	w, err := New(ctx, mem, Target{Bucket: "b", Key: "w", Overwrite: true}, Options{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := w.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write on an empty pool = %v, want context.Canceled once ctx ends", err)
	}
	if err := w.Abort(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := pool.Stats(); out != 0 {
		t.Errorf("%d buffers still out", out)
	}
	if _, err := NewPool(0, ps); err == nil {
		t.Error("NewPool(0, ...) succeeded")
	}
	if _, err := New(context.Background(), mem, Target{Bucket: "b", Key: "x", Overwrite: true}, Options{Pool: pool, PartSize: 2 * ps}); err == nil {
		t.Error("New with a PartSize other than the pool's succeeded")
	}
}
