// Package ddbrange is a fake DynamoDB partition for tests and benchmarks of
// range reads: one partition of items sorted by the sort key (N compared as
// exact decimals, S and B bytewise), answering Query with the key
// conditions DynamoDB accepts on the sort key (=, <, <=, >, >=, BETWEEN,
// begins_with, with or without ExpressionAttributeNames, AND the partition
// key's =), in either order, with Limit, from any ExclusiveStartKey (between
// items too), with a one-term FilterExpression and a top-level
// ProjectionExpression, on the table or on one index whose sort keys repeat;
// and DescribeTable. Pages are cut at 1 MiB of items, take a latency
// proportional to their size, and the partition answers
// ProvisionedThroughputExceededException above a read cap.
//
// A Server serves Tables over HTTP to a real SDK client; cmd/benchdriver's
// fake DynamoDB serves them beside its pre-built pages.
package ddbrange

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options: a page takes DefaultPageLatency per MiB of
// items read, and the partition serves at most DefaultReadCap bytes a
// second, with DefaultBurst of that rate saved up when idle.
const (
	DefaultPageLatency = 100 * time.Millisecond
	DefaultReadCap     = 24e6
	DefaultBurst       = time.Second
	DefaultPageBytes   = 1 << 20
)

// Schema is a range table's key schema. Its partition key is of type S.
type Schema struct {
	PartitionKey string // default "PK"
	SortKey      string // default "SK"
	SortKeyType  string // "N", "S" or "B"; default "N"
	// Index, when set, names a local secondary index whose sort key is
	// IndexSortKey (of type IndexSortKeyType, default "S"); its sort keys
	// may repeat. Global describes it as a global secondary index on the
	// same partition key instead (the fake serves both alike).
	Index            string
	IndexSortKey     string
	IndexSortKeyType string
	Global           bool
}

func (s Schema) withDefaults() Schema {
	s.PartitionKey = cmp.Or(s.PartitionKey, "PK")
	s.SortKey = cmp.Or(s.SortKey, "SK")
	s.SortKeyType = cmp.Or(s.SortKeyType, "N")
	s.IndexSortKeyType = cmp.Or(s.IndexSortKeyType, "S")
	return s
}

// Item is one item of a partition in DynamoDB JSON, as two runs of object
// members: Key holds the key attributes (the index's sort key too, when
// the item has one), such as `"PK":{"S":"a"},"SK":{"N":"1"}`; Rest, which
// may be empty and may be shared between items, the other attributes. The
// item is `{` Key `,` Rest `}`.
type Item struct {
	Key, Rest []byte
}

// Partition is one partition of items sorted by the table's sort key (and,
// when the schema has an index, by the index's sort key then the table's).
// It is immutable once built, so tables may share it.
type Partition struct {
	schema Schema
	pk     string // the partition key's value
	items  []pitem
	table  []int // item indexes in table order
	index  []int // indexes of items with an index sort key, in index order
	bytes  int64 // the items' sizes summed
}

type pitem struct {
	Item
	sk, isk      keyVal
	hasIndex     bool
	pkRaw, skRaw json.RawMessage
	iskRaw       json.RawMessage
	size         int
}

// keyVal is a scalar key value. S and B compare bytewise, N as exact
// decimals.
type keyVal struct {
	typ string   // "S", "N" or "B"
	s   string   // S: the string; B: the bytes; N: the text
	n   *big.Rat // N
}

func cmpKey(a, b keyVal) int {
	if a.typ == "N" && b.typ == "N" {
		return a.n.Cmp(b.n)
	}
	return strings.Compare(a.s, b.s)
}

// parseValue reads a scalar attribute value such as {"N":"1.5"}.
func parseValue(raw []byte) (keyVal, error) {
	var av struct {
		S, N *string
		B    []byte
	}
	if err := json.Unmarshal(raw, &av); err != nil {
		return keyVal{}, err
	}
	switch {
	case av.S != nil:
		return keyVal{typ: "S", s: *av.S}, nil
	case av.N != nil:
		r, ok := new(big.Rat).SetString(*av.N)
		if !ok || strings.ContainsAny(*av.N, "/") {
			return keyVal{}, fmt.Errorf("%q is not a number", *av.N)
		}
		return keyVal{typ: "N", s: *av.N, n: r}, nil
	case av.B != nil:
		return keyVal{typ: "B", s: string(av.B)}, nil
	}
	return keyVal{}, fmt.Errorf("%s is not an S, N or B value", raw)
}

