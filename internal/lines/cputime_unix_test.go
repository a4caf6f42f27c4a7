//go:build unix

package lines_test

import "syscall"

// processCPU returns the CPU time (user and system) the process has used, in
// nanoseconds. Benchmarks report it per operation besides wall time, which a
// busy machine inflates.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
