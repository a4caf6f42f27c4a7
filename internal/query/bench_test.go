package query_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
)

func forPages(b *testing.B, fn func(b *testing.B, body []byte, resp query.Response)) {
	pages := ddbwire.BenchPages()
	for _, name := range []string{"bench", "random"} {
		body := pages[name]
		resp, err := query.Scan(body)
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
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
}

func BenchmarkScan(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		for b.Loop() {
			if _, err := query.Scan(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLocate is what the fetching goroutine runs on each page.
func BenchmarkLocate(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		for b.Loop() {
			if _, err := query.Locate(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestFollowDelimitsItems: following a page as it arrives, in pieces of
// any size, delimits its Items array (so LocateFollowed does not scan it
// again) exactly where Locate finds it.
func TestFollowDelimitsItems(t *testing.T) {
	for name, body := range ddbwire.BenchPages() {
		want, err := query.Locate(body)
		if err != nil {
			t.Fatal(err)
		}
		start := bytes.Index(body, []byte(`"Items":[`)) + len(`"Items":`)
		for _, piece := range []int{1, 7, 1500, 16 << 10, 64 << 10, len(body)} {
			var f query.Follower
			followInPieces(&f, body, piece)
			end, ok := f.End(start)
			if !ok || end != start+len(want.Items) {
				t.Fatalf("%s, pieces of %d: Items [%d:%d] delimited %v, want [%d:%d]", name, piece, start, end, ok, start, start+len(want.Items))
			}
			got, err := query.LocateFollowed(body, &f)
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
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		var f query.Follower
		for b.Loop() {
			f.Reset()
			followInPieces(&f, body, 16<<10)
		}
	})
}

func BenchmarkLocateFollowed(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		var f query.Follower
		f.Follow(body)
		for b.Loop() {
			if _, err := query.LocateFollowed(body, &f); err != nil {
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
	var f query.Follower
	f.Follow(body)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := query.LocateFollowed(body, &f); err != nil {
			b.Fatal(err)
		}
	}
}
