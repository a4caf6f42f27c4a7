package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// DriveOptions says what Drive measures.
type DriveOptions struct {
	Sizes         []int         // item counts for the whole handler and the floor, over HTTP
	HTTPSItems    int           // when positive, also this many items over HTTPS
	WarmSizes     []int         // item counts also measured in a warm process (Job.Warm)
	PipelinePages int           // when positive, the pipelining check over this many pages
	Latency       time.Duration // per-page latency of the pipelining check
	E2EItems      int           // when positive, an export of this many items from dynalite to versitygw
	ColdStart     bool          // build bootstrap, report its size and its init time under the emulator
	// SlowS3Items, when positive, exports this many items to an S3 that
	// takes SlowS3Latency per request: parts pile up in the uploader, so its
	// peak RSS is the worst case of the memory formula.
	SlowS3Items   int
	SlowS3Latency time.Duration
	// RichItems, when positive, exports this many items of the Rich mix
	// (about 2.5 KB each) beside the floor over the same pages.
	RichItems int
	Range     RangeOptions // range-read rows (query.parallelism); Range.Pages 0: skip
	Dir       string       // scratch directory
	Spawner   Spawner
}

// Drive runs every measurement o asks for, each in its own process, and
// writes a table of figures and the ratios docs/performance.md sets targets for.
func Drive(ctx context.Context, o DriveOptions, w io.Writer) error {
	fakes, err := StartFakes(false, o.Dir)
	if err != nil {
		return err
	}
	defer fakes.Close()

	idle, err := o.Spawner.Run(ctx, Job{Mode: "idle"}, fakes.Env())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "GOMAXPROCS %d; process with clients built and nothing run: peak RSS %.1f MiB\n\n", idle.GoMax, float64(idle.PeakRSS)/(1<<20))
	WriteHeader(w)

	// Every comparison runs two rows in the same run: the whole handler
	// ("export") and the floor.
	type pair struct{ export, floor Row }
	run2 := func(f *Fakes, tag string, n int, mix string, latency time.Duration, proto string, env ...string) (pair, error) {
		var t pair
		var err error
		if t.export, err = measure(ctx, o.Spawner, f, "export", "export", fmt.Sprintf("%sexport-%d", tag, n), n, mix, latency, proto, env); err != nil {
			return t, err
		}
		WriteRow(w, t.export)
		if t.floor, err = measure(ctx, o.Spawner, f, "floor", "floor", fmt.Sprintf("%sfloor-%d", tag, n), n, mix, latency, proto, env); err != nil {
			return t, err
		}
		WriteRow(w, t.floor)
		return t, nil
	}
	var trios []pair
	for _, n := range o.Sizes {
		t, err := run2(fakes, "", n, "", 0, "http")
		if err != nil {
			return err
		}
		trios = append(trios, t)
	}
	// A warm process: Lambda runs every invocation after the first in a
	// process whose heap already holds the pages a first run faulted in.
	var warm []pair
	for _, n := range o.WarmSizes {
		t, err := run2(fakes, "warm-", n, "", 0, "http", warmEnv)
		if err != nil {
			return err
		}
		warm = append(warm, t)
	}
	s3 := fakes.S3.Stats()
	var tls *pair
	if o.HTTPSItems > 0 {
		tf, err := StartFakes(true, o.Dir)
		if err != nil {
			return err
		}
		defer tf.Close()
		t, err := run2(tf, "", o.HTTPSItems, "", 0, "https")
		if err != nil {
			return err
		}
		tls = &t
		ts := tf.S3.Stats()
		fmt.Fprintf(w, "  (https: S3 parts sent with a SHA-256 payload hash: %d, unsigned: %d)\n", ts.Signed, ts.Unsigned)
	}
	var pipe pair
	var pipeFetch Row
	if o.PipelinePages > 0 {
		_, perPage := pageItems(1<<30, 1)
		if pipe, err = run2(fakes, "pipe-", o.PipelinePages*perPage, "", o.Latency, "http"); err != nil {
			return err
		}
		// What fetching alone costs on the critical path: the floor without
		// json.Valid (read, CRC32, LastEvaluatedKey).
		if pipeFetch, err = measure(ctx, o.Spawner, fakes, "fetch", "fetch", fmt.Sprintf("pipe-fetch-%d", o.PipelinePages*perPage), o.PipelinePages*perPage, "", o.Latency, "http", nil); err != nil {
			return err
		}
		WriteRow(w, pipeFetch)
	}
	var slow Row
	if o.SlowS3Items > 0 {
		sf := &Fakes{DynamoDB: fakes.DynamoDB, S3: NewS3(false, o.SlowS3Latency)}
		slow, err = measure(ctx, o.Spawner, sf, "export", "export", fmt.Sprintf("slow-s3-export-%d", o.SlowS3Items), o.SlowS3Items, "", 0, "http", nil)
		sf.S3.Close()
		if err != nil {
			return err
		}
		slow.Name += fmt.Sprintf(" S3 +%s", o.SlowS3Latency)
		WriteRow(w, slow)
	}

	var rich *pair
	if o.RichItems > 0 {
		t, err := run2(fakes, "rich-", o.RichItems, Rich, 0, "http")
		if err != nil {
			return err
		}
		rich = &t
	}

	fmt.Fprintf(w, "\nS3 over http: %d parts sent with a SHA-256 payload hash, %d unsigned; requests %v\n", s3.Signed, s3.Unsigned, s3.Requests)
	fmt.Fprintln(w, "\nCPU, whole handler / floor (target <= 1.5)")
	all := slices.Clone(trios)
	all = append(all, warm...)
	if tls != nil {
		all = append(all, *tls)
	}
	var worstCPU float64
	for _, t := range all {
		r := t.export.CPU.Seconds() / t.floor.CPU.Seconds()
		worstCPU = max(worstCPU, r)
		fmt.Fprintf(w, "  %-22s %.2fx  (%.2f vs %.2f CPU s/GB)\n", t.export.Name, r, t.export.CPUPerGB(), t.floor.CPUPerGB())
	}
	if rich != nil {
		fmt.Fprintf(w, "\nCPU per GB on rich items (%d B an item): export %.2f CPU s/GB, floor (fetch + json.Valid) %.2f: %.2fx\n",
			rich.export.InBytes/max(rich.export.Items, 1), rich.export.CPUPerGB(), rich.floor.CPUPerGB(), rich.export.CPU.Seconds()/rich.floor.CPU.Seconds())
	}
	var worstRatio, peakHi float64
	if len(trios) > 0 {
		fmt.Fprintln(w, "\nPeak RSS (target: the largest run <= 64 MiB and <= 1.1x the smallest):")
		lo, hi := trios[0], trios[len(trios)-1]
		for _, t := range trios {
			fmt.Fprintf(w, "  %-22s %6.1f MiB (%.2fx the smallest)\n", t.export.Name, mib(t.export.PeakRSS),
				float64(t.export.PeakRSS)/float64(lo.export.PeakRSS))
		}
		worstRatio, peakHi = float64(hi.export.PeakRSS)/float64(lo.export.PeakRSS), mib(hi.export.PeakRSS)
		if len(trios) > 2 {
			prev := trios[len(trios)-2]
			fmt.Fprintf(w, "  %s / %s: %.2fx\n", hi.export.Name, prev.export.Name, float64(hi.export.PeakRSS)/float64(prev.export.PeakRSS))
		}
		if o.SlowS3Items > 0 {
			fmt.Fprintf(w, "  %-22s %6.1f MiB (parts waiting for a slow S3: the formula's worst case)\n", slow.Name, mib(slow.PeakRSS))
		}
		for _, t := range warm {
			fmt.Fprintf(w, "  %-22s %6.1f MiB (%.2fx the smallest; the higher of its two runs)\n", t.export.Name, mib(t.export.PeakRSS),
				float64(t.export.PeakRSS)/float64(lo.export.PeakRSS))
		}
	}
	var pipeRatio float64
	if o.PipelinePages > 0 {
		ideal := time.Duration(pipe.export.Pages) * o.Latency
		over := func(r Row) string {
			per := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / 1e3 / float64(max(n, 1)) }
			return fmt.Sprintf("%s = %.3fx, %.2f ms/page over the latency (the fake late %.2f per request, the client %.2f between requests)", r.Wall.Round(time.Millisecond), r.Wall.Seconds()/ideal.Seconds(),
				per(r.Wall-ideal, r.Pages), per(r.Overshoot, r.Requests), per(r.ClientGap, r.Requests-1))
		}
		pipeRatio = pipe.export.Wall.Seconds() / ideal.Seconds()
		fmt.Fprintf(w, "\nPipelining, %s per page (request read to last byte sent), %d pages, target <= 1.05x pages x latency:\n  export %s\n  floor %s\n  fetch only (no json.Valid) %s\n",
			o.Latency, pipe.export.Pages, over(pipe.export), over(pipe.floor), over(pipeFetch))
	}
	// Requests per page: the target is the export's; the floor's
	// re-fetches are reported beside it.
	var maxReq float64
	var refetched, otherRefetched int
	var items int64
	var mallocs uint64
	if o.PipelinePages > 0 {
		all = append(all, pipe)
	}
	for _, t := range all {
		maxReq, refetched = max(maxReq, t.export.ReqPage), refetched+t.export.Refetchd
		otherRefetched += t.floor.Refetchd
		items, mallocs = items+t.export.Items, mallocs+t.export.Mallocs
	}
	fmt.Fprintln(w, "\nTargets (this run):")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	if len(all) > 0 {
		fmt.Fprintf(w, "  CPU whole/floor <= 1.5x:           worst %.2fx  %s\n", worstCPU, verdict(worstCPU <= 1.5))
		fmt.Fprintf(w, "  peak RSS largest <= 64 MiB:        %.1f MiB  %s\n", peakHi, verdict(peakHi <= 64))
		fmt.Fprintf(w, "  peak RSS largest/smallest <= 1.1x: %.2fx  %s\n", worstRatio, verdict(worstRatio <= 1.1))
		fmt.Fprintf(w, "  allocations per item (export):     %.2f\n", float64(mallocs)/float64(max(items, 1)))
	}
	if o.PipelinePages > 0 {
		served := time.Duration(pipe.export.Pages)*o.Latency + pipe.export.Overshoot
		fmt.Fprintf(w, "  pipelining <= 1.05x:               %.3fx  %s  (%.3fx the %s the fake took to serve the pages, its lateness included)\n",
			pipeRatio, verdict(pipeRatio <= 1.05), pipe.export.Wall.Seconds()/served.Seconds(), served.Round(time.Millisecond))
	}
	if len(all) > 0 {
		fmt.Fprintf(w, "  requests per page = 1.000 (export): worst %.3f, %d re-fetches  %s  (floor rows: %d re-fetches)\n",
			maxReq, refetched, verdict(maxReq == 1 && refetched == 0), otherRefetched)
	}
	if o.Range.Pages > 0 {
		if err := driveRange(ctx, o.Spawner, fakes, o.Range, w); err != nil {
			return fmt.Errorf("range reads: %w", err)
		}
	}
	if o.E2EItems > 0 {
		if err := driveE2E(ctx, o, w); err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
	}
	if o.ColdStart {
		if err := coldStart(ctx, o, fakes.Env(), w); err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
	}
	return nil
}

