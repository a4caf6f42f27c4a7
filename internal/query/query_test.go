package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
)

// fakeDB serves scripted pages as raw bodies, through a real client and the
// capture middleware, and records each request's Limit and start key.
type fakeDB struct {
	*ddbwire.Fake
	pages    [][]byte
	err      error // returned after the pages run out
	limits   []int32
	starts   []string
	requests int
}

func newFakeDB(pages [][]byte, err error) *fakeDB {
	f := &fakeDB{pages: pages, err: err}
	f.Fake = ddbwire.NewFake(func(_ context.Context, _ int, in *dynamodb.QueryInput) ([]byte, error) {
		f.requests++
		f.limits = append(f.limits, aws.ToInt32(in.Limit))
		start := ""
		if k, ok := in.ExclusiveStartKey["k"].(*types.AttributeValueMemberS); ok {
			start = k.Value
		}
		f.starts = append(f.starts, start)
		if len(f.pages) == 0 {
			return nil, f.err
		}
		p := f.pages[0]
		f.pages = f.pages[1:]
		return p, nil
	})
	return f
}

// page is a response body of n items, with LastEvaluatedKey {"k": next}
// unless next is empty.
func page(n int, next string) []byte {
	var items []map[string]types.AttributeValue
	for i := range n {
		items = append(items, map[string]types.AttributeValue{"i": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}})
	}
	var lek map[string]types.AttributeValue
	if next != "" {
		lek = map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: next}}
	}
	return ddbwire.Body(items, lek)
}

// oneCapture hands out the same Capture for every page: the callbacks are
// done with a page before the next request.
func oneCapture() func() (*Capture, error) {
	c := &Capture{}
	return func() (*Capture, error) { return c, nil }
}

func TestPages(t *testing.T) {
	tests := []struct {
		name       string
		pages      [][]byte
		limit      int64
		pageSize   int32
		wantItems  int64
		wantPages  int
		wantTrunc  bool
		wantLimits []int32
		wantStarts []string
	}{
		{name: "empty pages with a key are not the end", pages: [][]byte{page(0, "a"), page(0, "b"), page(2, "c"), page(0, "")},
			wantItems: 2, wantPages: 4, wantLimits: []int32{0, 0, 0, 0}, wantStarts: []string{"", "a", "b", "c"}},
		{name: "one page", pages: [][]byte{page(3, "")}, wantItems: 3, wantPages: 1, wantLimits: []int32{0}, wantStarts: []string{""}},
		{name: "pageSize is each request's Limit", pages: [][]byte{page(2, "a"), page(2, "b"), page(1, "")}, pageSize: 2,
			wantItems: 5, wantPages: 3, wantLimits: []int32{2, 2, 2}, wantStarts: []string{"", "a", "b"}},
		{name: "limit caps the last request", pages: [][]byte{page(3, "a"), page(2, "b")}, limit: 5, pageSize: 3,
			wantItems: 5, wantPages: 2, wantTrunc: true, wantLimits: []int32{3, 2}, wantStarts: []string{"", "a"}},
		{name: "limit with a filter keeps asking for what is missing", pages: [][]byte{page(1, "a"), page(0, "b"), page(4, "")}, limit: 5,
			wantItems: 5, wantPages: 3, wantLimits: []int32{5, 4, 4}, wantStarts: []string{"", "a", "b"}},
		{name: "limit reached exactly at the end is not truncated", pages: [][]byte{page(5, "")}, limit: 5,
			wantItems: 5, wantPages: 1, wantLimits: []int32{5}, wantStarts: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := newFakeDB(tc.pages, errors.New("read past the last page"))
			var seen int64
			res, err := Pages(context.Background(), db, Input(&config.Query{TableName: "t", KeyConditionExpression: "k = :k"}), tc.limit, tc.pageSize, oneCapture(),
				func(p *Page) error {
					if n := bytes.Count(p.Raw.Response.Items, []byte(`{"i":`)); n != p.Count {
						t.Errorf("page %d: Count %d, %d items captured", p.Number, p.Count, n)
					}
					seen += int64(p.Count)
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if res.Items != tc.wantItems || seen != tc.wantItems || res.Pages != tc.wantPages || res.Truncated != tc.wantTrunc {
				t.Errorf("got %d items (%d seen), %d pages, truncated %v; want %d, %d, %v", res.Items, seen, res.Pages, res.Truncated, tc.wantItems, tc.wantPages, tc.wantTrunc)
			}
			if tc.wantTrunc == (res.LastEvaluatedKey == nil) {
				t.Errorf("LastEvaluatedKey = %v with truncated %v", res.LastEvaluatedKey, res.Truncated)
			}
			if diff := cmp.Diff(tc.wantLimits, db.limits); diff != "" {
				t.Errorf("request limits (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStarts, db.starts); diff != "" {
				t.Errorf("start keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPagesErrors(t *testing.T) {
	in := Input(&config.Query{TableName: "orders", IndexName: "byUser", KeyConditionExpression: "k = :k"})
	t.Run("query error names table, index and page", func(t *testing.T) {
		cause := errors.New("boom")
		db := newFakeDB([][]byte{page(1, "a")}, cause)
		_, err := Pages(context.Background(), db, in, 0, 0, oneCapture(), func(*Page) error { return nil })
		if !errors.Is(err, cause) {
			t.Fatalf("err = %v, want it to wrap the cause", err)
		}
		for _, want := range []string{"orders", "byUser", "page 2"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q does not mention %q", err, want)
			}
		}
	})
	t.Run("callback error stops paging at once", func(t *testing.T) {
		stop := errors.New("pipe closed")
		db := newFakeDB([][]byte{page(1, "a"), page(1, "b"), page(1, "")}, nil)
		_, err := Pages(context.Background(), db, in, 0, 0, oneCapture(), func(*Page) error { return stop })
		if !errors.Is(err, stop) || db.requests != 1 {
			t.Fatalf("err = %v after %d requests, want the callback's error after 1", err, db.requests)
		}
	})
}

func TestInput(t *testing.T) {
	fwd := false
	in := Input(&config.Query{TableName: "t", IndexName: "i", KeyConditionExpression: "k = :k", FilterExpression: "f", ProjectionExpression: "p", ScanIndexForward: &fwd})
	if aws.ToString(in.IndexName) != "i" || aws.ToString(in.FilterExpression) != "f" || aws.ToString(in.ProjectionExpression) != "p" || aws.ToBool(in.ScanIndexForward) {
		t.Errorf("Input = %+v", in)
	}
	bare := Input(&config.Query{TableName: "t", KeyConditionExpression: "k = :k"})
	if bare.IndexName != nil || bare.FilterExpression != nil || bare.ProjectionExpression != nil || bare.ScanIndexForward != nil || bare.ConsistentRead != nil {
		t.Errorf("optional fields set when not configured: %+v", bare)
	}
}
