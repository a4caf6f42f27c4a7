package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

// lateCleanupBudget stands for the 30 s cleanup budget: every failure below
// comes later than this after the run started, as a failure at minute ten
// of a real run comes later than 30 s.
const lateCleanupBudget = time.Second

// lateUser's partition mixes items that are offloaded (every tenth, 12 KB)
// with items that are not (2 KB), about 12 pages in all.
const lateUser = "late"

var (
	lateOnce sync.Once
	lateErr  error
)

func seedLate(t *testing.T) {
	t.Helper()
	lateOnce.Do(func() {
		var all []map[string]types.AttributeValue
		for i := range 400 {
			small := items(lateUser, 10, 2<<10)
			small[0] = items(lateUser, 1, 12<<10)[0]
			for j, it := range small {
				it["SK"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("ITEM#%06d", i*10+j)}
			}
			all = append(all, small...)
		}
		lateErr = putItems(context.Background(), table, all)
	})
	if lateErr != nil {
		t.Fatalf("seed late: %v", lateErr)
	}
}

// TestLateFailureCleansUp: a failure noticed later than the cleanup budget
// after the start, once parts are uploaded and items offloaded, still
// aborts the upload and deletes every offloaded object, because the budget
// starts when the failure is noticed. A Ctrl-C of the CLI late in a run is
// the cancelled case.
func TestLateFailureCleansUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(r *rig, cancel context.CancelFunc)
		want []string
		typ  string
	}{
		{
			name: "ValidationException on a late page",
			fail: func(r *rig, _ context.CancelFunc) {
				r.ddb.Add(fp.Rule{Op: "Query", Skip: 9, Fault: fp.Error(400, "ValidationException", "late failure")})
			},
			want: []string{"ValidationException", "late failure"},
			typ:  "PermanentStepError",
		},
		{
			name: "cancelled late in the run",
			fail: func(r *rig, cancel context.CancelFunc) {
				go func() {
					for r.ddb.Count("Query") < 10 {
						time.Sleep(10 * time.Millisecond)
					}
					cancel()
				}()
			},
			want: []string{"canceled"},
			typ:  "TransientStepError",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var started time.Time
			r := newRig(t, rigOptions{
				cleanup: lateCleanupBudget,
				offload: export.Offload{Threshold: 10 << 10, Prefix: "unused/"},
			})
			seedLate(t)
			key := "late/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.fail(r, cancel)
			// Every other page is paced (the first rule that applies
			// decides), so the failure comes well after the budget.
			r.ddb.Add(fp.Rule{Op: "Query", Fault: fp.Delay(300 * time.Millisecond)})
			started = time.Now()
			out, ferr := invoke(t, r.h, ctx, event(lateUser, r.bucket, key, func(cfg map[string]any) {
				cfg["enableItemOffloading"] = true
			}))
			if ferr == nil {
				t.Fatalf("succeeded (%v), want a failure", out)
			}
			if el := time.Since(started); el < 2*lateCleanupBudget {
				t.Fatalf("failed after %v, not later than the cleanup budget %v: the test proves nothing", el, lateCleanupBudget)
			}
			if ferr.Type != tc.typ {
				t.Errorf("errorType %s, want %s: %s", ferr.Type, tc.typ, ferr.Message)
			}
			checkMessage(t, ferr.Message, tc.want...)
			if !strings.Contains(ferr.Message, "offloaded item objects deleted") || strings.Contains(ferr.Message, "could not be deleted") {
				t.Errorf("message does not say every offloaded object was deleted: %s", ferr.Message)
			}
			if n := r.s3.Count("UploadPart"); n == 0 {
				t.Errorf("no part was uploaded before the failure: the test proves less than it says")
			}
			stack.AssertNothingLeft(t, context.Background(), r.bucket, key)
			list, err := r.s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String("manifest_items/")})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Contents) > 0 {
				t.Errorf("%d offloaded objects left, e.g. %s", len(list.Contents), aws.ToString(list.Contents[0].Key))
			}
		})
	}
}
