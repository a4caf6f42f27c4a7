package attrtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// PageBytes is the approximate size of a full Query page's items, like
// DynamoDB's 1 MB page limit.
const PageBytes = 1 << 20

// AppendItem appends item i in DynamoDB JSON: every attribute type an export
// meets (S, N including a 38-digit one, BOOL, NULL, L, M, SS), strings with
// escapes and non-ASCII text, and a filler that brings the item to size
// bytes (at least about 400).
func AppendItem(dst []byte, i, size int, r *rand.Rand) []byte {
	start := len(dst)
	dst = fmt.Appendf(dst, `{"PK":{"S":"TENANT#bench"},"SK":{"S":"ITEM#%010d"},`, i)
	dst = fmt.Appendf(dst, `"n38":{"N":"%038d"},"qty":{"N":"%d"},"price":{"N":"-%d.%04d"},`,
		r.Uint64N(1e18), r.IntN(1000), r.IntN(100000), r.IntN(10000))
	dst = fmt.Appendf(dst, `"active":{"BOOL":%t},"deletedAt":{"NULL":true},`, i%3 != 0)
	dst = append(dst, `"tags":{"SS":["blue","green","r\u00e9d \"q\""]},`...)
	dst = fmt.Appendf(dst, `"history":{"L":[{"N":"%d"},{"S":"created"},{"BOOL":false},{"M":{"at":{"N":"1700000000%03d"},"by":{"S":"user-%d"}}}]},`,
		r.IntN(50), r.IntN(1000), r.IntN(10000))
	dst = fmt.Appendf(dst, `"address":{"M":{"street":{"S":"%d Rue de l'\u00c9glise"},"city":{"S":"M\u00fcnchen"},"zip":{"S":"%05d"},"geo":{"L":[{"N":"48.1%05d"},{"N":"11.5%05d"}]}}},`,
		r.IntN(200), r.IntN(99999), r.IntN(99999), r.IntN(99999))
	dst = append(dst, `"note":{"S":"line one\nline two \u65e5\u672c\u8a9e \\ tab\t end"},"body":{"S":"`...)
	if fill := size - (len(dst) - start) - 4; fill > 0 {
		dst = append(dst, strings.Repeat("lorem ipsum dolor sit amet ", fill/27+1)[:fill]...)
	}
	return append(dst, `"}}`...)
}
