package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is a point-in-time reading of this process's clocks and counters.
type Sample struct {
	Wall    time.Time
	User    time.Duration
	Sys     time.Duration
	Mallocs uint64
}

// Take reads the clocks (getrusage: user and system CPU of the whole
// process, every goroutine and the GC included) and the allocation count.
// It stops the world briefly (runtime.ReadMemStats).
func Take() Sample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Sample{
		Wall:    time.Now(),
		User:    time.Duration(ru.Utime.Nano()),
		Sys:     time.Duration(ru.Stime.Nano()),
		Mallocs: ms.Mallocs,
	}
}

// Usage is what happened between two samples.
type Usage struct {
	Wall    time.Duration
	CPU     time.Duration // user + system
	Mallocs uint64
}

// Since returns the usage from s to now.
func (s Sample) Since(now Sample) Usage {
	return Usage{
		Wall:    now.Wall.Sub(s.Wall),
		CPU:     (now.User - s.User) + (now.Sys - s.Sys),
		Mallocs: now.Mallocs - s.Mallocs,
	}
}

// PeakRSS returns this process's peak resident set (VmHWM in
// /proc/self/status), in bytes, or 0 where there is no /proc.
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