// measure adds a table of n items to the fakes and runs mode over it in a
// child process whose environment also has env; the row is called label.
//
// A run of at most smallRun items takes tens of milliseconds, too short for
// one CPU reading on a shared machine: it runs smallRepeats times, each in a
// process and on a table of its own, and the row is the run with the median
// CPU (its re-fetches are those of all the runs).
func measure(ctx context.Context, sp Spawner, f *Fakes, mode, label, table string, n int, mix string, latency time.Duration, proto string, env []string) (Row, error) {
	if n > smallRun || latency > 0 {
		return measure1(ctx, sp, f, mode, label, table, n, mix, latency, proto, env)
	}
	var rows []Row
	refetched := 0
	for i := range smallRepeats {
		r, err := measure1(ctx, sp, f, mode, label, fmt.Sprintf("%s-%d", table, i), n, mix, latency, proto, env)
		if err != nil {
			return r, err
		}
		rows, refetched = append(rows, r), refetched+r.Refetchd
	}
	slices.SortFunc(rows, func(a, b Row) int { return int(a.CPU - b.CPU) })
	r := rows[len(rows)/2]
	r.Refetchd = refetched
	r.Name += fmt.Sprintf(" (median of %d)", smallRepeats)
	return r, nil
}

// warmEnv, in a measurement's env, makes its process run the same job once
// before the measured one (Job.Warm).
const warmEnv = "BENCH_WARM=1"

