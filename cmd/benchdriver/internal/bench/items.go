package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbrange"
)

// pageItems builds the items of one page, comma-separated, and says how many
// it holds: up to max items, sized uniformly between 400 and 1000 bytes, until
// the page holds about attrtest.PageBytes.
func pageItems(max int, seed uint64) ([]byte, int) { return mixItems("", max, seed) }

// Mixes of items for TableOptions.Mix.
const (
	// Rich items are about 2.5 KB each: maps nested four deep, non-ASCII
	// and escaped strings (control characters, quotes, surrogate pairs),
	// numbers of 20 to 38 digits, SS, NS and BS sets, and binary.
	Rich = "rich"
)

// mixItems is pageItems for a mix: "" pageItems' own, or Rich.
func mixItems(mix string, max int, seed uint64) ([]byte, int) {
	r := rand.New(rand.NewPCG(seed, 42))
	buf := make([]byte, 0, attrtest.PageBytes+8192)
	n := 0
	for n < max && len(buf) < attrtest.PageBytes-1024 {
		if n > 0 {
			buf = append(buf, ',')
		}
		if mix == Rich {
			buf = appendRichItem(buf, n, r)
		} else {
			buf = attrtest.AppendItem(buf, n, 400+r.IntN(601), r)
		}
		n++
	}
	return buf, n
}

