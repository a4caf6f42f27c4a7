package faults

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

// TestUploadFailureIsRootCause: when S3 refuses the upload, the caller sees
// S3's AccessDenied (permanent), not the encoder's closed pipe, and paging
// stops at once instead of reading the rest of the table into a dead pipe.
func TestUploadFailureIsRootCause(t *testing.T) {
	tests := []struct {
		name string
		rule fp.Rule
	}{
		{name: "CreateMultipartUpload denied", rule: fp.Rule{Op: "CreateMultipartUpload", Fault: fp.Error(403, "AccessDenied", "Access Denied")}},
		{name: "first UploadPart denied", rule: fp.Rule{Op: "UploadPart", Fault: fp.Error(403, "AccessDenied", "Access Denied")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{})
			seedHuge(t)
			r.s3.Add(tc.rule)
			key := "rootcause/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			_, ferr := invoke(t, r.h, context.Background(), event(hugeUser, r.bucket, key, nil))
			if ferr == nil {
				t.Fatal("succeeded, want a PermanentStepError")
			}
			if ferr.Type != "PermanentStepError" {
				t.Errorf("errorType = %s, want PermanentStepError; message:\n%s", ferr.Type, ferr.Message)
			}
			checkMessage(t, ferr.Message, "AccessDenied", "s3://"+r.bucket+"/"+key, "items written")
			stack.AssertNothingLeft(t, context.Background(), r.bucket, key)

			// The table holds ~24 pages; the upload fails once the first
			// 5 MiB part is buffered (~5 pages), and paging must stop
			// there, give or take the prefetch and the part in flight.
			pages := r.ddb.Count("Query")
			total := hugeCount * hugeSize / (1 << 20)
			if pages > 10 {
				t.Errorf("%d Query requests after the upload failed; the table has about %d pages: paging did not stop", pages, total)
			}
			t.Logf("%d Query requests of about %d pages", pages, total)
		})
	}
}

// fakeDB serves pages of generated items as raw Query bodies, read by a
// real SDK client (ddbwire.Fake) through the capture middleware, and panics
// on call panicAt (1-based), from inside the fetcher goroutine.
func fakeDB(perPage, panicAt int) dbAPI {
	return ddbwire.NewFake(func(_ context.Context, n int, _ *dynamodb.QueryInput) ([]byte, error) {
		if n == panicAt {
			panic(fmt.Sprintf("fake DynamoDB panics on call %d", n))
		}
		its := items(fmt.Sprint("page", n), perPage, 1000)
		return ddbwire.Body(its, map[string]types.AttributeValue{"PK": its[len(its)-1]["PK"], "SK": its[len(its)-1]["SK"]}), nil
	})
}

// panicky wraps an S3 client and panics in CreateMultipartUpload, which the
// upload manager calls from the sink's upload goroutine.
type panicky struct{ *s3.Client }

func (panicky) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	panic("fake S3 panics in CreateMultipartUpload")
}

// TestPanicIsReported: a panic in a goroutine the function starts, or in
// the encoding loop, is reported as an error, never a crashed runtime, and
// still leaves nothing at the destination: no object, no open upload.
func TestPanicIsReported(t *testing.T) {
	tests := []struct {
		name    string
		opts    func() rigOptions
		wantMsg []string
	}{
		{
			// 3000 items of ~1 KB a page: the multipart upload has started
			// when the third call panics.
			name: "in the Query fetcher, after the multipart upload started",
			opts: func() rigOptions {
				return rigOptions{wrapDB: func(dbAPI) dbAPI { return fakeDB(3000, 3) }}
			},
			wantMsg: []string{"panic", "fake DynamoDB panics on call 3", "6000 items written"},
		},
		{
			name: "in the upload goroutine",
			opts: func() rigOptions {
				return rigOptions{
					wrapDB: func(dbAPI) dbAPI { return fakeDB(3000, 4) },
					wrapS3: func(c export.S3) export.S3 { return panicky{c.(*s3.Client)} },
				}
			},
			wantMsg: []string{"panic", "fake S3 panics in CreateMultipartUpload"},
		},
		{
			// export.Options.Progress runs on the handler's goroutine, in
			// the encoding loop; the CLI's progress bar is one.
			name: "in the Progress callback, after the multipart upload started",
			opts: func() rigOptions {
				var pages atomic.Int32
				return rigOptions{
					wrapDB: func(dbAPI) dbAPI { return fakeDB(3000, 10) },
					progress: func(export.Progress) {
						if pages.Add(1) == 3 {
							panic("progress callback panics")
						}
					},
				}
			},
			wantMsg: []string{"panic", "progress callback panics"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.opts())
			key := "panic/" + strings.ReplaceAll(tc.name, " ", "_") + ".jsonl"
			_, ferr := invoke(t, r.h, context.Background(), event(bigUser, r.bucket, key, nil))
			if ferr == nil {
				t.Fatal("succeeded, want an error")
			}
			if ferr.Type != "TransientStepError" {
				t.Errorf("errorType = %s, want TransientStepError; message:\n%s", ferr.Type, ferr.Message)
			}
			checkMessage(t, ferr.Message, tc.wantMsg...)
			stack.AssertNothingLeft(t, context.Background(), r.bucket, key)
		})
	}
}
