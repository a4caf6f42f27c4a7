package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonl"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/allma/ddb-query-to-s3-manifest/internal/wire"
)

const pageBytes = 1 << 20

// benchPages returns ~1 MB Query response bodies: "bench" in internal/bench's
// shape, "random" of attrtest.RandomItem items (every type, unicode from
// every plane, random escapes and member order).
func benchPages(b testing.TB) map[string][]byte {
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
	random := wireWriter{r}.body(its, map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}})
	return map[string][]byte{"bench": bench, "random": random}
}

func forPages(b *testing.B, fn func(b *testing.B, body []byte, resp wire.Response)) {
	pages := benchPages(b)
	for _, name := range []string{"bench", "random"} {
		body := pages[name]
		resp, err := wire.Scan(body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			fn(b, body, resp)
			b.ReportMetric(float64(resp.Count), "items/op")
		})
	}
}

// BenchmarkJSONValid is the floor's cost: encoding/json's validator over
// the whole body.
func BenchmarkJSONValid(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
}

func BenchmarkScan(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		for b.Loop() {
			if _, err := wire.Scan(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLocate is what the fetching goroutine runs on each page.
func BenchmarkLocate(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		for b.Loop() {
			if _, err := wire.Locate(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkItems transcodes the Items of a page (SetBytes: the whole body).
func BenchmarkItems(b *testing.B) {
	for _, f := range formats {
		b.Run(f.String(), func(b *testing.B) {
			forPages(b, func(b *testing.B, body []byte, resp wire.Response) {
				tr := wire.NewTranscoder(f)
				var p wire.Page
				for b.Loop() {
					p.Reset()
					if err := tr.Items(&p, resp.Items); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkScanItems is what a page costs with the package: Scan, then
// transcode (plain).
func BenchmarkScanItems(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		tr := wire.NewTranscoder(config.Plain)
		var p wire.Page
		for b.Loop() {
			resp, err := wire.Scan(body)
			if err != nil {
				b.Fatal(err)
			}
			p.Reset()
			if err := tr.Items(&p, resp.Items); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSDKEncode is what a page costs today: the SDK's Query
// deserialisation into types.AttributeValue (through a client whose HTTP
// client answers from memory), then jsonl's encoder (plain).
func BenchmarkSDKEncode(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		c := dynamodb.New(dynamodb.Options{
			Region:      "us-east-1",
			Credentials: aws.AnonymousCredentials{},
			HTTPClient: doerFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(string(body))), ContentLength: int64(len(body)), Request: r}, nil
			}),
		})
		enc := jsonl.NewEncoder(config.Plain)
		var line []byte
		in := &dynamodb.QueryInput{TableName: aws.String("t")}
		for b.Loop() {
			out, err := c.Query(context.Background(), in)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range out.Items {
				if line, err = enc.AppendItem(line[:0], it); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestFollowDelimitsItems: following a page as it arrives, in pieces of
// any size, delimits its Items array (so LocateFollowed does not scan it
// again) exactly where Locate finds it.
func TestFollowDelimitsItems(t *testing.T) {
	for name, body := range benchPages(t) {
		want, err := wire.Locate(body)
		if err != nil {
			t.Fatal(err)
		}
		start := bytes.Index(body, []byte(`"Items":[`)) + len(`"Items":`)
		for _, piece := range []int{1, 7, 1500, 16 << 10, 64 << 10, len(body)} {
			var f wire.Follower
			followInPieces(&f, body, piece)
			end, ok := f.End(start)
			if !ok || end != start+len(want.Items) {
				t.Fatalf("%s, pieces of %d: Items [%d:%d] delimited %v, want [%d:%d]", name, piece, start, end, ok, start, start+len(want.Items))
			}
			got, err := wire.LocateFollowed(body, &f)
			if err != nil || !bytes.Equal(got.Items, want.Items) || !bytes.Equal(got.LastEvaluatedKey, want.LastEvaluatedKey) || got.Count != want.Count {
				t.Fatalf("%s, pieces of %d: LocateFollowed %v", name, piece, err)
			}
		}
	}
}

// BenchmarkFollow is what the fetching goroutine runs while a page
// arrives (in 16 KiB pieces, a TLS record each), and BenchmarkLocateFollowed
// what is left after its last byte.
func BenchmarkFollow(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		var f wire.Follower
		for b.Loop() {
			f.Reset()
			followInPieces(&f, body, 16<<10)
		}
	})
}

func BenchmarkLocateFollowed(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ wire.Response) {
		var f wire.Follower
		f.Follow(body)
		for b.Loop() {
			if _, err := wire.LocateFollowed(body, &f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLocateFollowedManyArrays: a body of many top-level arrays (not
// a DynamoDB response, but not a reason to go quadratic either).
func BenchmarkLocateFollowedManyArrays(b *testing.B) {
	body := []byte{'{'}
	for len(body) < 1<<20 {
		body = append(body, `"Items":[],`...)
	}
	body = append(body, `"Count":0}`...)
	var f wire.Follower
	f.Follow(body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := wire.LocateFollowed(body, &f); err != nil {
			b.Fatal(err)
		}
	}
}
