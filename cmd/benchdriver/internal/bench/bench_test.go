package bench

import (
	"context"
	"testing"
	"time"
)

// setup starts HTTP fakes and points awsenv at them for the test's duration.
func setup(tb testing.TB) *Fakes {
	tb.Helper()
	f, err := StartFakes(false, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	Setenv(f.Env(), tb.Setenv)
	return f
}

func TestExportAndFloor(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Deps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, perPage := pageItems(1<<30, 1)
	items := 8*perPage + 100 // nine pages, the last one short; multipart
	f.DynamoDB.AddTable("export", TableOptions{Items: items})
	f.DynamoDB.AddTable("floor", TableOptions{Items: items})

	h := newHandler(d)
	r, err := Export(ctx, h, "export", "out.jsonl", "")
	if err != nil {
		t.Fatal(err)
	}
	obj, ok := f.S3.Object(Bucket, "out.jsonl")
	if !ok {
		t.Fatal("no object written")
	}
	if r.ItemCount != int64(items) || obj.Size != r.SizeBytes || obj.Parts < 2 {
		t.Errorf("reply itemCount %d sizeBytes %d, object %d bytes; want %d items, sizes equal, multipart", r.ItemCount, r.SizeBytes, obj.Size, items)
	}
	st := f.DynamoDB.Stats("export")
	if st.Pages != 9 || st.Requests < st.Pages {
		t.Errorf("stats %+v: want 9 pages, each requested", st)
	}
	t.Logf("export: %+v, object %+v, S3 %+v", st, obj, f.S3.Stats())

	fr, err := Floor(ctx, d.DynamoDB, "floor")
	if err != nil {
		t.Fatal(err)
	}
	fst := f.DynamoDB.Stats("floor")
	if fr.Pages != fst.Pages || fr.Bytes < fst.ResponseBytes {
		t.Errorf("floor read %+v, fake served %+v", fr, fst)
	}
	t.Logf("floor: %+v, %+v", fr, fst)
}

// benchPages is the size of one benchmark op: about 16 MB of Query pages.
const benchPages = 16

func BenchmarkExport(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	d, err := Deps(ctx)
	if err != nil {
		b.Fatal(err)
	}
	h := newHandler(d)
	_, perPage := pageItems(1<<30, 1)
	f.DynamoDB.AddTable("bench", TableOptions{Items: benchPages * perPage})
	var items, out int64
	start := Take()
	for b.Loop() {
		r, err := Export(ctx, h, "bench", "out.jsonl", "")
		if err != nil {
			b.Fatal(err)
		}
		items += r.ItemCount
		out += r.SizeBytes
	}
	report(b, Take(), start, items, int64(b.N)*f.DynamoDB.Stats("bench").ResponseBytes, f.DynamoDB.Stats("bench"))
	b.ReportMetric(float64(out)/1e6/b.Elapsed().Seconds(), "out-MB/s")
}

func BenchmarkFloor(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	d, err := Deps(ctx)
	if err != nil {
		b.Fatal(err)
	}
	_, perPage := pageItems(1<<30, 1)
	f.DynamoDB.AddTable("bench", TableOptions{Items: benchPages * perPage})
	var in int64
	start := Take()
	for b.Loop() {
		r, err := Floor(ctx, d.DynamoDB, "bench")
		if err != nil {
			b.Fatal(err)
		}
		in += r.Bytes
	}
	report(b, Take(), start, int64(b.N*benchPages*perPage), in, f.DynamoDB.Stats("bench"))
}

// report adds the per-item and per-byte figures. CPU includes the in-process
// fakes (cmd/benchdriver runs them in another process).
func report(b *testing.B, end, start Sample, items, inBytes int64, st Stats) {
	u := start.Since(end)
	b.ReportMetric(float64(items)/u.Wall.Seconds(), "items/s")
	b.ReportMetric(float64(inBytes)/1e6/u.Wall.Seconds(), "in-MB/s")
	b.ReportMetric(u.CPU.Seconds()/(float64(inBytes)/1e9), "cpu-s/GB")
	b.ReportMetric(float64(u.Mallocs)/float64(items), "allocs/item")
	b.ReportMetric(st.RequestsPerPage()/float64(max(1, b.N)), "req/page")
}

// TestPacedPages: a page with a latency is streamed in pieces; it must still
// arrive whole, with the CRC32 the SDK checks (no timing is asserted).
func TestPacedPages(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Deps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, perPage := pageItems(1<<30, 1)
	f.DynamoDB.AddTable("paced", TableOptions{Items: 2*perPage + 7, Latency: 5 * time.Millisecond})
	fr, err := Floor(ctx, d.DynamoDB, "paced")
	if err != nil {
		t.Fatal(err)
	}
	st := f.DynamoDB.Stats("paced")
	if fr.Pages != 3 || fr.Bytes != st.ResponseBytes || st.Refetched != 0 {
		t.Errorf("floor read %+v, fake served %+v", fr, st)
	}
	f.DynamoDB.AddTable("paced-export", TableOptions{Items: 2*perPage + 7, Latency: 5 * time.Millisecond})
	r, err := Export(ctx, newHandler(d), "paced-export", "paced.jsonl", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.ItemCount != int64(2*perPage+7) {
		t.Errorf("exported %d items, want %d", r.ItemCount, 2*perPage+7)
	}
}
