package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// Job is one measurement, run in a process of its own so that its CPU
// clock and peak RSS are its own: the fakes stay in the parent.
type Job struct {
	Mode  string // "export" (the whole handler), "floor", "fetch" (the floor without json.Valid) or "idle" (clients only)
	Table string
	Key   string // the manifest's key, for "export"
	// Warm runs the same mode once over Table+"-warm" before measuring, as
	// a Lambda process does every invocation after its first.
	Warm bool
	// Parallelism is the export's query.parallelism ("" unset, an integer
	// or "auto").
	Parallelism string `json:",omitempty"`
}

// Figures is what a Job measured.
type Figures struct {
	Job
	Items   int64         // items exported (0 for the floor: the parent knows)
	InBytes int64         // Query response bytes read (floor only)
	Out     int64         // manifest bytes
	Wall    time.Duration // the run, clients already built
	CPU     time.Duration // user + system over the run
	Mallocs uint64        // heap allocations over the run
	PeakRSS int64         // VmHWM at the end of the process
	GoMax   int           // GOMAXPROCS
	// Readers is the export's Progress.Readers (the range readers running)
	// sampled every ReadersEvery over the run (export only).
	Readers []int `json:",omitempty"`
}

// ReadersEvery is how often readers are sampled over a run.
const ReadersEvery = 250 * time.Millisecond

// RunJob runs job in this process, with clients built by Deps from the
// environment. The parent (Drive) sets that environment.
func RunJob(ctx context.Context, job Job) (Figures, error) {
	fig := Figures{Job: job, GoMax: runtime.GOMAXPROCS(0)}
	d, err := Deps(ctx)
	if err != nil {
		return fig, err
	}
	if job.Warm {
		if err := runMode(ctx, d, Job{Mode: job.Mode, Table: job.Table + "-warm", Key: job.Key + ".warm", Parallelism: job.Parallelism}, &Figures{}); err != nil {
			return fig, fmt.Errorf("warm-up: %w", err)
		}
	}
	var readers atomic.Int64
	d.Export.Progress = func(p export.Progress) { readers.Store(int64(p.Readers)) }
	done := make(chan struct{})
	sampled := make(chan []int)
	go func() {
		var samples []int
		tick := time.NewTicker(ReadersEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				samples = append(samples, int(readers.Load()))
			case <-done:
				sampled <- samples
				return
			}
		}
	}()
	start := Take()
	err = runMode(ctx, d, job, &fig)
	close(done)
	if samples := <-sampled; job.Mode == "export" {
		fig.Readers = samples
	}
	if err != nil {
		return fig, err
	}
	u := start.Since(Take())
	fig.Wall, fig.CPU, fig.Mallocs = u.Wall, u.CPU, u.Mallocs
	fig.PeakRSS = PeakRSS()
	return fig, nil
}

func runMode(ctx context.Context, d step.Deps, job Job, fig *Figures) error {
	switch job.Mode {
	case "export":
		r, err := Export(ctx, newHandler(d), job.Table, job.Key, job.Parallelism)
		if err != nil {
			return err
		}
		fig.Items, fig.Out = r.ItemCount, r.SizeBytes
	case "floor", "fetch":
		r, err := floor(ctx, d.DynamoDB, job.Table, job.Mode == "floor")
		if err != nil {
			return err
		}
		fig.InBytes = r.Bytes
	case "idle":
	default:
		return fmt.Errorf("unknown job mode %q", job.Mode)
	}
	return nil
}

// Spawner runs Jobs in child processes: Self re-executed with Args(job).
type Spawner struct {
	Self string
	Args func(Job) []string
}

// Run runs job in a child whose environment is ours plus env, and returns
// the Figures it printed as the last line of its standard output.
func (s Spawner) Run(ctx context.Context, job Job, env []string) (Figures, error) {
	cmd := exec.CommandContext(ctx, s.Self, s.Args(job)...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return Figures{}, fmt.Errorf("job %+v: %w\n%s", job, err, out.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var fig Figures
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &fig); err != nil {
		return fig, fmt.Errorf("job %+v: output %q: %w", job, out.String(), err)
	}
	return fig, nil
}

// Row is one line of the driver's table.
type Row struct {
	Name     string
	Items    int64
	Pages    int
	ReqPage  float64 // Query requests per page; 1 means no re-fetch
	InBytes  int64   // Query response bytes
	Out      int64   // manifest bytes
	Wall     time.Duration
	CPU      time.Duration
	Mallocs  uint64
	PeakRSS  int64
	Refetchd int
	// Summed over the requests (see Stats): the fake's lateness past the
	// latency, and the client's time between pages.
	Overshoot, ClientGap time.Duration
	Requests             int // Query requests the fake answered
}

func (r Row) itemsPerSec() float64 { return float64(r.Items) / r.Wall.Seconds() }
func (r Row) inMBps() float64      { return float64(r.InBytes) / 1e6 / r.Wall.Seconds() }

// CPUPerGB is CPU seconds per GB of Query responses read.
func (r Row) CPUPerGB() float64 {
	if r.InBytes == 0 {
		return 0
	}
	return r.CPU.Seconds() / (float64(r.InBytes) / 1e9)
}

func (r Row) allocsPerItem() float64 {
	if r.Items == 0 {
		return 0
	}
	return float64(r.Mallocs) / float64(r.Items)
}

// WriteHeader writes the column names of WriteRow.
func WriteHeader(w io.Writer) {
	fmt.Fprintf(w, "%-36s %9s %6s %8s %9s %9s %8s %8s %7s %8s %11s %8s %8s\n",
		"run", "items", "pages", "req/page", "wall", "items/s", "in MB/s", "out MB", "CPU s", "CPU s/GB", "allocs/item", "peak MiB", "refetch")
}

// WriteRow writes r as one line.
func WriteRow(w io.Writer, r Row) {
	fmt.Fprintf(w, "%-36s %9d %6d %8.3f %9s %9.0f %8.1f %8.1f %7.2f %8.2f %11.2f %8.1f %8d\n",
		r.Name, r.Items, r.Pages, r.ReqPage, r.Wall.Round(time.Millisecond), r.itemsPerSec(), r.inMBps(),
		float64(r.Out)/1e6, r.CPU.Seconds(), r.CPUPerGB(), r.allocsPerItem(), float64(r.PeakRSS)/(1<<20), r.Refetchd)
}
