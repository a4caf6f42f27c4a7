package bench

import (
	"math/rand/v2"

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