// New sorts items into a partition of schema. Every item must have
// the partition and sort keys (one partition key value for all), sort keys
// must be distinct, and items with the index's sort key are in the index.
func New(schema Schema, items []Item) (*Partition, error) {
	schema = schema.withDefaults()
	p := &Partition{schema: schema, items: make([]pitem, len(items))}
	for i, it := range items {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(append(append([]byte{'{'}, it.Key...), '}'), &m); err != nil {
			return nil, fmt.Errorf("item %d: key: %w", i, err)
		}
		pi := pitem{Item: it, size: len(it.Key) + len(it.Rest) + 2}
		if len(it.Rest) > 0 {
			pi.size++
		}
		var err error
		pk, err := scalar(m, schema.PartitionKey, "S")
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if i == 0 {
			p.pk = pk.s
		} else if pk.s != p.pk {
			return nil, fmt.Errorf("item %d: partition key %q, not %q: a partition has one", i, pk.s, p.pk)
		}
		if pi.sk, err = scalar(m, schema.SortKey, schema.SortKeyType); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		pi.pkRaw, pi.skRaw = compact(m[schema.PartitionKey]), compact(m[schema.SortKey])
		if raw, ok := m[schema.IndexSortKey]; ok && schema.Index != "" {
			if pi.isk, err = scalar(m, schema.IndexSortKey, schema.IndexSortKeyType); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			pi.hasIndex, pi.iskRaw = true, compact(raw)
		}
		p.items[i] = pi
		p.bytes += int64(pi.size)
	}
	p.table = make([]int, len(items))
	for i := range p.table {
		p.table[i] = i
	}
	slices.SortStableFunc(p.table, func(a, b int) int { return cmpKey(p.items[a].sk, p.items[b].sk) })
	for i := 1; i < len(p.table); i++ {
		if cmpKey(p.items[p.table[i-1]].sk, p.items[p.table[i]].sk) == 0 {
			return nil, fmt.Errorf("items %d and %d have the same sort key %s", p.table[i-1], p.table[i], p.items[p.table[i]].skRaw)
		}
	}
	for _, i := range p.table {
		if p.items[i].hasIndex {
			p.index = append(p.index, i)
		}
	}
	// Stable over table order: ties in the index keep the table key's order.
	slices.SortStableFunc(p.index, func(a, b int) int { return cmpKey(p.items[a].isk, p.items[b].isk) })
	return p, nil
}

func scalar(m map[string]json.RawMessage, name, typ string) (keyVal, error) {
	raw, ok := m[name]
	if !ok {
		return keyVal{}, fmt.Errorf("no key attribute %s", name)
	}
	v, err := parseValue(raw)
	if err != nil {
		return keyVal{}, fmt.Errorf("%s: %w", name, err)
	}
	if v.typ != typ {
		return keyVal{}, fmt.Errorf("%s is of type %s, the schema says %s", name, v.typ, typ)
	}
	return v, nil
}

func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// Len is the number of items; Bytes their sizes summed (an item's size is
// the length of its DynamoDB JSON, which is at least its DynamoDB size).
func (p *Partition) Len() int     { return len(p.items) }
func (p *Partition) Bytes() int64 { return p.bytes }

// Pages is how many pages of pageBytes a sequential Query over the whole
// partition reads.
func (p *Partition) Pages(pageBytes int) int {
	pages, n := 1, 0
	for k, i := range p.table {
		n += p.items[i].size
		if n >= pageBytes && k < len(p.table)-1 {
			pages, n = pages+1, 0
		}
	}
	return pages
}

