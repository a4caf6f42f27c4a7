// Package metrics owns the function's metrics: an encoder of CloudWatch
// Embedded Metric Format (EMF) records, one JSON object on one line that
// CloudWatch Logs turns into metrics, and the figures of one invocation
// (Invocation) with the names and units they are published under.
//
// Values are int64 and written with their exact digits: nothing passes
// through float64.
package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units the function's metrics use.
const (
	Count        Unit = "Count"
	Bytes        Unit = "Bytes"
	Milliseconds Unit = "Milliseconds"
)

// Metric is one metric of a record and its value.
type Metric struct {
	Name  string
	Unit  Unit
	Value int64
}

// Dimension is one dimension of a record and its value.
type Dimension struct {
	Name, Value string
}

// Property is a string member of a record that is neither a dimension
// nor a metric: CloudWatch Logs keeps it with the record, so that a query
// can find the record by it (a request id), without a metric per value.
type Property struct {
	Name, Value string
}

// Record is one EMF record: metrics in one namespace, all under one
// dimension set (every dimension the record has), and properties.
type Record struct {
	Namespace  string
	Time       time.Time // the metrics' timestamp (milliseconds)
	Dimensions []Dimension
	Metrics    []Metric
	Properties []Property // Parse returns them sorted by name
}

// Limits of the EMF specification.
const (
	MaxMetrics    = 100 // metric definitions in one directive
	MaxDimensions = 30  // dimensions in one dimension set
	maxNameLen    = 255 // a namespace's, metric's or dimension's name
)

// awsMember is the root member holding the record's metadata.
const awsMember = "_aws"

// Validate says why r is not a valid EMF record, or nil.
func (r *Record) Validate() error {
	if err := checkName("namespace", r.Namespace); err != nil {
		return err
	}
	if len(r.Metrics) == 0 || len(r.Metrics) > MaxMetrics {
		return fmt.Errorf("metrics: %d metrics, want 1 to %d", len(r.Metrics), MaxMetrics)
	}
	if len(r.Dimensions) > MaxDimensions {
		return fmt.Errorf("metrics: %d dimensions, want at most %d", len(r.Dimensions), MaxDimensions)
	}
	seen := map[string]bool{awsMember: true}
	for _, d := range r.Dimensions {
		if err := checkName("dimension", d.Name); err != nil {
			return err
		}
		if seen[d.Name] {
			return fmt.Errorf("metrics: member %q given twice", d.Name)
		}
		if d.Value == "" {
			return fmt.Errorf("metrics: dimension %q has no value", d.Name)
		}
		seen[d.Name] = true
	}
	for _, p := range r.Properties {
		if err := checkName("property", p.Name); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("metrics: member %q given twice", p.Name)
		}
		seen[p.Name] = true
	}
	for _, m := range r.Metrics {
		if err := checkName("metric", m.Name); err != nil {
			return err
		}
		if seen[m.Name] {
			return fmt.Errorf("metrics: member %q given twice", m.Name)
		}
		seen[m.Name] = true
		if m.Unit == "" {
			return fmt.Errorf("metrics: metric %q has no unit", m.Name)
		}
	}
	return nil
}

func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("metrics: %s name %q: want 1 to %d characters", what, s, maxNameLen)
	}
	return nil
}

// Append appends r to b as one line: the JSON object and a newline. It
// fails when r is not valid (Validate).
func (r *Record) Append(b []byte) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return b, err
	}
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = appendString(b, r.Namespace)
	b = append(b, `,"Dimensions":[[`...)
	for i, d := range r.Dimensions {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, d.Name)
	}
	b = append(b, `]],"Metrics":[`...)
	for i, m := range r.Metrics {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Name":`...)
		b = appendString(b, m.Name)
		b = append(b, `,"Unit":`...)
		b = appendString(b, string(m.Unit))
		b = append(b, '}')
	}
	b = append(b, `]}]}`...)
	for _, d := range r.Dimensions {
		b = append(b, ',')
		b = appendString(b, d.Name)
		b = append(b, ':')
		b = appendString(b, d.Value)
	}
	for _, p := range r.Properties {
		b = append(b, ',')
		b = appendString(b, p.Name)
		b = append(b, ':')
		b = appendString(b, p.Value)
	}
	for _, m := range r.Metrics {
		b = append(b, ',')
		b = appendString(b, m.Name)
		b = append(b, ':')
		b = strconv.AppendInt(b, m.Value, 10)
	}
	return append(b, '}', '\n'), nil
}