// Runs of at most smallRun items are repeated smallRepeats times.
const (
	smallRun     = 20000
	smallRepeats = 9
)

func measure1(ctx context.Context, sp Spawner, f *Fakes, mode, label, table string, n int, mix string, latency time.Duration, proto string, env []string) (Row, error) {
	f.DynamoDB.AddTable(table, TableOptions{Items: n, Latency: latency, Mix: mix})
	warm := slices.Contains(env, warmEnv)
	if warm {
		f.DynamoDB.AddTable(table+"-warm", TableOptions{Items: n, Latency: latency, Mix: mix})
	}
	fig, err := sp.Run(ctx, Job{Mode: mode, Table: table, Key: table + ".jsonl", Warm: warm}, append(f.Env(), env...))
	if err != nil {
		return Row{}, err
	}
	st := f.DynamoDB.Stats(table)
	name := fmt.Sprintf("%s %s %s", label, proto, count(n))
	if mix != "" {
		name = fmt.Sprintf("%s %s %s %s", label, mix, proto, count(n))
	}
	if warm {
		name += " warm"
	}
	if latency > 0 {
		name += " +" + latency.String()
	}
	return Row{
		Name: name, Items: int64(st.Items), Pages: st.Pages, ReqPage: st.RequestsPerPage(), InBytes: st.ResponseBytes,
		Out: fig.Out, Wall: fig.Wall, CPU: fig.CPU, Mallocs: fig.Mallocs, PeakRSS: fig.PeakRSS, Refetchd: st.Refetched,
		Overshoot: st.Overshoot, ClientGap: st.ClientGap, Requests: st.Requests,
	}, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func count(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dM", n/1e6)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%dk", n/1e3)
	}
	return fmt.Sprint(n)
}
