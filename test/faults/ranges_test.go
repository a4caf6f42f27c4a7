package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

// rangeQuery matches a Query of one key range (the rewritten key
// condition), not the first page's or the last-key Query; it restores the
// body it reads.
func rangeQuery(r *http.Request) bool {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return bytes.Contains(b, []byte("BETWEEN :keyrangeLo"))
}

// storm matches three in four of the first n range Queries (the proxy
// calls it under its lock).
func storm(n int) func(*http.Request) bool {
	seen := 0
	return func(r *http.Request) bool {
		if !rangeQuery(r) {
			return false
		}
		seen++
		return seen <= n && seen%4 != 0
	}
}

// segmentRequest matches a request for a range's segment object.
func segmentRequest(r *http.Request) bool { return strings.Contains(r.URL.Path, ".resume/") }

// parallel reads the query with four readers over small pages.
func parallel(cfg map[string]any) {
	q := cfg["query"].(map[string]any)
	q["parallelism"] = 4
	q["pageSize"] = 120
}

// TestFaultsWithSeveralReaders: with four range readers, a failure in one
// range fails the export and leaves nothing (no manifest, no segment, no
// open upload); a throttle storm only shrinks the readers, and the
// manifest is complete and exact.
func TestFaultsWithSeveralReaders(t *testing.T) {
	tests := []struct {
		name     string
		ddb, s3  []fp.Rule
		wantType string
		wantMsg  []string
		check    func(t *testing.T, r *rig)
	}{
		{
			name:     "a range's Query refused late in the run",
			ddb:      []fp.Rule{{Op: "Query", Match: rangeQuery, Skip: 12, Times: 1, Fault: fp.Error(400, "ValidationException", "One or more parameter values were invalid")}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"ValidationException", "the upload was aborted"},
		},
		{
			name:     "a segment's UploadPart fails beyond the retries",
			s3:       []fp.Rule{{Op: "UploadPart", Match: segmentRequest, Fault: fp.Error(500, "InternalError", "internal error")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"InternalError"},
		},
		{
			// Three range requests in four throttled, 60 in all: more than
			// four readers can take, never more in a row than one reader
			// survives (the SDK's attempts).
			name: "a throttle storm on the range readers",
			ddb:  []fp.Rule{{Op: "Query", Match: storm(80), Fault: fp.Error(400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.")}},
			check: func(t *testing.T, r *rig) {
				if n := r.ddb.Faulted("Query"); n != 60 {
					t.Errorf("%d Query requests throttled, want 60", n)
				}
				if rec := r.lastRecord(t); rec["Throttles"] != 60 {
					t.Errorf("metrics: %d throttles, want 60", rec["Throttles"])
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{})
			r.ddb.Add(tc.ddb...)
			r.s3.Add(tc.s3...)
			key := "manifests/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			out, ferr := invoke(t, r.h, ctx, event(bigUser, r.bucket, key, parallel))
			r.ddb.WaitIdle(ctx)
			r.s3.WaitIdle(ctx)
			if n := r.ddb.Count("DescribeTable"); n == 0 {
				t.Fatal("no DescribeTable: the query was not split into key ranges")
			}
			if tc.check != nil {
				defer tc.check(t, r)
			}
			if tc.wantType == "" {
				if ferr != nil {
					t.Fatalf("failed: %s: %s", ferr.Type, ferr.Message)
				}
				if got := out["itemCount"]; got != json.Number(fmt.Sprint(len(bigItems))) {
					t.Errorf("itemCount = %v, want %d", got, len(bigItems))
				}
				stack.CheckManifest(t, r.bucket, key, bigItems)
			} else {
				if ferr == nil {
					t.Fatalf("succeeded (%v), want %s", out, tc.wantType)
				}
				if ferr.Type != tc.wantType {
					t.Errorf("errorType = %s, want %s; message:\n%s", ferr.Type, tc.wantType, ferr.Message)
				}
				checkMessage(t, ferr.Message, tc.wantMsg...)
				stack.AssertNothingLeft(t, context.Background(), r.bucket, key)
			}
			objs, err := r.s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(key + ".resume/")})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs.Contents {
				t.Errorf("left beside the manifest: %s", aws.ToString(o.Key))
			}
			ups, err := r.s3c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(r.bucket), Prefix: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range ups.Uploads {
				t.Errorf("an upload left open: %s", aws.ToString(u.Key))
			}
		})
	}
}