// appendString appends s as a JSON string. encoding/json escapes what a
// log line must not hold raw (control characters, U+2028, U+2029) and
// replaces invalid UTF-8.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// The names of an invocation's metrics.
const (
	ItemsWritten   = "ItemsWritten"
	BytesWritten   = "BytesWritten"
	Pages          = "Pages"
	QueryRetries   = "QueryRetries"
	Throttles      = "Throttles"
	ItemsOffloaded = "ItemsOffloaded"
	Readers        = "Readers"
	Continuations  = "Continuations"
	Failures       = "Failures"
	DurationMs     = "DurationMs"
)

// Invocation is what one invocation did: for a resumable export, this
// invocation's share, not the export's totals.
type Invocation struct {
	Items, Bytes int64 // lines written to the manifest, and their bytes
	Pages        int64 // Query pages read and written
	QueryRetries int64 // Query attempts that repeated a request
	Throttles    int64 // Query attempts DynamoDB throttled
	Offloaded    int64 // items written to objects of their own
	Readers      int64 // the most Query readers that ran at once
	// Continuation: the invocation handed back a continuation. Failed: it
	// returned an error.
	Continuation, Failed bool
	Duration             time.Duration
}

// Metrics returns inv's figures as metrics, in a fixed order.
func (inv Invocation) Metrics() []Metric {
	return []Metric{
		{ItemsWritten, Count, inv.Items},
		{BytesWritten, Bytes, inv.Bytes},
		{Pages, Count, inv.Pages},
		{QueryRetries, Count, inv.QueryRetries},
		{Throttles, Count, inv.Throttles},
		{ItemsOffloaded, Count, inv.Offloaded},
		{Readers, Count, inv.Readers},
		{Continuations, Count, one(inv.Continuation)},
		{Failures, Count, one(inv.Failed)},
		{DurationMs, Milliseconds, inv.Duration.Milliseconds()},
	}
}

func one(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// DefaultNamespace is the namespace when none is configured.
const DefaultNamespace = "DdbQueryToS3Manifest"

// FunctionNameDimension is the dimension an Emitter's records carry.
const FunctionNameDimension = "FunctionName"

// Emitter writes one EMF record per invocation to W. A nil *Emitter writes
// nothing (metrics are off). It is safe for concurrent use: each record is
// one Write.
type Emitter struct {
	w            io.Writer
	namespace    string
	functionName string
	now          func() time.Time
	mu           sync.Mutex
	buf          []byte
}

// NewEmitter returns an Emitter writing to w records in namespace
// (DefaultNamespace when empty), dimensioned by FunctionName functionName
// (without a dimension when it is empty: outside Lambda).
func NewEmitter(w io.Writer, namespace, functionName string) (*Emitter, error) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if err := checkName("namespace", namespace); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, errors.New("metrics: no writer")
	}
	return &Emitter{w: w, namespace: namespace, functionName: functionName, now: time.Now}, nil
}

// Emit writes inv's record, stamped now, with props (those with an empty
// value are left out).
func (e *Emitter) Emit(inv Invocation, props ...Property) error {
	if e == nil {
		return nil
	}
	r := Record{Namespace: e.namespace, Time: e.now(), Metrics: inv.Metrics()}
	for _, p := range props {
		if p.Value != "" {
			r.Properties = append(r.Properties, p)
		}
	}
	if e.functionName != "" {
		r.Dimensions = []Dimension{{FunctionNameDimension, e.functionName}}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.buf, err = r.Append(e.buf[:0]); err != nil {
		return err
	}
	_, err = e.w.Write(e.buf)
	return err
}

// validUnits are the units the EMF specification allows.
var validUnits = map[string]bool{}

func init() {
	for _, u := range []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
		"Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
		"Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
		"Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"} {
		validUnits[u] = true
	}
}

