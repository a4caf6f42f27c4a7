package ddbrange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

// client is an SDK client of d that does not retry.
func client(d *Server) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(d.URL()), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", ""),
	})
}

// testKey is a generated sort key: its DynamoDB JSON and, for the brute
// force, a value ordered independently of the fake's comparison (N as a
// 512-bit float, exact for the digits generated; S and B as bytes).
type testKey struct {
	typ, text string // text: S the string, N the number, B the bytes
	f         *big.Float
}

func (k testKey) json() string {
	switch k.typ {
	case "N", "S":
		return fmt.Sprintf(`{%q:%s}`, k.typ, strconv.Quote(k.text))
	}
	return fmt.Sprintf(`{"B":"%s"}`, b64(k.text))
}

func (k testKey) av() types.AttributeValue {
	switch k.typ {
	case "N":
		return &types.AttributeValueMemberN{Value: k.text}
	case "S":
		return &types.AttributeValueMemberS{Value: k.text}
	}
	return &types.AttributeValueMemberB{Value: []byte(k.text)}
}

func cmpTest(a, b testKey) int {
	if a.typ == "N" {
		return a.f.Cmp(b.f)
	}
	return bytes.Compare([]byte(a.text), []byte(b.text))
}

func b64(s string) string {
	var b strings.Builder
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	in := []byte(s)
	for len(in) > 0 {
		var v uint32
		n := min(3, len(in))
		for i := range 3 {
			v <<= 8
			if i < n {
				v |= uint32(in[i])
			}
		}
		for i := range 4 {
			if i <= n {
				b.WriteByte(enc[v>>(18-6*i)&63])
			} else {
				b.WriteByte('=')
			}
		}
		in = in[n:]
	}
	return b.String()
}

// randKey makes a key of typ: N signed decimals of up to 38 digits, S and
// B short strings drawn from a few pieces so that many are prefixes of
// others (S with non-ASCII, whose bytewise order differs from UTF-16's).
func randKey(r *rand.Rand, typ string) testKey {
	switch typ {
	case "N":
		var s string
		switch r.IntN(4) {
		case 0:
			s = strconv.Itoa(r.IntN(21) - 10)
		case 1:
			s = fmt.Sprintf("%d.%d", r.IntN(2000)-1000, r.IntN(1000))
		case 2:
			s = fmt.Sprintf("%d%019d", 1+r.Int64N(1e18), r.Int64N(1e18)) // 20-38 digits
		default:
			s = fmt.Sprintf("-0.%05d", r.IntN(100000))
		}
		f, _, err := big.ParseFloat(s, 10, 512, big.ToNearestEven)
		if err != nil {
			panic(err)
		}
		return testKey{typ: "N", text: s, f: f}
	case "S":
		pieces := []string{"a", "b", "ab", "é", "日", "~", "A", "0", "\U0001F600"}
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		return testKey{typ: "S", text: b.String()}
	}
	pieces := []byte{0x00, 0x01, 0x7f, 0x80, 0xff}
	b := make([]byte, 1+r.IntN(3))
	for i := range b {
		b[i] = pieces[r.IntN(len(pieces))]
	}
	return testKey{typ: "B", text: string(b)}
}

// testItem is an item of a generated partition.
type testItem struct {
	id      int
	sk, lsk testKey
	hasLSK  bool
	n       int // the attribute "n", for filters
}

