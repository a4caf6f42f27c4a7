package lines_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func forPages(b *testing.B, fn func(b *testing.B, body []byte, resp query.Response)) {
	pages := benchPages()
	for _, name := range []string{"bench", "random", "rich"} {
		body := pages[name]
		resp, err := query.Scan(body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu := processCPU()
			fn(b, body, resp)
			reportCPU(b, cpu)
			b.ReportMetric(float64(resp.Count), "items/op")
		})
	}
}

// BenchmarkItems transcodes the Items of a page (SetBytes: the whole body).
func BenchmarkItems(b *testing.B) {
	for _, f := range formats {
		b.Run(f.String(), func(b *testing.B) {
			forPages(b, func(b *testing.B, body []byte, resp query.Response) {
				tr := lines.NewTranscoder(f)
				var p lines.Page
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

// BenchmarkValid is the floor a page's transcoding is measured against:
// encoding/json's Valid over the whole body, the least a reader that checks
// the JSON does (SetBytes: the whole body, as in BenchmarkItems).
func BenchmarkValid(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid JSON")
			}
		}
	})
}

// BenchmarkScanItems is what a page costs with the package: Scan, then
// transcode (plain).
func BenchmarkScanItems(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		tr := lines.NewTranscoder(config.Plain)
		var p lines.Page
		for b.Loop() {
			resp, err := query.Scan(body)
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

// BenchmarkSDKEncode is what a page cost before the transcoder: the SDK's Query
// deserialisation into types.AttributeValue (through a client whose HTTP
// client answers from memory), then the Encoder (plain).
func BenchmarkSDKEncode(b *testing.B) {
	forPages(b, func(b *testing.B, body []byte, _ query.Response) {
		c := ddbwire.Client(func(*http.Request) []byte { return body })
		enc := lines.NewEncoder(config.Plain)
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
