package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbrange"
)

// RangeOptions says which range-read rows Drive measures: exports of one
// Partition served with a per-page latency and a read cap, at several
// query.parallelism settings.
type RangeOptions struct {
	Pages   int      // pages of the uniform partition (the others have half as many); 0: skip
	Groups  []string // the row groups to run (RangeGroups' names); nil: all
	Latency time.Duration
	ReadCap float64 // bytes a second
}

// RangeGroup is a set of rows over one partition.
type RangeGroup struct {
	Name, Dist, Type string
	Half             bool     // half the pages of RangeOptions.Pages
	One              bool     // a single page
	Parallelism      []string // one row each
}

// RangeGroups are the range-read rows, in the order Drive runs them.
var RangeGroups = []RangeGroup{
	{Name: "uniform", Dist: Uniform, Type: "N", Parallelism: []string{"1", "4", "16", "auto"}},
	{Name: "skewed", Dist: Skewed, Type: "N", Half: true, Parallelism: []string{"1", "auto"}},
	{Name: "cluster", Dist: Cluster, Type: "N", Half: true, Parallelism: []string{"1", "auto"}},
	{Name: "one-page", Dist: Uniform, Type: "N", One: true, Parallelism: []string{"1", "auto"}},
	{Name: "string", Dist: Uniform, Type: "S", Half: true, Parallelism: []string{"auto"}},
	{Name: "binary", Dist: Uniform, Type: "B", Half: true, Parallelism: []string{"auto"}},
}

// RangeRow is one range-read measurement.
type RangeRow struct {
	Name        string
	Parallelism string
	Stats       ddbrange.Stats
	Fig         Figures
	Err         error
	Readers     []int // the most Query requests in flight in each ReadersEvery, as the fake saw them
	ReadCap     float64
}

// MBps is the partition's bytes over the export's wall time.
func (r RangeRow) MBps() float64 { return float64(r.Stats.Bytes) / 1e6 / r.Fig.Wall.Seconds() }

// CapShare is the bytes read (the cap's count) a second over the cap.
func (r RangeRow) CapShare() float64 {
	return float64(r.Stats.ReadBytes) / r.Fig.Wall.Seconds() / r.ReadCap
}

func driveRange(ctx context.Context, sp Spawner, f *Fakes, o RangeOptions, w io.Writer) error {
	o.Latency = cmp.Or(o.Latency, ddbrange.DefaultPageLatency)
	if o.ReadCap == 0 {
		o.ReadCap = ddbrange.DefaultReadCap
	}
	fmt.Fprintf(w, "\nRange reads: one partition, a page takes %s per MiB, the partition serves at most %.1f MB/s (1 s burst, then ProvisionedThroughputExceededException).\n",
		o.Latency, o.ReadCap/1e6)
	fmt.Fprintf(w, "readers: the most Query requests in flight in each %s, as the fake saw them (run-length: 4x10 is ten samples of 4)\n", ReadersEvery)
	fmt.Fprintf(w, "%-24s %7s %5s %8s %9s %9s %7s %6s %6s %8s %6s %8s  %s\n",
		"run", "items", "pages", "req/page", "throttled", "wall", "MB/s", "cap", "vs p=1", "describe", "CPU s", "peak MiB", "readers")
	var rows []RangeRow
	for _, g := range RangeGroups {
		if o.Groups != nil && !slices.Contains(o.Groups, g.Name) {
			continue
		}
		pages := o.Pages
		switch {
		case g.One:
			pages = 1
		case g.Half:
			pages = max(1, pages/2)
		}
		items, err := PartitionItems(g.Dist, g.Type, pages, 1)
		if err != nil {
			return err
		}
		p, err := ddbrange.New(ddbrange.Schema{SortKeyType: g.Type}, items)
		if err != nil {
			return err
		}
		var one time.Duration
		for _, par := range g.Parallelism {
			name := fmt.Sprintf("range-%s-%s-p%s", g.Name, g.Type, par)
			f.DynamoDB.AddPartition(name, p, ddbrange.Options{Latency: o.Latency, ReadCap: o.ReadCap})
			stop := f.DynamoDB.SampleReaders(name, ReadersEvery)
			fig, err := sp.Run(ctx, Job{Mode: "export", Table: name, Key: name + ".jsonl", Parallelism: par}, f.Env())
			r := RangeRow{Name: fmt.Sprintf("%s %s p=%s", g.Name, g.Type, par), Parallelism: par, Fig: fig, Err: err,
				Readers: trimZeros(stop()), Stats: f.DynamoDB.PartitionStats(name), ReadCap: o.ReadCap}
			f.DynamoDB.RemoveTable(name)
			if err == nil && fig.Items != int64(r.Stats.Items) {
				r.Err = fmt.Errorf("exported %d items of %d", fig.Items, r.Stats.Items)
			}
			if par == "1" && r.Err == nil {
				one = fig.Wall
			}
			writeRangeRow(w, r, one)
			rows = append(rows, r)
		}
	}
	if slices.ContainsFunc(rows, func(r RangeRow) bool { return r.Parallelism != "1" && r.Err == nil && r.Stats.MaxInFlight <= 1 }) {
		fmt.Fprintln(w, "  (rows marked \"sequential\" had one Query in flight at most: the export read the partition with one reader whatever query.parallelism said)")
	}
	return nil
}

