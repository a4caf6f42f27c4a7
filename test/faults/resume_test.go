package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

// TestFaultInALaterInvocation: a resumable export whose second invocation
// fails. A transient failure keeps the upload, and a retry with the same
// continuation goes on to a complete, exact manifest; a permanent one
// leaves nothing: no object, no open upload, no side object.
func TestFaultInALaterInvocation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    fp.Rule
		wantType string
	}{
		{"throttled beyond the retries", fp.Rule{Op: "Query", Fault: fp.Error(400, "ProvisionedThroughputExceededException", "slow down")}, "TransientStepError"},
		{"S3 500 beyond the retries, writing the tail", fp.Rule{Op: "PutObject", Fault: fp.Error(500, "InternalError", "internal error")}, "TransientStepError"},
		{"ValidationException", fp.Rule{Op: "Query", Fault: fp.Error(400, "ValidationException", "late failure")}, "PermanentStepError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{margin: 1200 * time.Millisecond})
			r.ddb.Add(fp.Rule{Op: "Query", Fault: fp.Delay(30 * time.Millisecond)})
			key := "resume/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			ev := func(continuation string) []byte {
				return event(bigUser, r.bucket, key, func(cfg map[string]any) {
					cfg["resumable"] = true
					cfg["query"].(map[string]any)["pageSize"] = 200
				}, continuation)
			}
			invokeOnce := func(continuation string) (map[string]any, string) {
				ctx, cancel := context.WithTimeout(context.Background(), 1600*time.Millisecond)
				defer cancel()
				out, ferr := invoke(t, r.h, ctx, ev(continuation))
				if ferr != nil {
					return nil, ferr.Type + ": " + ferr.Message
				}
				return out, ""
			}
			out, msg := invokeOnce("")
			if msg != "" || out["complete"] != false {
				t.Fatalf("first invocation: %v %s, want a continuation", out, msg)
			}
			first := out["continuation"].(string)
			// The second invocation meets the fault (ahead of the pacing).
			r.ddb.Clear()
			r.ddb.Add(tc.fault, fp.Rule{Op: "Query", Fault: fp.Delay(30 * time.Millisecond)})
			r.s3.Add(tc.fault)
			if _, msg = invokeOnce(first); !strings.HasPrefix(msg, tc.wantType) {
				t.Fatalf("second invocation: %q, want a %s", msg, tc.wantType)
			}
			r.ddb.Clear()
			r.s3.Clear()
			if tc.wantType == "PermanentStepError" {
				stack.AssertNothingLeft(t, context.Background(), r.bucket, key)
				list, err := r.s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket)})
				if err != nil || len(list.Contents) > 0 {
					t.Errorf("objects left after a permanent failure: %d (%v)", len(list.Contents), err)
				}
				return
			}
			if !strings.Contains(msg, "the upload is kept") {
				t.Errorf("message does not say the upload is kept: %s", msg)
			}
			// Step Functions' Retry sends the same continuation again.
			r.ddb.Add(fp.Rule{Op: "Query", Fault: fp.Delay(30 * time.Millisecond)})
			c := first
			for i := 0; ; i++ {
				if i == 30 {
					t.Fatal("not complete after 30 more invocations")
				}
				out, msg = invokeOnce(c)
				if strings.Contains(msg, "stopped before the invocation's deadline") && strings.Contains(msg, "the upload is kept") {
					// Out of time on a loaded machine where no continuation
					// could be handed on: Retry sends the same one again.
					t.Logf("retry %d: %s; sending the same continuation again", i+1, msg)
					continue
				}
				if msg != "" {
					t.Fatalf("retry %d: %s", i+1, msg)
				}
				if out["complete"] == true {
					break
				}
				c = out["continuation"].(string)
			}
			stack.CheckManifest(t, r.bucket, key, bigItems)
		})
	}
}
