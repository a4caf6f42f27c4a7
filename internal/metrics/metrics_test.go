package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
)

var at = time.UnixMilli(1764871200123)

// TestAppendShape writes one record and compares it, byte for byte, with
// the shape the EMF specification gives: the _aws metadata member (a
// Timestamp in milliseconds and one MetricDirective with Namespace,
// Dimensions as an array of dimension sets, Metrics with Name and Unit),
// then a root member for the dimension and for each metric.
func TestAppendShape(t *testing.T) {
	r := metrics.Record{Namespace: "NS", Time: at, Dimensions: []metrics.Dimension{{"FunctionName", "fn"}},
		Metrics: []metrics.Metric{{"ItemsWritten", metrics.Count, 7}, {"BytesWritten", metrics.Bytes, 1 << 40}, {"DurationMs", metrics.Milliseconds, 12}}}
	got, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"_aws":{"Timestamp":1764871200123,"CloudWatchMetrics":[{"Namespace":"NS","Dimensions":[["FunctionName"]],` +
		`"Metrics":[{"Name":"ItemsWritten","Unit":"Count"},{"Name":"BytesWritten","Unit":"Bytes"},{"Name":"DurationMs","Unit":"Milliseconds"}]}]},` +
		`"FunctionName":"fn","ItemsWritten":7,"BytesWritten":1099511627776,"DurationMs":12}` + "\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if !json.Valid(got) {
		t.Errorf("not valid JSON: %s", got)
	}
}

// TestRoundTrip parses records back (Parse checks the specification's
// shape) and compares every value, exactly: int64 extremes included,
// which float64 would round.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    metrics.Record
	}{
		{"one dimension", metrics.Record{Namespace: "DdbQueryToS3Manifest", Time: at,
			Dimensions: []metrics.Dimension{{"FunctionName", "export-fn"}},
			Metrics:    metrics.Invocation{Items: 3, Bytes: 120, Pages: 1, Readers: 1, Duration: 1500 * time.Millisecond}.Metrics()}},
		{"no dimension", metrics.Record{Namespace: "N", Time: at, Metrics: []metrics.Metric{{"A", metrics.Count, 0}}}},
		{"exact large integers", metrics.Record{Namespace: "N", Time: at, Metrics: []metrics.Metric{
			{"Max", metrics.Count, math.MaxInt64}, {"Min", metrics.Count, math.MinInt64}, {"Odd", metrics.Bytes, 1<<53 + 1}}}},
		{"names that need escaping", metrics.Record{Namespace: "N\"s\\", Time: at,
			Dimensions: []metrics.Dimension{{"Fn\u2028", "a\nb\x00"}}, Metrics: []metrics.Metric{{"é \"q\"", metrics.Count, 1}}}},
		{"properties", metrics.Record{Namespace: "N", Time: at, Metrics: []metrics.Metric{{"A", metrics.Count, 1}},
			Properties: []metrics.Property{{"flowExecutionId", "run-1"}, {"requestId", "r\"1"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line, err := tc.r.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.IndexByte(line, '\n'); i != len(line)-1 {
				t.Fatalf("newline at %d of %d bytes, want one, at the end: %q", i, len(line), line)
			}
			got, err := metrics.Parse(line)
			if err != nil {
				t.Fatalf("%v\n%s", err, line)
			}
			if diff := cmp.Diff(tc.r, *got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("parsed back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	ok := []metrics.Metric{{"A", metrics.Count, 1}}
	tests := []struct {
		name, want string
		r          metrics.Record
	}{
		{"no namespace", "namespace", metrics.Record{Metrics: ok}},
		{"long namespace", "namespace", metrics.Record{Namespace: strings.Repeat("n", 256), Metrics: ok}},
		{"no metrics", "0 metrics", metrics.Record{Namespace: "N"}},
		{"too many metrics", "101 metrics", metrics.Record{Namespace: "N", Metrics: make([]metrics.Metric, 101)}},
		{"metric named _aws", `"_aws" given twice`, metrics.Record{Namespace: "N", Metrics: []metrics.Metric{{"_aws", metrics.Count, 1}}}},
		{"metric named as a dimension", `"A" given twice`, metrics.Record{Namespace: "N", Dimensions: []metrics.Dimension{{"A", "v"}}, Metrics: ok}},
		{"dimension without value", "no value", metrics.Record{Namespace: "N", Dimensions: []metrics.Dimension{{"D", ""}}, Metrics: ok}},
		{"metric without unit", "no unit", metrics.Record{Namespace: "N", Metrics: []metrics.Metric{{"A", "", 1}}}},
		{"property named as a metric", `"A" given twice`, metrics.Record{Namespace: "N", Metrics: ok, Properties: []metrics.Property{{"A", "v"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.Append(nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, line string }{
		{"not JSON", `{"_aws":`},
		{"no _aws", `{"A":1}`},
		{"timestamp not an integer", `{"_aws":{"Timestamp":1.5,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"A":1}`},
		{"unknown _aws member", `{"_aws":{"Timestamp":1,"X":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"A":1}`},
		{"metric member missing", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]}}`},
		{"metric a string", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"A":"1"}`},
		{"bad unit", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Items"}]}]},"A":1}`},
		{"dimension a number", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"D":1,"A":1}`},
		{"lower-case timestamp", `{"_aws":{"timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"A":1}`},
		{"lower-case namespace", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"A":1}`},
		{"lower-case unit", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","unit":"Count"}]}]},"A":1}`},
		{"two values", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},"A":1} {}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := metrics.Parse([]byte(tc.line)); err == nil {
				t.Errorf("parsed %+v, want an error", r)
			}
		})
	}
}