// Options says how a table serves its partition.
type Options struct {
	// Latency is the time a page of one MiB of items takes, from reading
	// the request to answering, proportionally less for smaller pages
	// (never less than the fake's delay); 0: DefaultPageLatency, negative:
	// none.
	Latency time.Duration
	// ReadCap is the bytes of items a second the partition serves; above
	// it a Query is answered ProvisionedThroughputExceededException. 0:
	// DefaultReadCap, negative: no cap.
	ReadCap float64
	Burst   time.Duration // the bucket holds ReadCap × Burst; 0: DefaultBurst
	// PageBytes is where a page is cut, once its items reach it; 0:
	// DefaultPageBytes (DynamoDB's 1 MB).
	PageBytes int
}

func (o Options) withDefaults() Options {
	if o.Latency == 0 {
		o.Latency = DefaultPageLatency
	}
	if o.ReadCap == 0 {
		o.ReadCap = DefaultReadCap
	}
	o.Burst = cmp.Or(o.Burst, DefaultBurst)
	o.PageBytes = cmp.Or(o.PageBytes, DefaultPageBytes)
	return o
}

// Stats counts what a table serving a Partition answered.
type Stats struct {
	Items     int
	Bytes     int64 // the partition's item bytes
	Pages     int   // pages a sequential Query over the whole partition reads
	Requests  int   // Query requests answered with a page
	Throttled int   // Query requests answered ProvisionedThroughputExceededException
	Invalid   int   // Query requests answered ValidationException
	Describes int   // DescribeTable requests
	Refetched int   // pages answered for a request identical to an earlier one
	ReadBytes int64 // item bytes read, which the cap counts
	// ResponseBytes is the bytes of the pages answered.
	ResponseBytes int64
	MaxInFlight   int // the most Query requests in flight at once
}

// RequestsPerPage is Requests / Pages.
func (s Stats) RequestsPerPage() float64 {
	if s.Pages == 0 {
		return 0
	}
	return float64(s.Requests) / float64(s.Pages)
}

// Table is a Partition served with Options: its cap, its latency and its
// counts.
type Table struct {
	p    *Partition
	opts Options

	mu        sync.Mutex
	tokens    float64
	refilled  time.Time
	stats     Stats
	seen      map[string]int
	inFlight  atomic.Int32
	peak      atomic.Int32 // the most in flight since the last sample
	maxFlight atomic.Int32
}

// NewTable serves p with o. Tables may share a partition; each has its own
// cap and counts. Its methods are safe for concurrent use.
func NewTable(p *Partition, o Options) *Table {
	o = o.withDefaults()
	t := &Table{p: p, opts: o, seen: map[string]int{}, refilled: time.Now()}
	t.tokens = o.ReadCap * o.Burst.Seconds()
	return t
}

// Stats reports what t answered so far.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	s := t.stats
	t.mu.Unlock()
	s.Items, s.Bytes, s.Pages = t.p.Len(), t.p.Bytes(), t.p.Pages(t.opts.PageBytes)
	s.MaxInFlight = int(t.maxFlight.Load())
	return s
}

// SampleReaders records, every interval, the most Query requests t had in
// flight at once during that interval, until the returned function is
// called; it returns the samples.
func (t *Table) SampleReaders(every time.Duration) (stop func() []int) {
	done := make(chan struct{})
	var samples []int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				samples = append(samples, int(t.peak.Swap(t.inFlight.Load())))
			}
		}
	}()
	return func() []int {
		close(done)
		wg.Wait()
		return samples
	}
}

// rangeQuery is the part of a Query request a partition table reads.
type rangeQuery struct {
	TableName                 string
	IndexName                 string
	KeyConditionExpression    string
	FilterExpression          string
	ProjectionExpression      string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]json.RawMessage
	ScanIndexForward          *bool
	Limit                     *int
	ExclusiveStartKey         map[string]json.RawMessage
}

// errValidation is a request DynamoDB would answer ValidationException.
type errValidation struct{ msg string }

func (e errValidation) Error() string { return e.msg }

func invalid(format string, args ...any) error { return errValidation{fmt.Sprintf(format, args...)} }

// page is one answer to a Query: its body and the item bytes it read.
type page struct {
	body  []byte
	read  int
	items int
}

