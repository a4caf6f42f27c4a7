package ddbwire

import (
	"fmt"
	"math/rand/v2"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const pageBytes = 1 << 20

// BenchPages returns ~1 MB Query response bodies: "bench" in the bench
// driver's shape, "random" of attrtest.RandomItem items (every type, unicode from
// every plane, random escapes and member order).
func BenchPages() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 42))
	items := []byte{'['}
	n := 0
	for len(items) < pageBytes-1024 {
		if n > 0 {
			items = append(items, ',')
		}
		items = attrtest.AppendItem(items, n, 400+r.IntN(601), r)
		n++
	}
	items = append(items, ']')
	bench := fmt.Appendf(nil, `{"Count":%d,"ScannedCount":%d,"Items":%s,"LastEvaluatedKey":{"PK":{"S":"TENANT#bench"},"SK":{"S":"PAGE#0000000001"}}}`, n, n, items)

	var its []map[string]types.AttributeValue
	size := 0
	for size < pageBytes {
		it := attrtest.RandomItem(r, attrtest.Options{MaxSize: 2048})
		its = append(its, it)
		size += attrtest.Size(it)
	}
	random := Writer{R: r}.Body(its, map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}})
	return map[string][]byte{"bench": bench, "random": random}
}
