package lines_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
)

// benchItem returns a realistic order item of about 400 bytes of plain JSON:
// keys, strings, numbers, a boolean, a null, a nested map, a list of maps, a
// string set and a small binary.
func benchItem() map[string]types.AttributeValue {
	return item{
		"pk":        &avS{Value: "USER#8f3a2c1e-5b7d-4e9a-a1c2-3d4e5f6a7b8c"},
		"sk":        &avS{Value: "ORDER#2024-05-17T10:32:11.512Z#000123"},
		"status":    &avS{Value: "SHIPPED"},
		"total":     &avN{Value: "1249.99"},
		"quantity":  &avN{Value: "3"},
		"createdAt": &avN{Value: "1715941931512"},
		"gift":      &avBOOL{Value: false},
		"note":      &avNULL{Value: true},
		"customer": &avM{Value: item{
			"name":  &avS{Value: "Zoë Müller"},
			"email": &avS{Value: "zoe.mueller@example.com"},
			"tier":  &avS{Value: "gold"},
		}},
		"lines": &avL{Value: attrs{
			&avM{Value: item{"sku": &avS{Value: "SKU-1042"}, "qty": &avN{Value: "1"}, "price": &avN{Value: "999.99"}}},
			&avM{Value: item{"sku": &avS{Value: "SKU-2210"}, "qty": &avN{Value: "2"}, "price": &avN{Value: "125.00"}}},
		}},
		"tags":  &avSS{Value: []string{"priority", "fragile"}},
		"thumb": &avB{Value: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")},
	}
}

func BenchmarkAppendItem(b *testing.B) {
	it := benchItem()
	for _, f := range []config.Format{config.Plain, config.DynamoDB} {
		b.Run(f.String(), func(b *testing.B) {
			e := lines.NewEncoder(f)
			buf, err := e.AppendItem(nil, it)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				buf, err = e.AppendItem(buf[:0], it)
				if err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkBaseline is the way this package replaces: the SDK's
// attributevalue.UnmarshalMap into a map[string]any, then json.Marshal, on the
// same item as BenchmarkAppendItem/plain (the output is the same but for
// number spelling and set types).
func BenchmarkBaseline(b *testing.B) {
	it := benchItem()
	var m map[string]any
	if err := attributevalue.UnmarshalMap(it, &m); err != nil {
		b.Fatal(err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		var m map[string]any
		if err := attributevalue.UnmarshalMap(it, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process CPU time used since start per operation, as
// cpu-ns/op: on a loaded machine it is steadier than wall time. It includes
// the garbage collector's work on other threads.
func reportCPU(b *testing.B, start int64) {
	if start == 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}