// query answers q from t's partition, without the cap or latency.
func (t *Table) query(q *rangeQuery) (page, error) {
	p, s := t.p, t.p.schema
	names := func(n string) (string, error) {
		if strings.HasPrefix(n, "#") {
			v, ok := q.ExpressionAttributeNames[n]
			if !ok {
				return "", invalid("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", n)
			}
			return v, nil
		}
		return n, nil
	}
	values := func(v string) (keyVal, error) {
		raw, ok := q.ExpressionAttributeValues[v]
		if !ok {
			return keyVal{}, invalid("An expression attribute value used in expression is not defined; attribute value: %s", v)
		}
		kv, err := parseValue(raw)
		if err != nil {
			return keyVal{}, invalid("ExpressionAttributeValues contains invalid value: %v for key %s", err, v)
		}
		return kv, nil
	}
	order, sortKey, sortType := p.table, s.SortKey, s.SortKeyType
	if q.IndexName != "" {
		if q.IndexName != s.Index || s.Index == "" {
			return page{}, invalid("The table does not have the specified index: %s", q.IndexName)
		}
		order, sortKey, sortType = p.index, s.IndexSortKey, s.IndexSortKeyType
	}
	kc, err := parseKeyCondition(q.KeyConditionExpression)
	if err != nil {
		return page{}, err
	}
	var pkv keyVal
	var cond *sortCond
	for _, c := range kc {
		name, err := names(c.name)
		if err != nil {
			return page{}, err
		}
		switch {
		case name == s.PartitionKey && c.op == "=":
			if pkv, err = values(c.vals[0]); err != nil {
				return page{}, err
			}
			if pkv.typ != "S" {
				return page{}, invalid("One or more parameter values were invalid: Condition parameter type does not match schema type")
			}
		case name == sortKey && cond == nil:
			sc := &sortCond{op: c.op}
			for _, v := range c.vals {
				kv, err := values(v)
				if err != nil {
					return page{}, err
				}
				if kv.typ != sortType {
					return page{}, invalid("One or more parameter values were invalid: Condition parameter type does not match schema type")
				}
				sc.vals = append(sc.vals, kv)
			}
			if sc.op == "begins_with" && sortType == "N" {
				return page{}, invalid("Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N")
			}
			if sc.op == "BETWEEN" && cmpKey(sc.vals[0], sc.vals[1]) > 0 {
				return page{}, invalid("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: {%s:%s}",
					sortType, sc.vals[0].s, sortType, sc.vals[1].s)
			}
			cond = sc
		default:
			return page{}, invalid("Query condition missed key schema element: %s", s.PartitionKey)
		}
	}
	if pkv.typ == "" {
		return page{}, invalid("Query condition missed key schema element: %s", s.PartitionKey)
	}
	if pkv.s != p.pk {
		order = nil // another partition: empty
	}
	// The positions [lo, hi) of order that meet the sort key condition.
	key := func(i int) keyVal {
		if q.IndexName != "" {
			return p.items[order[i]].isk
		}
		return p.items[order[i]].sk
	}
	lower := func(v keyVal) int { return sort.Search(len(order), func(i int) bool { return cmpKey(key(i), v) >= 0 }) }
	upper := func(v keyVal) int { return sort.Search(len(order), func(i int) bool { return cmpKey(key(i), v) > 0 }) }
	lo, hi := 0, len(order)
	if cond != nil {
		v := cond.vals[0]
		switch cond.op {
		case "=":
			lo, hi = lower(v), upper(v)
		case "<":
			hi = lower(v)
		case "<=":
			hi = upper(v)
		case ">":
			lo = upper(v)
		case ">=":
			lo = lower(v)
		case "BETWEEN":
			lo, hi = lower(v), upper(cond.vals[1])
		case "begins_with":
			lo = lower(v)
			hi = lo + sort.Search(len(order)-lo, func(i int) bool { return !strings.HasPrefix(key(lo+i).s, v.s) })
		}
	}
	forward := q.ScanIndexForward == nil || *q.ScanIndexForward
	limit := -1
	if q.Limit != nil {
		if *q.Limit < 1 {
			return page{}, invalid("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *q.Limit)
		}
		limit = *q.Limit
	}
	// Where to start: after the ExclusiveStartKey in the direction read.
	start, end, step := lo, hi, 1
	if !forward {
		start, end, step = hi-1, lo-1, -1
	}
	if q.ExclusiveStartKey != nil {
		esk, err := t.startKey(q)
		if err != nil {
			return page{}, err
		}
		if cond != nil && !cond.holds(esk.sort) || esk.pk != pkv.s {
			return page{}, invalid("The provided starting key is outside query boundaries based on provided conditions")
		}
		// Compare on the order's key, then (an index) the table's.
		after := func(i int) int {
			c := cmpKey(key(i), esk.sort)
			if c == 0 && q.IndexName != "" {
				c = cmpKey(p.items[order[i]].sk, esk.table)
			}
			return c
		}
		if forward {
			start = lo + sort.Search(hi-lo, func(i int) bool { return after(lo+i) > 0 })
		} else {
			start = lo + sort.Search(hi-lo, func(i int) bool { return after(lo+i) >= 0 }) - 1
		}
	}
	filter, err := parseFilter(q.FilterExpression, names, values)
	if err != nil {
		return page{}, err
	}
	var proj []string
	if q.ProjectionExpression != "" {
		for n := range strings.SplitSeq(q.ProjectionExpression, ",") {
			name, err := names(strings.TrimSpace(n))
			if err != nil {
				return page{}, err
			}
			proj = append(proj, name)
		}
	}
	var items []byte
	count, scanned, read, last := 0, 0, 0, -1
	for i := start; i != end; i += step {
		it := &p.items[order[i]]
		scanned++
		read += it.size
		last = i
		if filter == nil && proj == nil {
			if count > 0 {
				items = append(items, ',')
			}
			items = appendItem(items, it.Item)
			count++
		} else if members, err := splitMembers(appendItem(nil, it.Item)); err != nil {
			return page{}, fmt.Errorf("item %s: %w", it.skRaw, err)
		} else if filter == nil || filter.holds(members) {
			if count > 0 {
				items = append(items, ',')
			}
			items = appendMembers(items, members, proj)
			count++
		}
		if scanned == limit || read >= t.opts.PageBytes {
			break
		}
	}
	body := fmt.Appendf(nil, `{"Count":%d,"ScannedCount":%d,"Items":[`, count, scanned)
	body = append(append(body, items...), ']')
	if last >= 0 && (scanned == limit || read >= t.opts.PageBytes) {
		it := &p.items[order[last]]
		body = fmt.Appendf(body, `,"LastEvaluatedKey":{%q:%s,%q:%s`, s.PartitionKey, it.pkRaw, s.SortKey, it.skRaw)
		if q.IndexName != "" {
			body = fmt.Appendf(body, `,%q:%s`, s.IndexSortKey, it.iskRaw)
		}
		body = append(body, '}')
	}
	return page{body: append(body, '}'), read: read, items: scanned}, nil
}

func appendItem(dst []byte, it Item) []byte {
	dst = append(append(dst, '{'), it.Key...)
	if len(it.Rest) > 0 {
		dst = append(append(dst, ','), it.Rest...)
	}
	return append(dst, '}')
}

// startKey is a request's ExclusiveStartKey: its partition key, the sort
// key of the order read and, for an index, the table's sort key.
type startKey struct {
	pk          string
	sort, table keyVal
}

func (t *Table) startKey(q *rangeQuery) (startKey, error) {
	s := t.p.schema
	want := []string{s.PartitionKey, s.SortKey}
	if q.IndexName != "" {
		want = append(want, s.IndexSortKey)
	}
	bad := invalid("The provided starting key is invalid: The provided key element does not match the schema")
	if len(q.ExclusiveStartKey) != len(want) {
		return startKey{}, bad
	}
	var k startKey
	types := []string{"S", s.SortKeyType, s.IndexSortKeyType}
	for i, name := range want {
		v, err := scalar(q.ExclusiveStartKey, name, types[i])
		if err != nil {
			return startKey{}, bad
		}
		switch i {
		case 0:
			k.pk = v.s
		case 1:
			k.sort, k.table = v, v
		case 2:
			k.sort = v
		}
	}
	return k, nil
}

// sortCond is a key condition on the sort key.
type sortCond struct {
	op   string // =, <, <=, >, >=, BETWEEN, begins_with
	vals []keyVal
}

func (c *sortCond) holds(v keyVal) bool {
	x := cmpKey(v, c.vals[0])
	switch c.op {
	case "=":
		return x == 0
	case "<":
		return x < 0
	case "<=":
		return x <= 0
	case ">":
		return x > 0
	case ">=":
		return x >= 0
	case "BETWEEN":
		return x >= 0 && cmpKey(v, c.vals[1]) <= 0
	case "begins_with":
		return strings.HasPrefix(v.s, c.vals[0].s)
	}
	return false
}

// keyTerm is one term of a key condition: name op vals (names and values
// still as written: #n, :v).
type keyTerm struct {
	name string
	op   string
	vals []string
}

// parseKeyCondition parses the forms DynamoDB accepts: a partition key's
// `name = :v`, optionally AND one sort key term: `name op :v` (op one of
// = < <= > >=), `name BETWEEN :a AND :b` or `begins_with(name, :v)`, each
// term optionally in parentheses.
func parseKeyCondition(expr string) ([]keyTerm, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nil, invalid("Invalid KeyConditionExpression: %v", err)
	}
	var terms []keyTerm
	for len(toks) > 0 {
		var t keyTerm
		var rest []string
		if t, rest, err = parseTerm(toks); err != nil {
			return nil, invalid("Invalid KeyConditionExpression: %v; expression: %s", err, expr)
		}
		terms, toks = append(terms, t), rest
		if len(toks) > 0 {
			if !strings.EqualFold(toks[0], "AND") || len(toks) == 1 {
				return nil, invalid("Invalid KeyConditionExpression: Syntax error; token: %q; expression: %s", toks[0], expr)
			}
			toks = toks[1:]
		}
	}
	if len(terms) == 0 || len(terms) > 2 {
		return nil, invalid("Invalid KeyConditionExpression: %d conditions, want 1 or 2; expression: %s", len(terms), expr)
	}
	return terms, nil
}