// Parse reads one EMF record from line (a JSON object, perhaps followed by
// a newline), checking it against the shape the EMF specification gives:
// an _aws member holding exactly Timestamp (an integer) and
// CloudWatchMetrics (one directive here, with Namespace, Dimensions and
// Metrics), every dimension a string member of the root and every metric
// an integer member with a valid unit. Values are read exactly, as int64.
// Tests use it to read back what an Emitter wrote.
func Parse(line []byte) (*Record, error) {
	var root map[string]json.RawMessage
	if err := strictUnmarshal(line, &root); err != nil {
		return nil, fmt.Errorf("metrics: record: %w", err)
	}
	var meta struct {
		Timestamp         json.Number
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
	raw, ok := root[awsMember]
	if !ok {
		return nil, errors.New("metrics: record: no _aws member")
	}
	// Member names are case-sensitive, which encoding/json's matching
	// of struct fields is not: they are checked first.
	if err := exactMembers(raw, "Timestamp", "CloudWatchMetrics"); err != nil {
		return nil, fmt.Errorf("metrics: _aws: %w", err)
	}
	if err := strictUnmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("metrics: _aws: %w", err)
	}
	ms, err := strconv.ParseInt(meta.Timestamp.String(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("metrics: _aws.Timestamp %q: want milliseconds, an integer", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) != 1 {
		return nil, fmt.Errorf("metrics: _aws.CloudWatchMetrics: %d directives, want 1", len(meta.CloudWatchMetrics))
	}
	var dirs []json.RawMessage
	if err := json.Unmarshal(root[awsMember], &struct{ CloudWatchMetrics *[]json.RawMessage }{&dirs}); err != nil {
		return nil, err
	}
	if err := exactMembers(dirs[0], "Namespace", "Dimensions", "Metrics"); err != nil {
		return nil, fmt.Errorf("metrics: MetricDirective: %w", err)
	}
	dir := meta.CloudWatchMetrics[0]
	if len(dir.Dimensions) != 1 {
		return nil, fmt.Errorf("metrics: Dimensions: %d dimension sets, want 1", len(dir.Dimensions))
	}
	r := &Record{Namespace: dir.Namespace, Time: time.UnixMilli(ms)}
	named := map[string]bool{awsMember: true}
	for _, name := range dir.Dimensions[0] {
		named[name] = true
		var v string
		if err := strictUnmarshal(root[name], &v); err != nil {
			return nil, fmt.Errorf("metrics: dimension %q: want a string member: %w", name, err)
		}
		r.Dimensions = append(r.Dimensions, Dimension{name, v})
	}
	var defs []json.RawMessage
	if err := json.Unmarshal(dirs[0], &struct{ Metrics *[]json.RawMessage }{&defs}); err != nil {
		return nil, err
	}
	for _, d := range defs {
		if err := exactMembers(d, "Name", "Unit"); err != nil {
			return nil, fmt.Errorf("metrics: MetricDefinition: %w", err)
		}
	}
	for _, m := range dir.Metrics {
		if !validUnits[m.Unit] {
			return nil, fmt.Errorf("metrics: metric %q: unit %q is not a CloudWatch unit", m.Name, m.Unit)
		}
		var n json.Number
		if v := bytes.TrimSpace(root[m.Name]); len(v) > 0 && v[0] == '"' {
			return nil, fmt.Errorf("metrics: metric %q: want a number member, not a string", m.Name)
		}
		if err := strictUnmarshal(root[m.Name], &n); err != nil {
			return nil, fmt.Errorf("metrics: metric %q: want a number member: %w", m.Name, err)
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: metric %q: %q is not an integer", m.Name, n)
		}
		r.Metrics = append(r.Metrics, Metric{m.Name, Unit(m.Unit), v})
		named[m.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(root)) {
		var v string
		if !named[name] && json.Unmarshal(root[name], &v) == nil {
			r.Properties = append(r.Properties, Property{name, v})
		}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// exactMembers checks that the JSON object b has exactly the members
// names, spelt as given.
func exactMembers(b []byte, names ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return fmt.Errorf("no member %q", n)
		}
	}
	if len(m) != len(names) {
		return fmt.Errorf("members %v, want exactly %v", slices.Sorted(maps.Keys(m)), names)
	}
	return nil
}

// strictUnmarshal decodes b into v with exact numbers, refusing unknown
// fields and anything after the value but white space.
func strictUnmarshal(b []byte, v any) error {
	if b == nil {
		return errors.New("absent")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more after the JSON value")
	}
	return nil
}
