package metrics_test

import (
	"bytes"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
)

// FuzzRoundTrip: whatever the names and values (a namespace from the
// environment, a function name), a record that Append accepts is one line
// that Parse reads back the same, with exact values.
func FuzzRoundTrip(f *testing.F) {
	f.Add("DdbQueryToS3Manifest", "FunctionName", "fn", "ItemsWritten", int64(15000), "requestId", "r-1")
	f.Add("N\"s", "D\u2028", "a\nb", "é", int64(-1<<63), "p\x00", "")
	f.Fuzz(func(t *testing.T, ns, dim, dimValue, metric string, value int64, prop, propValue string) {
		for _, s := range []string{ns, dim, dimValue, metric, prop, propValue} {
			if !utf8.ValidString(s) {
				return // JSON has no way to carry invalid UTF-8: it is replaced
			}
		}
		r := metrics.Record{Namespace: ns, Time: time.UnixMilli(1764871200123), Dimensions: []metrics.Dimension{{Name: dim, Value: dimValue}},
			Metrics: []metrics.Metric{{Name: metric, Unit: metrics.Count, Value: value}}, Properties: []metrics.Property{{Name: prop, Value: propValue}}}
		line, err := r.Append(nil)
		if err != nil {
			return
		}
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("not one line: %q", line)
		}
		got, err := metrics.Parse(line)
		if err != nil {
			t.Fatalf("%v\n%s", err, line)
		}
		if diff := cmp.Diff(r, *got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Fatalf("parsed back (-want +got):\n%s", diff)
		}
	})
}