func parseTerm(toks []string) (keyTerm, []string, error) {
	if toks[0] == "(" {
		t, rest, err := parseTerm(toks[1:])
		if err != nil {
			return t, nil, err
		}
		if len(rest) == 0 || rest[0] != ")" {
			return t, nil, errors.New("syntax error; missing )")
		}
		return t, rest[1:], nil
	}
	at := func(i int) string {
		if i < len(toks) {
			return toks[i]
		}
		return ""
	}
	isValue := func(s string) bool { return strings.HasPrefix(s, ":") }
	if strings.EqualFold(toks[0], "begins_with") {
		if at(1) != "(" || !isName(at(2)) || at(3) != "," || !isValue(at(4)) || at(5) != ")" {
			return keyTerm{}, nil, errors.New("syntax error in begins_with")
		}
		return keyTerm{name: at(2), op: "begins_with", vals: []string{at(4)}}, toks[6:], nil
	}
	if !isName(toks[0]) {
		return keyTerm{}, nil, fmt.Errorf("syntax error; token: %q", toks[0])
	}
	switch op := at(1); op {
	case "=", "<", "<=", ">", ">=":
		if !isValue(at(2)) {
			return keyTerm{}, nil, fmt.Errorf("syntax error; token: %q", at(2))
		}
		return keyTerm{name: toks[0], op: op, vals: []string{at(2)}}, toks[3:], nil
	default:
		if strings.EqualFold(op, "BETWEEN") && isValue(at(2)) && strings.EqualFold(at(3), "AND") && isValue(at(4)) {
			return keyTerm{name: toks[0], op: "BETWEEN", vals: []string{at(2), at(4)}}, toks[5:], nil
		}
		return keyTerm{}, nil, fmt.Errorf("syntax error; token: %q", op)
	}
}

