package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/allma/ddb-query-to-s3-manifest/internal/awsenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const kmsDenied = "User: arn:aws:sts::123456789012:assumed-role/manifest/fn is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:123456789012:key/1234abcd because no identity-based policy allows the kms:GenerateDataKey action"

// TestFaultMatrix injects one fault per case between the handler and
// dynalite or versitygw. Placeholders in wantMsg: {table}, {dest} (the
// s3://bucket/key of the manifest).
func TestFaultMatrix(t *testing.T) {
	tests := []struct {
		name     string
		user     string // partition to export: bigUser (several parts) or smallUser (one part)
		ddb, s3  []fp.Rule
		edit     func(cfg map[string]any)
		noBucket bool // the destination bucket does not exist
		// leftOpen: the upload cannot be aborted, so it is left open, and
		// the message must say so with its id.
		leftOpen bool

		wantType string // "" : success
		wantMsg  []string
		// check makes further assertions on the proxies' records.
		check func(t *testing.T, r *rig)
	}{
		{
			name: "DynamoDB throttles three times, then retries recover",
			user: bigUser,
			ddb:  []fp.Rule{{Op: "Query", Times: 3, Fault: fp.Error(400, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.")}},
			check: func(t *testing.T, r *rig) {
				if n := r.ddb.Faulted("Query"); n != 3 {
					t.Errorf("%d Query requests throttled, want 3", n)
				}
				wantQueryMetrics(t, r, 3, false)
			},
		},
		{
			name:     "DynamoDB throttles page 2 beyond the retries",
			user:     bigUser,
			ddb:      []fp.Rule{{Op: "Query", Skip: 1, Fault: fp.Error(400, "ProvisionedThroughputExceededException", "throughput exceeded")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"table {table}", "page 2", "ProvisionedThroughputExceededException", "items written from 1 page;"},
			check: func(t *testing.T, r *rig) {
				wantAttempts("Query", 1+awsenv.MaxAttempts)(t, r)
				wantQueryMetrics(t, r, awsenv.MaxAttempts, true)
			},
		},
		{
			name: "DynamoDB ThrottlingException and RequestLimitExceeded, then retries recover",
			user: bigUser,
			ddb: []fp.Rule{
				{Op: "Query", Skip: 1, Times: 1, Fault: fp.Error(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")},
				{Op: "Query", Skip: 2, Times: 1, Fault: fp.Error(400, "RequestLimitExceeded", "Throughput exceeds the current throughput limit for your account.")},
				{Op: "Query", Skip: 3, Times: 1, Fault: fp.Error(500, "InternalServerError", "internal server error")},
			},
			check: func(t *testing.T, r *rig) { wantQueryMetrics(t, r, 2, false) },
		},
		{
			name:     "DynamoDB 500 on every attempt",
			user:     bigUser,
			ddb:      []fp.Rule{{Op: "Query", Fault: fp.Error(500, "InternalServerError", "internal server error")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"table {table}", "page 1", "InternalServerError", "0 items written"},
			check: func(t *testing.T, r *rig) {
				wantAttempts("Query", awsenv.MaxAttempts)(t, r)
				wantQueryMetrics(t, r, 0, true) // retried, not throttled
			},
		},
		{
			name:     "DynamoDB AccessDeniedException",
			user:     bigUser,
			ddb:      []fp.Rule{{Op: "Query", Fault: fp.Error(400, "AccessDeniedException", "not authorized to perform: dynamodb:Query")}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"table {table}", "AccessDeniedException", "0 items written"},
			check:    wantAttempts("Query", 1),
		},
		{
			name: "connection reset before a Query response, once",
			user: bigUser,
			ddb:  []fp.Rule{{Op: "Query", Skip: 1, Times: 1, Fault: fp.Reset()}},
		},
		{
			name: "connection dropped in the middle of a Query page, once",
			user: bigUser,
			ddb:  []fp.Rule{{Op: "Query", Skip: 2, Times: 1, Fault: fp.CutBody(300 << 10)}},
		},
		{
			name:     "connection dropped in the middle of every Query page",
			user:     bigUser,
			ddb:      []fp.Rule{{Op: "Query", Fault: fp.CutBody(300 << 10)}},
			wantType: "TransientStepError",
			wantMsg:  []string{"table {table}", "page 1", "0 items written"},
		},
		{
			name:     "S3 CreateMultipartUpload AccessDenied",
			user:     bigUser,
			s3:       []fp.Rule{{Op: "CreateMultipartUpload", Fault: fp.Error(403, "AccessDenied", "Access Denied")}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"{dest}", "AccessDenied", "items written"},
			check:    wantAttempts("CreateMultipartUpload", 1),
		},
		{
			name: "S3 bucket in another region",
			user: bigUser,
			s3: []fp.Rule{{Op: "CreateMultipartUpload", Fault: fp.Error(301, "PermanentRedirect",
				"The bucket you are attempting to access must be addressed using the specified endpoint.").WithHeader("X-Amz-Bucket-Region", "eu-west-1")}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"destination.bucketName", "region eu-west-1", "PermanentRedirect"},
		},
		{
			name: "S3 UploadPart 500 twice, then retries recover",
			user: bigUser,
			s3:   []fp.Rule{{Op: "UploadPart", Times: 2, Fault: fp.Error(500, "InternalError", "We encountered an internal error. Please try again.")}},
		},
		{
			name: "S3 UploadPart 503 SlowDown twice, then retries recover",
			user: bigUser,
			s3:   []fp.Rule{{Op: "UploadPart", Times: 2, Fault: fp.Error(503, "SlowDown", "Please reduce your request rate.")}},
		},
		{
			name: "S3 UploadPart connection reset once, then retries recover",
			user: bigUser,
			s3:   []fp.Rule{{Op: "UploadPart", Times: 1, Fault: fp.Reset()}},
		},
		{
			name:     "S3 UploadPart 503 SlowDown beyond the retries",
			user:     bigUser,
			s3:       []fp.Rule{{Op: "UploadPart", Fault: fp.Error(503, "SlowDown", "Please reduce your request rate.")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "SlowDown", "items written"},
		},
		{
			name:     "S3 UploadPart reset on every attempt",
			user:     bigUser,
			s3:       []fp.Rule{{Op: "UploadPart", Fault: fp.Reset()}},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "UploadPart", "items written"},
		},
		{
			name:     "S3 CompleteMultipartUpload InternalError beyond the retries",
			user:     bigUser,
			s3:       []fp.Rule{{Op: "CompleteMultipartUpload", Fault: fp.Error(500, "InternalError", "We encountered an internal error.")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "InternalError", fmt.Sprintf("%d items written", bigCount)},
			check:    wantAttempts("CompleteMultipartUpload", awsenv.MaxAttempts),
		},
		{
			// S3 may answer CompleteMultipartUpload with 200 and an error
			// in the body; the SDK must not take it as success.
			name:     "S3 CompleteMultipartUpload 200 with an error body",
			user:     bigUser,
			s3:       []fp.Rule{{Op: "CompleteMultipartUpload", Fault: fp.Error(200, "InternalError", "We encountered an internal error.")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "InternalError"},
		},
		{
			// The abort fails too, in all its attempts: the message must
			// not claim the upload was aborted, and names it.
			name: "S3 UploadPart fails and the abort fails too",
			user: bigUser,
			s3: []fp.Rule{
				{Op: "UploadPart", Fault: fp.Error(500, "InternalError", "internal error")},
				{Op: "AbortMultipartUpload", Fault: fp.Error(500, "InternalError", "abort failed")},
			},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "InternalError", "abort failed", "may still be open", "upload id"},
			leftOpen: true,
		},
		{
			name:     "S3 NoSuchBucket from CreateMultipartUpload",
			user:     bigUser,
			s3:       []fp.Rule{{Op: "CreateMultipartUpload", Fault: fp.Error(404, "NoSuchBucket", "The specified bucket does not exist")}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"{dest}", "NoSuchBucket"},
		},
		{
			name:     "missing bucket, one part",
			user:     smallUser,
			noBucket: true,
			wantType: "PermanentStepError",
			wantMsg:  []string{"{dest}", "NoSuchBucket", fmt.Sprintf("%d items written", smallCount)},
		},
		{
			name: "KMS key denied, one part",
			user: smallUser,
			edit: kms,
			s3: []fp.Rule{{Op: "CreateMultipartUpload", Fault: fp.Error(403, "AccessDenied", kmsDenied),
				Match: func(r *http.Request) bool { return r.Header.Get("X-Amz-Server-Side-Encryption") == "aws:kms" }}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"{dest}", "AccessDenied", "kms:GenerateDataKey"},
			check:    wantAttempts("CreateMultipartUpload", 1),
		},
		{
			name: "KMS key denied on CreateMultipartUpload",
			user: bigUser,
			edit: kms,
			s3: []fp.Rule{{Op: "CreateMultipartUpload", Fault: fp.Error(403, "AccessDenied", kmsDenied),
				Match: func(r *http.Request) bool { return r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "" }}},
			wantType: "PermanentStepError",
			wantMsg:  []string{"{dest}", "AccessDenied", "kms:GenerateDataKey"},
		},
		{
			name:     "KMS throttling, one part",
			user:     smallUser,
			edit:     kms,
			s3:       []fp.Rule{{Op: "UploadPart", Fault: fp.Error(400, "KMS.ThrottlingException", "Rate exceeded")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "KMS.ThrottlingException"},
		},
		{
			name:     "S3 UploadPart 500 beyond the retries, one part",
			user:     smallUser,
			s3:       []fp.Rule{{Op: "UploadPart", Fault: fp.Error(500, "InternalError", "internal error")}},
			wantType: "TransientStepError",
			wantMsg:  []string{"{dest}", "InternalError", fmt.Sprintf("%d items written", smallCount)},
			check:    wantAttempts("UploadPart", awsenv.MaxAttempts),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{})
			r.ddb.Add(tc.ddb...)
			r.s3.Add(tc.s3...)
			bucket := r.bucket
			if tc.noBucket {
				bucket = testenv.Name("missing")
			}
			key := "manifests/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, ferr := invoke(t, r.h, ctx, event(tc.user, bucket, key, tc.edit))
			r.ddb.WaitIdle(ctx)
			r.s3.WaitIdle(ctx)
			t.Cleanup(func() {
				if t.Failed() {
					for _, q := range append(r.ddb.Requests(), r.s3.Requests()...) {
						if q.Status != 200 {
							t.Logf("%+v", q)
						}
					}
				}
			})
			if tc.check != nil {
				defer tc.check(t, r)
			}
			if tc.wantType == "" {
				if ferr != nil {
					t.Fatalf("failed: %s: %s", ferr.Type, ferr.Message)
				}
				want := bigItems
				if tc.user == smallUser {
					want = smallItem
				}
				if got := out["itemCount"]; got != json.Number(fmt.Sprint(len(want))) {
					t.Errorf("itemCount = %v, want %d", got, len(want))
				}
				stack.CheckManifest(t, bucket, key, want)
				if tc.user == bigUser && r.s3.Count("UploadPart") < 2 {
					t.Errorf("%d UploadPart requests: the manifest was not a multipart upload", r.s3.Count("UploadPart"))
				}
				return
			}
			if ferr == nil {
				t.Fatalf("succeeded (%v), want %s", out, tc.wantType)
			}
			if ferr.Type != tc.wantType {
				t.Errorf("errorType = %s, want %s; message:\n%s", ferr.Type, tc.wantType, ferr.Message)
			}
			repl := strings.NewReplacer("{table}", table, "{dest}", "s3://"+bucket+"/"+key)
			var want []string
			for _, m := range tc.wantMsg {
				want = append(want, repl.Replace(m))
			}
			checkMessage(t, ferr.Message, want...)
			if tc.leftOpen {
				if n := r.s3.Count("AbortMultipartUpload"); n != awsenv.MaxAttempts {
					t.Errorf("%d AbortMultipartUpload requests, want %d (one call, the SDK's retries)", n, awsenv.MaxAttempts)
				}
				r.s3.Clear() // the test's own abort, with S3 answering again
				if n := abortAll(t, r.s3c, bucket, key); n != 1 {
					t.Errorf("%d uploads were left open, want the 1 the message names", n)
				}
			}
			stack.AssertNothingLeft(t, context.Background(), bucket, key)
		})
	}
}

// abortAll aborts the open uploads for bucket/key and says how many there were.
func abortAll(t *testing.T, c *s3.Client, bucket, key string) int {
	t.Helper()
	ctx := context.Background()
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Error(err)
		}
	}
	return len(ups.Uploads)
}

// kms asks for SSE-KMS with a key.
func kms(cfg map[string]any) {
	d := cfg["destination"].(map[string]any)
	d["serverSideEncryption"] = "aws:kms"
	d["kmsKeyId"] = "arn:aws:kms:us-east-1:123456789012:key/1234abcd"
}

// wantQueryMetrics checks the Query figures of the invocation's metrics
// record against what the proxy saw: throttles throttling answers, and
// every Query request that reached it but the one per page read (and the
// one that failed, when failed) counted as a retry.
func wantQueryMetrics(t *testing.T, r *rig, throttles int64, failed bool) {
	t.Helper()
	m := r.lastRecord(t)
	requests := m[metrics.Pages]
	if failed {
		requests++
	}
	if got, want := [3]int64{m[metrics.Throttles], m[metrics.QueryRetries], m[metrics.Failures]},
		[3]int64{throttles, int64(r.ddb.Count("Query")) - requests, one(failed)}; got != want {
		t.Errorf("metrics {Throttles, QueryRetries, Failures} = %v, want %v (%d Query requests, %d pages)", got, want, r.ddb.Count("Query"), m[metrics.Pages])
	}
}

func one(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// wantAttempts checks how many requests for op reached the proxy.
func wantAttempts(op string, n int) func(*testing.T, *rig) {
	return func(t *testing.T, r *rig) {
		t.Helper()
		px := r.s3
		if op == "Query" {
			px = r.ddb
		}
		if got := px.Count(op); got != n {
			t.Errorf("%d %s requests, want %d", got, op, n)
		}
	}
}