func writeRangeRow(w io.Writer, r RangeRow, one time.Duration) {
	if r.Err != nil {
		msg, _, _ := strings.Cut(r.Err.Error(), "\n")
		fmt.Fprintf(w, "%-24s FAILED: %s (fake: %d requests, %d throttled, %d invalid)\n", r.Name, msg, r.Stats.Requests, r.Stats.Throttled, r.Stats.Invalid)
		return
	}
	vs := "-"
	if one > 0 {
		vs = fmt.Sprintf("%.2fx", one.Seconds()/r.Fig.Wall.Seconds())
	}
	fmt.Fprintf(w, "%-24s %7d %5d %8.3f %9d %9s %7.1f %5.0f%% %6s %8d %6.2f %8.1f  %s\n",
		r.Name, r.Stats.Items, r.Stats.Pages, r.Stats.RequestsPerPage(), r.Stats.Throttled, r.Fig.Wall.Round(time.Millisecond),
		r.MBps(), 100*r.CapShare(), vs, r.Stats.Describes, r.Fig.CPU.Seconds(), mib(r.Fig.PeakRSS), runLength(r.Readers)+fmt.Sprintf(" (max %d)", r.Stats.MaxInFlight))
	var notes []string
	if r.Parallelism != "1" && r.Stats.MaxInFlight <= 1 {
		notes = append(notes, "sequential")
	}
	if r.Stats.Refetched > 0 {
		notes = append(notes, fmt.Sprintf("%d re-fetched pages", r.Stats.Refetched))
	}
	if r.Stats.Invalid > 0 {
		notes = append(notes, fmt.Sprintf("%d ValidationExceptions", r.Stats.Invalid))
	}
	if slices.ContainsFunc(r.Fig.Readers, func(n int) bool { return n != 0 }) {
		notes = append(notes, "export's Progress.Readers: "+runLength(trimZeros(r.Fig.Readers)))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "  (%s)\n", strings.Join(notes, "; "))
	}
}

// trimZeros drops the zeros before the first reading and after the last:
// the child starting and stopping.
func trimZeros(xs []int) []int {
	for len(xs) > 0 && xs[0] == 0 {
		xs = xs[1:]
	}
	for len(xs) > 0 && xs[len(xs)-1] == 0 {
		xs = xs[:len(xs)-1]
	}
	return xs
}

// runLength writes xs with runs shortened: 1 1 1 2 → 1x3 2.
func runLength(xs []int) string {
	var b strings.Builder
	for i := 0; i < len(xs); {
		j := i
		for j < len(xs) && xs[j] == xs[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if j-i > 1 {
			fmt.Fprintf(&b, "%dx%d", xs[i], j-i)
		} else {
			fmt.Fprint(&b, xs[i])
		}
		i = j
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}