func isName(s string) bool {
	return s != "" && (s[0] == '#' || s[0] == '_' || s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z') &&
		!strings.EqualFold(s, "AND") && !strings.EqualFold(s, "BETWEEN")
}

// tokenize splits an expression into names (#n or plain), values (:v),
// operators, parentheses and commas.
func tokenize(expr string) ([]string, error) {
	var toks []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',' || c == '=':
			toks, i = append(toks, expr[i:i+1]), i+1
		case c == '<' || c == '>':
			n := 1
			if i+1 < len(expr) && (expr[i+1] == '=' || c == '<' && expr[i+1] == '>') {
				n = 2
			}
			toks, i = append(toks, expr[i:i+n]), i+n
		case c == '#' || c == ':' || c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(expr) && (expr[j] == '_' || expr[j] == '-' || expr[j] >= '0' && expr[j] <= '9' ||
				expr[j] >= 'A' && expr[j] <= 'Z' || expr[j] >= 'a' && expr[j] <= 'z') {
				j++
			}
			toks, i = append(toks, expr[i:j]), j
		default:
			return nil, fmt.Errorf("syntax error; token: %q", expr[i:i+1])
		}
	}
	return toks, nil
}

// member is one attribute of an item: its name and raw value.
type member struct {
	name string
	raw  json.RawMessage
}

