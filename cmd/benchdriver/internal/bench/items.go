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
)

// pageItems builds the items of one page, comma-separated, and says how many
// it holds: up to max items, sized uniformly between 400 and 1000 bytes, until
// the page holds about attrtest.PageBytes.
func pageItems(max int, seed uint64) ([]byte, int) {
	r := rand.New(rand.NewPCG(seed, 42))
	buf := make([]byte, 0, attrtest.PageBytes+2048)
	n := 0
	for n < max && len(buf) < attrtest.PageBytes-1024 {
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = attrtest.AppendItem(buf, n, 400+r.IntN(601), r)
		n++
	}
	return buf, n
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
// DefaultPageBytes; at least one page, and exactly one when pages is 1) for
// a table of Schema{SortKeyType: typ}: the partition key PK is
// TENANT#bench, the sort key SK of type typ (N: integers below 10^12; S:
// 16 hex digits; B: 8 bytes) is drawn from dist, the other attributes are
// pageItems' mix (400 B to 1 KB), shared between items.
func PartitionItems(dist, typ string, pages int, seed uint64) ([]Item, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	var rests [][]byte
	for i := range 1500 {
		it := attrtest.AppendItem(nil, i, 400+r.IntN(601), r)
		cut := bytes.Index(it, []byte(`"n38"`))
		rests = append(rests, it[cut:len(it)-1])
	}
	// How many items: (pages - 1/2) pages' worth, or one page less a little.
	target := (float64(pages) - 0.5) * DefaultPageBytes
	if pages <= 1 {
		target = DefaultPageBytes - 4096
	}
	n, size := 0, 0.0
	for size < target {
		size += float64(len(rests[n%len(rests)]) + 60)
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
	items := make([]Item, n)
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
		items[i] = Item{Key: key, Rest: rests[i%len(rests)]}
	}
	return items, nil
}
