package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

// Deadline tests: the invocation has deadlineBudget left, the handler stops
// deadlineMargin before it.
const (
	deadlineBudget = 4 * time.Second
	deadlineMargin = 1500 * time.Millisecond
	stall          = 30 * time.Second // longer than any budget: a stalled call
)

// TestDeadline stalls one call past the invocation's deadline. The handler
// must stop a margin before the deadline, abort, leave nothing, and return a
// TransientStepError that says so and how far it got, before the deadline.
func TestDeadline(t *testing.T) {
	tests := []struct {
		name    string
		user    string
		ddb, s3 []fp.Rule
		wantMsg []string
	}{
		{
			name:    "the second Query page is slower than the deadline",
			user:    bigUser,
			ddb:     []fp.Rule{{Op: "Query", Skip: 1, Fault: fp.Delay(stall)}},
			wantMsg: []string{"deadline", "items written from 1 page;", "margin 1.5s"},
		},
		{
			name:    "the first Query page is slower than the deadline",
			user:    bigUser,
			ddb:     []fp.Rule{{Op: "Query", Fault: fp.Delay(stall)}},
			wantMsg: []string{"deadline", "0 items written from 0 pages"},
		},
		{
			name:    "UploadPart is slower than the deadline",
			user:    bigUser,
			s3:      []fp.Rule{{Op: "UploadPart", Fault: fp.Delay(stall)}},
			wantMsg: []string{"deadline", "items written", "{dest}"},
		},
		{
			name:    "CompleteMultipartUpload is slower than the deadline",
			user:    bigUser,
			s3:      []fp.Rule{{Op: "CompleteMultipartUpload", Fault: fp.Delay(stall)}},
			wantMsg: []string{"deadline", "items written", "{dest}"},
		},
		{
			name:    "the one part is slower than the deadline",
			user:    smallUser,
			s3:      []fp.Rule{{Op: "UploadPart", Fault: fp.Delay(stall)}},
			wantMsg: []string{"deadline", "50 items written", "{dest}"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{margin: deadlineMargin})
			r.ddb.Add(tc.ddb...)
			r.s3.Add(tc.s3...)
			key := "deadline/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			ctx, cancel := context.WithTimeout(context.Background(), deadlineBudget)
			defer cancel()
			dl, _ := ctx.Deadline()
			out, ferr := invoke(t, r.h, ctx, event(tc.user, r.bucket, key, nil))
			returned := time.Now()
			if ferr == nil {
				t.Fatalf("succeeded (%v), want a TransientStepError", out)
			}
			if !returned.Before(dl) {
				t.Errorf("returned %s after the deadline: under Lambda, \"Task timed out\"", returned.Sub(dl))
			}
			if ferr.Type != "TransientStepError" {
				t.Errorf("errorType = %s, want TransientStepError; message:\n%s", ferr.Type, ferr.Message)
			}
			var want []string
			for _, m := range tc.wantMsg {
				want = append(want, strings.ReplaceAll(m, "{dest}", "s3://"+r.bucket+"/"+key))
			}
			checkMessage(t, ferr.Message, want...)
			stack.AssertNothingLeft(t, context.Background(), r.bucket, key)
		})
	}
}