// splitMembers splits an item's JSON object into its members, in order.
func splitMembers(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		ms = append(ms, member{name: tok.(string), raw: raw})
	}
	return ms, nil
}

// appendMembers appends an object of the members named in proj (all when
// proj is nil), in the item's order.
func appendMembers(dst []byte, ms []member, proj []string) []byte {
	dst = append(dst, '{')
	n := 0
	for _, m := range ms {
		if proj != nil && !slices.Contains(proj, m.name) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		name, _ := json.Marshal(m.name)
		dst = append(append(append(dst, name...), ':'), m.raw...)
		n++
	}
	return append(dst, '}')
}

// filter is a FilterExpression of one term: `name op :v` (op one of = <>
// < <= > >=), `begins_with(name, :v)`, `attribute_exists(name)` or
// `attribute_not_exists(name)`.
type filter struct {
	name, op string
	val      keyVal
}

func parseFilter(expr string, names func(string) (string, error), values func(string) (keyVal, error)) (*filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	toks, err := tokenize(expr)
	bad := invalid("Invalid FilterExpression: the fake accepts one comparison, begins_with, attribute_exists or attribute_not_exists; expression: %s", expr)
	if err != nil || len(toks) < 3 {
		return nil, bad
	}
	f := &filter{}
	switch fn := strings.ToLower(toks[0]); {
	case (fn == "attribute_exists" || fn == "attribute_not_exists") && len(toks) == 4 && toks[1] == "(" && toks[3] == ")":
		f.op, f.name = fn, toks[2]
	case fn == "begins_with" && len(toks) == 6 && toks[1] == "(" && toks[3] == "," && toks[5] == ")":
		f.op, f.name = fn, toks[2]
		if f.val, err = values(toks[4]); err != nil {
			return nil, err
		}
	case len(toks) == 3 && slices.Contains([]string{"=", "<>", "<", "<=", ">", ">="}, toks[1]) && isName(toks[0]) && strings.HasPrefix(toks[2], ":"):
		f.name, f.op = toks[0], toks[1]
		if f.val, err = values(toks[2]); err != nil {
			return nil, err
		}
	default:
		return nil, bad
	}
	if f.name, err = names(f.name); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *filter) holds(ms []member) bool {
	i := slices.IndexFunc(ms, func(m member) bool { return m.name == f.name })
	switch f.op {
	case "attribute_exists":
		return i >= 0
	case "attribute_not_exists":
		return i < 0
	}
	if i < 0 {
		return false
	}
	v, err := parseValue(ms[i].raw)
	if err != nil || v.typ != f.val.typ {
		return f.op == "<>"
	}
	c := cmpKey(v, f.val)
	switch f.op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "begins_with":
		return v.typ != "N" && strings.HasPrefix(v.s, f.val.s)
	}
	return false
}

// charge takes n bytes from the bucket, or reports that it is empty.
func (t *Table) charge(n int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.opts.ReadCap < 0 {
		return true
	}
	now := time.Now()
	t.tokens = min(t.opts.ReadCap*t.opts.Burst.Seconds(), t.tokens+t.opts.ReadCap*now.Sub(t.refilled).Seconds())
	t.refilled = now
	if t.tokens <= 0 {
		t.stats.Throttled++
		return false
	}
	t.tokens -= float64(n)
	return true
}