// testPartition generates items with distinct sort keys of typ, most with
// an index sort key LSK drawn from three values (so it repeats).
func testPartition(t *testing.T, r *rand.Rand, typ string, n int) ([]testItem, *Partition) {
	t.Helper()
	var items []testItem
	var raw []Item
	for len(items) < n {
		k := randKey(r, typ)
		if slices.ContainsFunc(items, func(it testItem) bool { return cmpTest(it.sk, k) == 0 }) {
			continue
		}
		it := testItem{id: len(items), sk: k, n: r.IntN(100)}
		key := fmt.Sprintf(`"PK":{"S":"p"},"SK":%s`, k.json())
		if r.IntN(5) > 0 {
			it.hasLSK, it.lsk = true, testKey{typ: "S", text: []string{"x", "y", "yy"}[r.IntN(3)]}
			key += `,"LSK":` + it.lsk.json()
		}
		items = append(items, it)
		rest := fmt.Sprintf(`"id":{"N":"%d"},"n":{"N":"%d"},"pad":{"S":"%s"}`, it.id, it.n, strings.Repeat("z", r.IntN(200)))
		raw = append(raw, Item{Key: []byte(key), Rest: []byte(rest)})
	}
	p, err := New(Schema{SortKeyType: typ, Index: "byLSK", IndexSortKey: "LSK"}, raw)
	if err != nil {
		t.Fatal(err)
	}
	return items, p
}

// testQuery is a Query the brute force also answers.
type testQuery struct {
	index   bool
	op      string // "" (no sort condition), =, <, <=, >, >=, BETWEEN, begins_with
	vals    []testKey
	forward bool
	limit   int32 // 0: none
	filter  bool  // n >= 50
	names   bool  // with ExpressionAttributeNames
	esk     *testItem
}

func (q testQuery) String() string {
	var vs []string
	for _, v := range q.vals {
		vs = append(vs, v.json())
	}
	return fmt.Sprintf("index %v %s %v forward %v limit %d filter %v names %v esk %v", q.index, q.op, vs, q.forward, q.limit, q.filter, q.names, q.esk)
}

func (q testQuery) input(table string) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		ScanIndexForward:          aws.Bool(q.forward),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "p"}},
	}
	pk, sk := "PK", "SK"
	if q.index {
		in.IndexName, sk = aws.String("byLSK"), "LSK"
	}
	if q.names {
		in.ExpressionAttributeNames = map[string]string{"#p": pk, "#s": sk}
		pk, sk = "#p", "#s"
	}
	cond := pk + " = :pk"
	switch q.op {
	case "":
	case "BETWEEN":
		cond += fmt.Sprintf(" AND %s BETWEEN :a AND :b", sk)
	case "begins_with":
		cond += fmt.Sprintf(" AND begins_with(%s, :a)", sk)
	default:
		cond += fmt.Sprintf(" and (%s %s :a)", sk, q.op)
	}
	for i, v := range q.vals {
		in.ExpressionAttributeValues[[]string{":a", ":b"}[i]] = v.av()
	}
	in.KeyConditionExpression = aws.String(cond)
	if q.limit > 0 {
		in.Limit = aws.Int32(q.limit)
	}
	if q.filter {
		in.FilterExpression = aws.String("n >= :fifty")
		in.ExpressionAttributeValues[":fifty"] = &types.AttributeValueMemberN{Value: "50"}
	}
	if q.esk != nil {
		in.ExclusiveStartKey = map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "p"}, "SK": q.esk.sk.av()}
		if q.index {
			in.ExclusiveStartKey["LSK"] = q.esk.lsk.av()
		}
	}
	return in
}

// brute answers q by filtering and sorting all items.
func brute(items []testItem, q testQuery) []string {
	key := func(it testItem) testKey {
		if q.index {
			return it.lsk
		}
		return it.sk
	}
	order := func(a, b testItem) int {
		c := cmpTest(key(a), key(b))
		if c == 0 && q.index {
			c = cmpTest(a.sk, b.sk)
		}
		if !q.forward {
			c = -c
		}
		return c
	}
	var got []testItem
	for _, it := range items {
		if q.index && !it.hasLSK {
			continue
		}
		if q.op != "" && !holdsTest(key(it), q) {
			continue
		}
		if q.esk != nil && order(it, *q.esk) <= 0 {
			continue
		}
		got = append(got, it)
	}
	slices.SortFunc(got, order)
	ids := []string{}
	for _, it := range got {
		if !q.filter || it.n >= 50 {
			ids = append(ids, strconv.Itoa(it.id))
		}
	}
	return ids
}