func TestEmitter(t *testing.T) {
	var buf bytes.Buffer
	e, err := metrics.NewEmitter(&buf, "", "fn")
	if err != nil {
		t.Fatal(err)
	}
	inv := metrics.Invocation{Items: 10, Bytes: 200, Pages: 2, QueryRetries: 3, Throttles: 2, Offloaded: 1, Readers: 1,
		Continuation: true, Duration: 2500 * time.Millisecond}
	if err := e.Emit(inv, metrics.Property{Name: "requestId", Value: "r1"}, metrics.Property{Name: "flowExecutionId"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(metrics.Invocation{Failed: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("%d lines, want 2:\n%s", len(lines)-1, buf.String())
	}
	want := map[string]int64{"ItemsWritten": 10, "BytesWritten": 200, "Pages": 2, "QueryRetries": 3, "Throttles": 2,
		"ItemsOffloaded": 1, "Readers": 1, "Continuations": 1, "Failures": 0, "DurationMs": 2500}
	r, err := metrics.Parse([]byte(lines[0]))
	if err != nil {
		t.Fatal(err)
	}
	if r.Namespace != metrics.DefaultNamespace {
		t.Errorf("namespace %q, want %q", r.Namespace, metrics.DefaultNamespace)
	}
	if diff := cmp.Diff([]metrics.Dimension{{"FunctionName", "fn"}}, r.Dimensions); diff != "" {
		t.Errorf("dimensions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, values(r)); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]metrics.Property{{"requestId", "r1"}}, r.Properties); diff != "" {
		t.Errorf("properties, the empty one left out (-want +got):\n%s", diff)
	}
	if r, err = metrics.Parse([]byte(lines[1])); err != nil || values(r)["Failures"] != 1 {
		t.Errorf("second record: Failures %d (%v), want 1", values(r)["Failures"], err)
	}
	var nilEmitter *metrics.Emitter
	if err := nilEmitter.Emit(inv); err != nil {
		t.Errorf("a nil Emitter: %v", err)
	}
}

func values(r *metrics.Record) map[string]int64 {
	m := map[string]int64{}
	if r != nil {
		for _, x := range r.Metrics {
			m[x.Name] = x.Value
		}
	}
	return m
}

func ExampleRecord_Append() {
	r := metrics.Record{Namespace: "DdbQueryToS3Manifest", Time: time.UnixMilli(1764871200123),
		Dimensions: []metrics.Dimension{{Name: "FunctionName", Value: "manifest"}},
		Metrics:    []metrics.Metric{{Name: "ItemsWritten", Unit: metrics.Count, Value: 15000}, {Name: "DurationMs", Unit: metrics.Milliseconds, Value: 1840}}}
	line, err := r.Append(nil)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(line))
	// Output:
	// {"_aws":{"Timestamp":1764871200123,"CloudWatchMetrics":[{"Namespace":"DdbQueryToS3Manifest","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"ItemsWritten","Unit":"Count"},{"Name":"DurationMs","Unit":"Milliseconds"}]}]},"FunctionName":"manifest","ItemsWritten":15000,"DurationMs":1840}
}