// appendRichItem appends item i of the Rich mix in DynamoDB JSON.
func appendRichItem(dst []byte, i int, r *rand.Rand) []byte {
	start := len(dst)
	digits := func(n int) string { // n digits, the first not 0
		b := make([]byte, n)
		for k := range b {
			b[k] = byte('0' + r.IntN(10))
		}
		b[0] = byte('1' + r.IntN(9))
		return string(b)
	}
	big := func() string { // 20 to 38 significant digits, signed, some fractional
		n := 20 + r.IntN(19)
		s := digits(n)
		if r.IntN(2) == 0 {
			k := 1 + r.IntN(n-1)
			s = s[:k] + "." + s[k:]
		}
		if r.IntN(3) == 0 {
			s = "-" + s
		}
		return s
	}
	bin := func(n int) string {
		b := make([]byte, n)
		for k := range b {
			b[k] = byte(r.UintN(256))
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	texts := []string{
		`Zo\u00eb \"Q\" \u00d1and\u00fa`, `\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8`, `tab\there\\back\\slash`,
		`ctl \u0001\u001f end`, `emoji \ud83d\ude00\ud83c\udf89`, `\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442`,
		"raw UTF-8 caf\u00e9 \u00fcber na\u00efve \u65e5\u672c", `line\nbreak\r\n`, `</script>&amp;\u2028\u2029`,
	}
	text := func() string { return texts[r.IntN(len(texts))] }
	a := r.IntN(len(texts))
	b := (a + 1 + r.IntN(len(texts)-1)) % len(texts) // a set's members differ
	dst = fmt.Appendf(dst, `{"PK":{"S":"TENANT#bench"},"SK":{"S":"ITEM#%010d"},`, i)
	dst = fmt.Appendf(dst, `"id":{"N":"%s"},"balance":{"N":"%s"},"ratio":{"N":"%s"},`, big(), big(), big())
	dst = fmt.Appendf(dst, `"title":{"S":"%s"},"blob":{"B":"%s"},"flag":{"BOOL":%t},"gone":{"NULL":true},`, text(), bin(96+r.IntN(96)), i%2 == 0)
	dst = fmt.Appendf(dst, `"tags":{"SS":["%s","%s","x-%d"]},"scores":{"NS":["%s","%s","%s"]},"keys":{"BS":["%s","%s"]},`,
		texts[a], texts[b], r.IntN(1e6), big(), big(), big(), bin(16), bin(24))
	dst = fmt.Appendf(dst, `"profile":{"M":{"name":{"S":"%s"},"prefs":{"M":{"lang":{"S":"%s"},"theme":{"M":{"dark":{"BOOL":true},"accent":{"S":"%s"},"levels":{"M":{"a":{"N":"%s"},"b":{"NS":["%s","1"]}}}}}}},"since":{"N":"%s"}}},`,
		text(), text(), text(), big(), big(), big())
	dst = append(dst, `"events":{"L":[`...)
	for k := range 3 + r.IntN(3) {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = fmt.Appendf(dst, `{"M":{"at":{"N":"%s"},"what":{"S":"%s"},"data":{"B":"%s"},"meta":{"M":{"by":{"S":"%s"},"n":{"N":"%s"}}}}}`,
			big(), text(), bin(24+r.IntN(40)), text(), big())
	}
	dst = append(dst, `]},"notes":{"L":[`...)
	for k := 0; len(dst)-start < 2300+r.IntN(400); k++ {
		if k > 0 {
			dst = append(dst, ',')
		}
		if k%3 == 2 {
			dst = fmt.Appendf(dst, `{"N":"%s"}`, big())
		} else {
			dst = fmt.Appendf(dst, `{"S":"%s"}`, text())
		}
	}
	return append(dst, `]}}`...)
}

// Sort key distributions of PartitionItems.
const (
	Uniform = "uniform" // keys uniform over the key space
	// Skewed keys are log-uniform (Zipf-like, s = 1): their density falls
	// as 1/key, so that half of them lie in the lowest 0.003% of the key
	// space and a split of the space into equal ranges leaves most items
	// in the first.
	Skewed = "skewed"
	// Cluster puts 90% of the keys consecutively in one dense run (at 40%
	// of the key space) and 10% uniform around it.
	Cluster = "cluster"
)

// PartitionItems builds the items of a partition of about pages pages (of
// ddbrange.DefaultPageBytes; at least one page, and exactly one when pages is 1) for
// a table of ddbrange.Schema{SortKeyType: typ}: the partition key PK is
// TENANT#bench, the sort key SK of type typ (N: integers below 10^12; S:
// 16 hex digits; B: 8 bytes) is drawn from dist, the other attributes are
// pageItems' mix (400 B to 1 KB), shared between items.
func PartitionItems(dist, typ string, pages int, seed uint64) ([]ddbrange.Item, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	var rests [][]byte
	for i := range 1500 {
		it := attrtest.AppendItem(nil, i, 400+r.IntN(601), r)
		cut := bytes.Index(it, []byte(`"n38"`))
		rests = append(rests, it[cut:len(it)-1])
	}
	// How many items: (pages - 1/2) pages' worth, or one page less a little.
	target := (float64(pages) - 0.5) * ddbrange.DefaultPageBytes
	if pages <= 1 {
		target = ddbrange.DefaultPageBytes - 4096
	}
	// Too many keys (their length is a guess, below any); the items are cut
	// at the target below, which keeps the distribution (keys are shuffled).
	n, size := 0, 0.0
	for size < target {
		size += float64(len(rests[n%len(rests)]) + 40)
		n++
	}
	scale := math.MaxUint64 / 2.0
	if typ == "N" {
		scale = 1e12
	}
	keys := make([]uint64, n)
	for i := range keys {
		var u float64
		switch dist {
		case Uniform:
			u = r.Float64()
		case Skewed:
			u = (math.Exp(r.Float64()*math.Log(1e9)) - 1) / (1e9 - 1)
		case Cluster:
			u = r.Float64()
			if i%10 != 0 {
				u = 0.4 + 1e-6*r.Float64()
			}
		default:
			return nil, fmt.Errorf("unknown key distribution %q", dist)
		}
		keys[i] = uint64(u * scale)
	}
	slices.Sort(keys)
	for i := 1; i < n; i++ {
		keys[i] = max(keys[i], keys[i-1]+1)
	}
	// The items in key order would put the same rests in the same order as
	// the keys; shuffle them, as the order of items is the fake's job.
	r.Shuffle(n, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	items := make([]ddbrange.Item, n)
	for i, k := range keys {
		var key []byte
		switch typ {
		case "N":
			key = fmt.Appendf(nil, `"PK":{"S":"TENANT#bench"},"SK":{"N":"%d"}`, k)
		case "S":
			key = fmt.Appendf(nil, `"PK":{"S":"TENANT#bench"},"SK":{"S":"%016x"}`, k)
		case "B":
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], k)
			key = fmt.Appendf(nil, `"PK":{"S":"TENANT#bench"},"SK":{"B":"%s"}`, base64.StdEncoding.EncodeToString(b[:]))
		default:
			return nil, fmt.Errorf("unknown key type %q", typ)
		}
		items[i] = ddbrange.Item{Key: key, Rest: rests[i%len(rests)]}
	}
	total := 0.0
	for i, it := range items {
		if total += float64(len(it.Key) + len(it.Rest) + 3); total >= target {
			return items[:i+1], nil
		}
	}
	return items, nil
}