func holdsTest(k testKey, q testQuery) bool {
	c := cmpTest(k, q.vals[0])
	switch q.op {
	case "=":
		return c == 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "BETWEEN":
		return c >= 0 && cmpTest(k, q.vals[1]) <= 0
	case "begins_with":
		return strings.HasPrefix(k.text, q.vals[0].text)
	}
	panic(q.op)
}

// pageAll runs in to the end, paging on LastEvaluatedKey, and returns the
// ids of the items read.
func pageAll(ctx context.Context, c *dynamodb.Client, in *dynamodb.QueryInput) ([]string, int, error) {
	ids := []string{}
	pages := 0
	for {
		out, err := c.Query(ctx, in)
		if err != nil {
			return ids, pages, err
		}
		pages++
		if in.Limit != nil && out.ScannedCount > *in.Limit || out.Count > out.ScannedCount || int(out.Count) != len(out.Items) {
			return ids, pages, fmt.Errorf("page %d: Count %d ScannedCount %d, %d items, Limit %v", pages, out.Count, out.ScannedCount, len(out.Items), in.Limit)
		}
		for _, it := range out.Items {
			ids = append(ids, it["id"].(*types.AttributeValueMemberN).Value)
		}
		if out.LastEvaluatedKey == nil {
			return ids, pages, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// TestPartitionQueries compares random Queries, paged through with the SDK
// on small pages, with a brute-force filter and sort of the same items.
func TestPartitionQueries(t *testing.T) {
	d := NewServer(time.Microsecond)
	t.Cleanup(d.Close)
	c := client(d)
	ctx := context.Background()
	for _, typ := range []string{"N", "S", "B"} {
		t.Run(typ, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(len(typ)), uint64(typ[0])))
			items, p := testPartition(t, r, typ, 150)
			d.AddTable("t"+typ, p, Options{Latency: -1, ReadCap: -1, PageBytes: 1500})
			ops := []string{"", "=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"}
			for i := range 300 {
				q := testQuery{index: r.IntN(3) == 0, op: ops[r.IntN(len(ops))], forward: r.IntN(2) == 0, filter: r.IntN(4) == 0, names: r.IntN(2) == 0}
				if r.IntN(2) == 0 {
					q.limit = 1 + r.Int32N(12)
				}
				val := func() testKey {
					it := items[r.IntN(len(items))]
					switch {
					case q.index && it.hasLSK && r.IntN(4) > 0:
						return it.lsk
					case q.index:
						return testKey{typ: "S", text: []string{"", "w", "x", "xa", "y", "yz", "z"}[r.IntN(7)]}
					case r.IntN(3) > 0:
						return it.sk
					}
					return randKey(r, typ)
				}
				switch q.op {
				case "":
				case "BETWEEN":
					a, b := val(), val()
					if cmpTest(a, b) > 0 {
						a, b = b, a
					}
					q.vals = []testKey{a, b}
				case "begins_with":
					if typ == "N" && !q.index { // no begins_with on N
						q.op, q.vals = ">=", []testKey{val()}
						break
					}
					v := val()
					if v.text == "" {
						v.text = "x"
					}
					cut := 1 + r.IntN(len(v.text))
					for cut < len(v.text) && v.typ == "S" && !utf8Start(v.text[cut]) {
						cut++
					}
					v.text = v.text[:cut]
					q.vals = []testKey{v}
				default:
					q.vals = []testKey{val()}
				}
				// Now and then, start from a key anywhere: an item's, or
				// one between items; within the condition, or not.
				if r.IntN(4) == 0 {
					it := items[r.IntN(len(items))]
					if r.IntN(2) == 0 {
						it.sk = randKey(r, typ)
					}
					if q.index && (!it.hasLSK || r.IntN(3) == 0) {
						it.lsk = testKey{typ: "S", text: []string{"w", "x", "xa", "y", "yz", "z"}[r.IntN(6)]}
					}
					q.esk = &it
				}
				want := brute(items, q)
				got, pages, err := pageAll(ctx, c, q.input("t"+typ))
				k := q.sk(q.esk)
				if q.esk != nil && q.op != "" && !holdsTest(k, q) {
					if !isValidation(err) {
						t.Errorf("query %d (%s): a start key outside the condition: err %v, want a ValidationException", i, q, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("query %d (%s): %v", i, q, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("query %d (%s), %d pages: ids (-brute +fake):\n%s", i, q, pages, diff)
				}
			}
		})
	}
}

// sk is the key esk starts from in the order q reads.
func (q testQuery) sk(esk *testItem) testKey {
	if esk == nil {
		return testKey{}
	}
	if q.index {
		return esk.lsk
	}
	return esk.sk
}

func utf8Start(b byte) bool { return b < 0x80 || b >= 0xc0 }

func isValidation(err error) bool {
	var ve interface{ ErrorCode() string }
	return errors.As(err, &ve) && ve.ErrorCode() == "ValidationException"
}

// TestPartitionPages: pages are cut once their items reach PageBytes, the
// last one read carries the LastEvaluatedKey (even at the end, when the
// cut falls there, as DynamoDB's does), and Stats counts them.
func TestPartitionPages(t *testing.T) {
	d := NewServer(time.Microsecond)
	t.Cleanup(d.Close)
	var items []Item
	for i := range 10 {
		items = append(items, Item{Key: fmt.Appendf(nil, `"PK":{"S":"p"},"SK":{"N":"%d"}`, i), Rest: []byte(`"id":{"N":"1"}`)})
	}
	p, err := New(Schema{}, items)
	if err != nil {
		t.Fatal(err)
	}
	size := int(p.Bytes()) / 10
	tb := d.AddTable("t", p, Options{Latency: -1, ReadCap: -1, PageBytes: 3 * size})
	c := client(d)
	in := &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("PK = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "p"}}}
	var counts []int32
	for {
		out, err := c.Query(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, out.Count)
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if diff := cmp.Diff([]int32{3, 3, 3, 1}, counts); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	st := tb.Stats()
	if st.Pages != 4 || st.Requests != 4 || st.ReadBytes != p.Bytes() {
		t.Errorf("stats %+v: want 4 pages, 4 requests, %d bytes read", st, p.Bytes())
	}
}

// TestPartitionErrors: the requests DynamoDB refuses, and a partition over
// its read cap.
func TestPartitionErrors(t *testing.T) {
	d := NewServer(time.Microsecond)
	t.Cleanup(d.Close)
	var items []Item
	for i := range 100 {
		items = append(items, Item{Key: fmt.Appendf(nil, `"PK":{"S":"p"},"SK":{"N":"%d"}`, i), Rest: []byte(`"x":{"S":"0123456789"}`)})
	}
	p, err := New(Schema{}, items)
	if err != nil {
		t.Fatal(err)
	}
	tb := d.AddTable("t", p, Options{Latency: -1, ReadCap: float64(p.Bytes()) / 2, Burst: time.Second})
	c := client(d)
	ctx := context.Background()
	q := func(cond string, vals ...types.AttributeValue) error {
		in := &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String(cond),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "p"}}}
		for i, v := range vals {
			in.ExpressionAttributeValues[fmt.Sprintf(":v%d", i)] = v
		}
		_, err := c.Query(ctx, in)
		return err
	}
	n := func(s string) types.AttributeValue { return &types.AttributeValueMemberN{Value: s} }
	for _, tc := range []struct {
		name, cond string
		vals       []types.AttributeValue
	}{
		{"no partition key", "SK = :v0", []types.AttributeValue{n("1")}},
		{"BETWEEN upside down", "PK = :p AND SK BETWEEN :v0 AND :v1", []types.AttributeValue{n("2"), n("1")}},
		{"begins_with on N", "PK = :p AND begins_with(SK, :v0)", []types.AttributeValue{n("1")}},
		{"wrong type", "PK = :p AND SK > :v0", []types.AttributeValue{&types.AttributeValueMemberS{Value: "1"}}},
		{"OR", "PK = :p OR SK > :v0", []types.AttributeValue{n("1")}},
		{"not a key", "PK = :p AND x > :v0", []types.AttributeValue{n("1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := q(tc.cond, tc.vals...); !isValidation(err) {
				t.Errorf("%s: %v, want a ValidationException", tc.cond, err)
			}
		})
	}
	// The bucket holds half the partition: the first Query empties it, the
	// next is refused.
	if err := q("PK = :p"); err != nil {
		t.Fatal(err)
	}
	err = q("PK = :p")
	if _, ok := errors.AsType[*types.ProvisionedThroughputExceededException](err); !ok {
		t.Errorf("over the cap: %v, want ProvisionedThroughputExceededException", err)
	}
	if st := tb.Stats(); st.Throttled != 1 || st.Requests != 1 {
		t.Errorf("stats %+v: want 1 request, 1 throttled", st)
	}
}

// TestPartitionDescribe: DescribeTable answers the key schema and the index.
func TestPartitionDescribe(t *testing.T) {
	d := NewServer(time.Microsecond)
	t.Cleanup(d.Close)
	p, err := New(Schema{SortKeyType: "B", Index: "g", IndexSortKey: "G", IndexSortKeyType: "N", Global: true},
		[]Item{{Key: []byte(`"PK":{"S":"p"},"SK":{"B":"AQ=="},"G":{"N":"1"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	d.AddTable("t", p, Options{})
	out, err := client(d).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("t")})
	if err != nil {
		t.Fatal(err)
	}
	tab := out.Table
	got := fmt.Sprint(*tab.KeySchema[0].AttributeName, tab.KeySchema[0].KeyType, *tab.KeySchema[1].AttributeName, tab.KeySchema[1].KeyType,
		len(tab.AttributeDefinitions), *tab.GlobalSecondaryIndexes[0].IndexName, *tab.GlobalSecondaryIndexes[0].KeySchema[1].AttributeName)
	if want := fmt.Sprint("PK", "HASH", "SK", "RANGE", 3, "g", "G"); got != want {
		t.Errorf("DescribeTable: %s, want %s", got, want)
	}
	for _, ad := range tab.AttributeDefinitions {
		if *ad.AttributeName == "SK" && ad.AttributeType != types.ScalarAttributeTypeB {
			t.Errorf("SK is %s, want B", ad.AttributeType)
		}
	}
}

// TestPartitionLatency: a page of half a MiB at 100 ms a MiB takes 50 ms or
// more.
func TestPartitionLatency(t *testing.T) {
	d := NewServer(time.Microsecond)
	t.Cleanup(d.Close)
	var items []Item
	rest := []byte(`"id":{"N":"0"},"x":{"S":"` + strings.Repeat("y", 1000) + `"}`)
	for i := range 512 {
		items = append(items, Item{Key: fmt.Appendf(nil, `"PK":{"S":"p"},"SK":{"N":"%d"}`, i), Rest: rest})
	}
	p, err := New(Schema{}, items)
	if err != nil {
		t.Fatal(err)
	}
	d.AddTable("t", p, Options{ReadCap: -1})
	start := time.Now()
	if _, _, err := pageAll(context.Background(), client(d), &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("PK = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "p"}}}); err != nil {
		t.Fatal(err)
	}
	want := time.Duration(float64(DefaultPageLatency) * float64(p.Bytes()) / (1 << 20))
	if took := time.Since(start); took < want {
		t.Errorf("a page of %d bytes took %s, want at least %s", p.Bytes(), took, want)
	}
}
