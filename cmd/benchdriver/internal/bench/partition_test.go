package bench

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbrange"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// client is an SDK client of d that does not retry.
func client(d *DynamoDB) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(d.URL()), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", ""),
	})
}

var skN = regexp.MustCompile(`"SK":\{"N":"([0-9]+)"\}`)

// TestPartitionItems: each distribution and key type builds a partition of
// the pages asked for, and the skewed keys are skewed.
func TestPartitionItems(t *testing.T) {
	for _, typ := range []string{"N", "S", "B"} {
		for _, dist := range []string{Uniform, Skewed, Cluster} {
			for _, pages := range []int{1, 3} {
				t.Run(fmt.Sprint(typ, dist, pages), func(t *testing.T) {
					items, err := PartitionItems(dist, typ, pages, 1)
					if err != nil {
						t.Fatal(err)
					}
					p, err := ddbrange.New(ddbrange.Schema{SortKeyType: typ}, items)
					if err != nil {
						t.Fatal(err)
					}
					if got := p.Pages(ddbrange.DefaultPageBytes); got != pages {
						t.Errorf("%d pages, want %d", got, pages)
					}
					if typ != "N" || pages == 1 {
						return
					}
					// The share of items in the lowest tenth of the range.
					var keys []float64
					for _, it := range items {
						m := skN.FindSubmatch(it.Key)
						k, _ := strconv.ParseFloat(string(m[1]), 64)
						keys = append(keys, k)
					}
					lo, hi := slices.Min(keys), slices.Max(keys)
					in := 0
					for _, k := range keys {
						if k < lo+(hi-lo)/10 {
							in++
						}
					}
					share := float64(in) / float64(len(items))
					if dist == Uniform && (share < 0.05 || share > 0.15) || dist == Skewed && share < 0.8 {
						t.Errorf("%s: %.2f of the items in the lowest tenth of the key range", dist, share)
					}
				})
			}
		}
	}
}

// TestPartitionCapUnderLoad: sixteen concurrent range readers, each paging
// through a sixteenth of the key space (BETWEEN) and waiting a little after
// each ProvisionedThroughputExceededException, read every item once, are
// throttled, and read no faster than the cap and its burst allow.
func TestPartitionCapUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("takes two seconds")
	}
	d := NewDynamoDB(false, 0)
	t.Cleanup(d.Close)
	items, err := PartitionItems(Uniform, "N", 12, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ddbrange.New(ddbrange.Schema{}, items)
	if err != nil {
		t.Fatal(err)
	}
	// 12 pages take 1.5 s at 8 MB/s. The bucket holds less than a page, so
	// that requests less than a page's refill apart (1/8 s) are throttled
	// however slow the machine.
	const capacity, burst = 8e6, 10 * time.Millisecond
	d.AddPartition("t", p, ddbrange.Options{ReadCap: capacity, Burst: burst})
	c := client(d)
	ctx := context.Background()
	const readers = 16
	counts := make([]int, readers)
	errs := make(chan error, readers)
	start := time.Now()
	for i := range readers {
		go func() {
			lo, hi := uint64(i)*(1e12/readers), uint64(i+1)*(1e12/readers)-1
			in := &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("PK = :p AND SK BETWEEN :lo AND :hi"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "TENANT#bench"},
					":lo": &types.AttributeValueMemberN{Value: fmt.Sprint(lo)}, ":hi": &types.AttributeValueMemberN{Value: fmt.Sprint(hi)}}}
			for {
				out, err := c.Query(ctx, in)
				if _, ok := errors.AsType[*types.ProvisionedThroughputExceededException](err); ok {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				counts[i] += len(out.Items)
				if out.LastEvaluatedKey == nil {
					errs <- nil
					return
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	st := d.PartitionStats("t")
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != len(items) || st.Throttled == 0 || st.ReadBytes != p.Bytes() {
		t.Errorf("read %d items of %d; stats %+v: want all, some throttled, each byte read once", total, len(items), st)
	}
	if least := time.Duration((float64(p.Bytes()) - capacity*burst.Seconds()) / capacity * float64(time.Second)); took < least {
		t.Errorf("read %d bytes in %s: faster than the cap allows (%s)", p.Bytes(), took, least)
	}
	t.Logf("%d bytes in %s (%.1f MB/s, cap %.1f), %d requests, %d throttled, at most %d in flight",
		p.Bytes(), took, float64(p.Bytes())/1e6/took.Seconds(), capacity/1e6, st.Requests, st.Throttled, st.MaxInFlight)
}

// TestRichItems: the rich mix is valid DynamoDB JSON the SDK decodes, of
// about 2.5 KB an item.
func TestRichItems(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, perPage := mixItems(Rich, 1<<30, 1)
	f.DynamoDB.AddTable("rich", TableOptions{Items: perPage + 5, Mix: Rich})
	in := &dynamodb.QueryInput{TableName: aws.String("rich"), KeyConditionExpression: aws.String("PK = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "TENANT#bench"}}}
	n := 0
	for {
		out, err := client(f.DynamoDB).Query(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Items)
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	st := f.DynamoDB.Stats("rich")
	if n != perPage+5 {
		t.Errorf("read %d items, want %d", n, perPage+5)
	}
	if per := st.ResponseBytes / int64(n); per < 2200 || per > 2900 {
		t.Errorf("%d bytes an item, want about 2,500", per)
	}
}
