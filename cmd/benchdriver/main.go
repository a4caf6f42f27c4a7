// Command benchdriver measures an export: the whole handler and
// the floor against in-process fakes of DynamoDB and S3, each measurement
// in a child process of its own (this binary re-executed with -job) so that
// CPU time and peak RSS are per measurement and exclude the fakes; then,
// optionally, an export from dynalite to versitygw and the cold start.
//
//	go run ./cmd/benchdriver -items 10000,1000000 -https-items 100000 -pipeline-pages 100 -e2e-items 5000 -coldstart
//
// With BENCH_CPUPROFILE_DIR set, each measurement writes a CPU profile
// of its whole process to that directory (created if missing; use a fresh
// one, as the names of its files are <mode>-<table>-<random>.cpu). The
// profiler's own cost is in that run's figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/cmd/benchdriver/internal/bench"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbrange"
)

func main() {
	items := flag.String("items", "10000,1000000", "comma-separated item counts for the whole handler and the floor, over HTTP")
	httpsItems := flag.Int("https-items", 0, "also measure this many items over HTTPS (S3 payloads unsigned); 0: skip")
	warmItems := flag.String("warm-items", "", "comma-separated item counts also measured in processes that ran the same job once before (as Lambda reuses a process)")
	pipePages := flag.Int("pipeline-pages", 100, "pages of the pipelining check; 0: skip")
	latency := flag.Duration("latency", 10*time.Millisecond, "per-page latency of the pipelining check")
	e2eItems := flag.Int("e2e-items", 0, "also export this many items from dynalite to versitygw; 0: skip")
	slowItems := flag.Int("slow-s3-items", 0, "also export this many items to an S3 that answers each request after -slow-s3-latency (peak RSS when parts pile up); 0: skip")
	slowLatency := flag.Duration("slow-s3-latency", 200*time.Millisecond, "per-request latency of the slow S3")
	cold := flag.Bool("coldstart", false, "build bootstrap and report its size (and, with -e2e-items, its init time under the emulator)")
	rangePages := flag.Int("range-pages", 0, "range-read rows (query.parallelism against one partition with a per-page latency and a read cap): pages of the uniform partition, the others half as many; 0: skip")
	rangeGroups := flag.String("range-rows", "", "comma-separated range-read row groups to run (uniform, skewed, cluster, one-page, string, binary); empty: all")
	rangeLatency := flag.Duration("range-latency", ddbrange.DefaultPageLatency, "time a range-read page of 1 MiB takes")
	rangeCap := flag.Float64("range-cap", ddbrange.DefaultReadCap/1e6, "range-read partition's read cap, MB/s")
	richItems := flag.Int("rich-items", 0, "also export this many items of the rich mix (~2.5 KB: nested maps, escapes, long numbers, sets, binary) beside the floor; 0: skip")
	job := flag.String("job", "", "internal: run one measurement (JSON bench.Job) and print its figures")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *job != "" {
		os.Exit(runJob(ctx, *job))
	}
	sizes, err := counts("-items", *items)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	warmSizes, err := counts("-warm-items", *warmItems)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var groups []string
	for g := range strings.SplitSeq(*rangeGroups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			if !slices.ContainsFunc(bench.RangeGroups, func(rg bench.RangeGroup) bool { return rg.Name == g }) {
				fmt.Fprintf(os.Stderr, "-range-rows: no row group %q\n", g)
				os.Exit(2)
			}
			groups = append(groups, g)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "benchdriver-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	err = bench.Drive(ctx, bench.DriveOptions{
		Sizes: sizes, HTTPSItems: *httpsItems, WarmSizes: warmSizes, PipelinePages: *pipePages, Latency: *latency,
		E2EItems: *e2eItems, ColdStart: *cold, Dir: dir, SlowS3Items: *slowItems, SlowS3Latency: *slowLatency,
		RichItems: *richItems,
		Range:     bench.RangeOptions{Pages: *rangePages, Groups: groups, Latency: *rangeLatency, ReadCap: *rangeCap * 1e6},
		Spawner: bench.Spawner{Self: self, Args: func(j bench.Job) []string {
			b, _ := json.Marshal(j)
			return []string{"-job", string(b)}
		}},
	}, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdriver:", err)
		os.Exit(1)
	}
}

// counts parses a comma-separated list of item counts ("" is none).
func counts(flagName, list string) ([]int, error) {
	var ns []int
	if strings.TrimSpace(list) == "" {
		return ns, nil
	}
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a count", flagName, s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func runJob(ctx context.Context, spec string) int {
	var j bench.Job
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintln(os.Stderr, "-job:", err)
		return 2
	}
	if dir := os.Getenv("BENCH_CPUPROFILE_DIR"); dir != "" {
		err := os.MkdirAll(dir, 0o755)
		var f *os.File
		if err == nil {
			f, err = os.CreateTemp(dir, j.Mode+"-"+j.Table+"-*.cpu")
		}
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "BENCH_CPUPROFILE_DIR:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	fig, err := bench.RunJob(ctx, j)
	if err != nil {
		fmt.Fprintln(os.Stderr, "job:", err)
		return 1
	}
	b, _ := json.Marshal(fig)
	fmt.Println(string(b))
	return 0
}
