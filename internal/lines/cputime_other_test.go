//go:build !unix

package lines_test

// processCPU is not measured on this platform: benchmarks report 0.
func processCPU() int64 { return 0 }
