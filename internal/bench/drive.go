package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// DriveOptions says what Drive measures.
type DriveOptions struct {
	Sizes         []int         // item counts for the whole handler and the floor, over HTTP
	HTTPSItems    int           // when positive, also this many items over HTTPS
	PipelinePages int           // when positive, the pipelining check over this many pages
	Latency       time.Duration // per-page latency of the pipelining check
	E2EItems      int           // when positive, an export of this many items from dynalite to versitygw
	ColdStart     bool          // build bootstrap, report its size and its init time under the emulator
	Dir           string        // scratch directory
	Spawner       Spawner
}

// Drive runs every measurement o asks for, each in its own process, and
// writes a table of figures and the ratios issue 7 sets targets for.
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

	type pair struct{ export, floor Row }
	var pairs []pair
	for _, n := range o.Sizes {
		var p pair
		if p.export, err = measure(ctx, o.Spawner, fakes, "export", fmt.Sprintf("export-%d", n), n, 0, "http"); err != nil {
			return err
		}
		WriteRow(w, p.export)
		if p.floor, err = measure(ctx, o.Spawner, fakes, "floor", fmt.Sprintf("floor-%d", n), n, 0, "http"); err != nil {
			return err
		}
		WriteRow(w, p.floor)
		pairs = append(pairs, p)
	}
	s3 := fakes.S3.Stats()
	var tlsPair *pair
	if o.HTTPSItems > 0 {
		tf, err := StartFakes(true, o.Dir)
		if err != nil {
			return err
		}
		defer tf.Close()
		var p pair
		if p.export, err = measure(ctx, o.Spawner, tf, "export", fmt.Sprintf("export-%d", o.HTTPSItems), o.HTTPSItems, 0, "https"); err != nil {
			return err
		}
		WriteRow(w, p.export)
		if p.floor, err = measure(ctx, o.Spawner, tf, "floor", fmt.Sprintf("floor-%d", o.HTTPSItems), o.HTTPSItems, 0, "https"); err != nil {
			return err
		}
		WriteRow(w, p.floor)
		tlsPair = &p
		ts := tf.S3.Stats()
		fmt.Fprintf(w, "  (https: S3 parts sent with a SHA-256 payload hash: %d, unsigned: %d)\n", ts.Signed, ts.Unsigned)
	}
	var pipe, pipeFloor Row
	if o.PipelinePages > 0 {
		_, perPage := pageItems(1<<30, 1)
		n := o.PipelinePages * perPage
		if pipe, err = measure(ctx, o.Spawner, fakes, "export", fmt.Sprintf("pipe-export-%d", n), n, o.Latency, "http"); err != nil {
			return err
		}
		WriteRow(w, pipe)
		if pipeFloor, err = measure(ctx, o.Spawner, fakes, "floor", fmt.Sprintf("pipe-floor-%d", n), n, o.Latency, "http"); err != nil {
			return err
		}
		WriteRow(w, pipeFloor)
	}

	fmt.Fprintf(w, "\nS3 over http: %d parts sent with a SHA-256 payload hash, %d unsigned; requests %v\n", s3.Signed, s3.Unsigned, s3.Requests)
	fmt.Fprintln(w, "\nCPU, whole handler / floor (target <= 1.5):")
	for _, p := range pairs {
		fmt.Fprintf(w, "  %-22s %.2fx  (%.2f vs %.2f CPU s/GB)\n", p.export.Name, p.export.CPU.Seconds()/p.floor.CPU.Seconds(), p.export.CPUPerGB(), p.floor.CPUPerGB())
	}
	if tlsPair != nil {
		fmt.Fprintf(w, "  %-22s %.2fx  (%.2f vs %.2f CPU s/GB)\n", tlsPair.export.Name, tlsPair.export.CPU.Seconds()/tlsPair.floor.CPU.Seconds(), tlsPair.export.CPUPerGB(), tlsPair.floor.CPUPerGB())
	}
	if len(pairs) > 1 {
		lo, hi := pairs[0].export, pairs[len(pairs)-1].export
		fmt.Fprintf(w, "\nPeak RSS, whole handler: %s %.1f MiB, %s %.1f MiB: %.2fx (targets: <= 64 MiB, <= 1.1x)\n",
			lo.Name, float64(lo.PeakRSS)/(1<<20), hi.Name, float64(hi.PeakRSS)/(1<<20), float64(hi.PeakRSS)/float64(lo.PeakRSS))
	}
	if o.PipelinePages > 0 {
		ideal := time.Duration(pipe.Pages) * o.Latency
		fmt.Fprintf(w, "\nPipelining, %s per page, %d pages: whole handler %s = %.3fx pages x latency (target <= 1.05); floor %s = %.3fx\n",
			o.Latency, pipe.Pages, pipe.Wall.Round(time.Millisecond), pipe.Wall.Seconds()/ideal.Seconds(),
			pipeFloor.Wall.Round(time.Millisecond), pipeFloor.Wall.Seconds()/ideal.Seconds())
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
// child process.
func measure(ctx context.Context, sp Spawner, f *Fakes, mode, table string, n int, latency time.Duration, proto string) (Row, error) {
	f.DynamoDB.AddTable(table, TableOptions{Items: n, Latency: latency})
	fig, err := sp.Run(ctx, Job{Mode: mode, Table: table, Key: table + ".jsonl"}, f.Env())
	if err != nil {
		return Row{}, err
	}
	st := f.DynamoDB.Stats(table)
	name := fmt.Sprintf("%s %s %s", mode, proto, count(n))
	if latency > 0 {
		name += " +" + latency.String()
	}
	return Row{
		Name: name, Items: int64(st.Items), Pages: st.Pages, ReqPage: st.RequestsPerPage(), InBytes: st.ResponseBytes,
		Out: fig.Out, Wall: fig.Wall, CPU: fig.CPU, Mallocs: fig.Mallocs, PeakRSS: fig.PeakRSS, Refetchd: st.Refetched,
	}, nil
}

func count(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dM", n/1e6)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%dk", n/1e3)
	}
	return fmt.Sprint(n)
}