// ServeQuery answers a Query; reqBody is the whole request, read at readAt.
// The answer leaves no sooner than delay after readAt, and no sooner than
// the page's latency.
func (t *Table) ServeQuery(w http.ResponseWriter, reqBody []byte, readAt time.Time, delay time.Duration) {
	n := t.inFlight.Add(1)
	defer t.inFlight.Add(-1)
	for {
		p := t.peak.Load()
		if n <= p || t.peak.CompareAndSwap(p, n) {
			break
		}
	}
	for {
		p := t.maxFlight.Load()
		if n <= p || t.maxFlight.CompareAndSwap(p, n) {
			break
		}
	}
	var q rangeQuery
	if err := json.Unmarshal(reqBody, &q); err != nil {
		WriteError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	pg, err := t.query(&q)
	if err != nil {
		if ve, ok := errors.AsType[errValidation](err); ok {
			t.mu.Lock()
			t.stats.Invalid++
			t.mu.Unlock()
			WriteError(w, http.StatusBadRequest, "ValidationException", ve.msg)
			return
		}
		WriteError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	if !t.charge(pg.read) {
		time.Sleep(time.Until(readAt.Add(delay)))
		WriteError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
		return
	}
	sig := string(reqBody)
	t.mu.Lock()
	t.stats.Requests++
	t.stats.ReadBytes += int64(pg.read)
	t.stats.ResponseBytes += int64(len(pg.body))
	if t.seen[sig]++; t.seen[sig] > 1 {
		t.stats.Refetched++
	}
	t.mu.Unlock()
	wait := delay
	if t.opts.Latency > 0 {
		wait = max(wait, time.Duration(float64(t.opts.Latency)*float64(pg.read)/(1<<20)))
	}
	time.Sleep(time.Until(readAt.Add(wait)))
	WriteBody(w, pg.body)
}

// WriteError answers status with a DynamoDB error of type code, with its
// CRC32, as DynamoDB sends one.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteBody answers 200 with a DynamoDB JSON body and its CRC32.
func WriteBody(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/x-amz-json-1.0"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Amz-Crc32"] = []string{strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// Describe is the body of DescribeTable's answer for table name served by
// t, or, when t is nil, for a table whose keys are PK and SK, both S.
func Describe(name string, t *Table) []byte {
	s := Schema{SortKeyType: "S"}.withDefaults()
	items, size := 0, int64(0)
	if t != nil {
		t.mu.Lock()
		t.stats.Describes++
		t.mu.Unlock()
		s, items, size = t.p.schema, t.p.Len(), t.p.Bytes()
	}
	type ks struct{ AttributeName, KeyType string }
	type ad struct{ AttributeName, AttributeType string }
	type index struct {
		IndexName  string
		KeySchema  []ks
		Projection struct{ ProjectionType string }
	}
	tab := map[string]any{
		"TableName": name, "TableStatus": "ACTIVE", "ItemCount": items, "TableSizeBytes": size,
		"KeySchema":            []ks{{s.PartitionKey, "HASH"}, {s.SortKey, "RANGE"}},
		"AttributeDefinitions": []ad{{s.PartitionKey, "S"}, {s.SortKey, s.SortKeyType}},
		"TableArn":             "arn:aws:dynamodb:us-east-1:000000000000:table/" + name,
	}
	if s.Index != "" {
		tab["AttributeDefinitions"] = append(tab["AttributeDefinitions"].([]ad), ad{s.IndexSortKey, s.IndexSortKeyType})
		ix := index{IndexName: s.Index, KeySchema: []ks{{s.PartitionKey, "HASH"}, {s.IndexSortKey, "RANGE"}}}
		ix.Projection.ProjectionType = "ALL"
		if s.Global {
			tab["GlobalSecondaryIndexes"] = []index{ix}
		} else {
			tab["LocalSecondaryIndexes"] = []index{ix}
		}
	}
	b, _ := json.Marshal(map[string]any{"Table": tab})
	return b
}
