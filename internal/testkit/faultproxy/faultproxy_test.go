package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

func TestOperation(t *testing.T) {
	tests := []struct {
		method, url string
		header      map[string]string
		wantSvc     faultproxy.Service
		wantOp      string
	}{
		{"POST", "/", map[string]string{"X-Amz-Target": "DynamoDB_20120810.Query"}, faultproxy.DynamoDB, "Query"},
		{"POST", "/", map[string]string{"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem"}, faultproxy.DynamoDB, "BatchWriteItem"},
		{"POST", "/b/k/x.jsonl?uploads", nil, faultproxy.S3, "CreateMultipartUpload"},
		{"PUT", "/b/k?partNumber=2&uploadId=u1", nil, faultproxy.S3, "UploadPart"},
		{"PUT", "/b/k?partNumber=2&uploadId=u1", map[string]string{"X-Amz-Copy-Source": "/b/o"}, faultproxy.S3, "UploadPartCopy"},
		{"POST", "/b/k?uploadId=u1", nil, faultproxy.S3, "CompleteMultipartUpload"},
		{"DELETE", "/b/k?uploadId=u1", nil, faultproxy.S3, "AbortMultipartUpload"},
		{"PUT", "/b/k", nil, faultproxy.S3, "PutObject"},
		{"PUT", "/b/k?x-id=PutObject", nil, faultproxy.S3, "PutObject"},
		{"PUT", "/b", nil, faultproxy.S3, "CreateBucket"},
		{"GET", "/b/k", nil, faultproxy.S3, "GetObject"},
		{"HEAD", "/b/k", nil, faultproxy.S3, "HeadObject"},
		{"GET", "/b?uploads&prefix=k", nil, faultproxy.S3, "ListMultipartUploads"},
		{"GET", "/b/k?uploadId=u1", nil, faultproxy.S3, "ListParts"},
		{"DELETE", "/b/k", nil, faultproxy.S3, "DeleteObject"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			svc, op := faultproxy.Operation(r)
			if svc != tc.wantSvc || op != tc.wantOp {
				t.Errorf("Operation = %s %s, want %s %s", svc, op, tc.wantSvc, tc.wantOp)
			}
		})
	}
}

// upstream is a server that answers every request with its Host and a body
// of size bytes.
func upstream(t *testing.T, size int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		body := strings.Repeat("x", size)
		if size == 0 {
			body = "{}"
		}
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // no Content-Length
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func start(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestKeepsHost(t *testing.T) {
	p := start(t, upstream(t, 0).URL)
	req, _ := http.NewRequest("GET", p.URL+"/b/k", nil)
	req.Host = "s3.example.test:4567"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Seen-Host"); got != req.Host {
		t.Errorf("upstream saw Host %q, want %q", got, req.Host)
	}
}

func TestErrorThenPass(t *testing.T) {
	p := start(t, upstream(t, 0).URL)
	p.Add(faultproxy.Rule{Op: "GetObject", Skip: 1, Times: 2, Fault: faultproxy.Error(503, "SlowDown", "Please reduce <rate>")})
	var got []int
	for range 5 {
		resp, err := http.Get(p.URL + "/b/k")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, resp.StatusCode)
		if resp.StatusCode == 503 && !strings.Contains(string(body), "<Code>SlowDown</Code><Message>Please reduce &lt;rate&gt;</Message>") {
			t.Errorf("body = %s", body)
		}
	}
	if diff := cmp.Diff([]int{200, 503, 503, 200, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if n := p.Count("GetObject"); n != 5 {
		t.Errorf("Count = %d, want 5", n)
	}
	if n := p.Faulted("GetObject"); n != 2 {
		t.Errorf("Faulted = %d, want 2", n)
	}
	var statuses []int
	for _, r := range p.Requests() {
		statuses = append(statuses, r.Status)
	}
	if diff := cmp.Diff(got, statuses); diff != "" {
		t.Errorf("recorded statuses (-want +got):\n%s", diff)
	}
}

// TestSDKReadsErrors checks that the SDK decodes the proxy's error bodies
// into the codes that classification relies on.
func TestSDKReadsErrors(t *testing.T) {
	p := start(t, upstream(t, 0).URL)
	p.Add(
		faultproxy.Rule{Op: "Query", Fault: faultproxy.Error(400, "ProvisionedThroughputExceededException", "slow down")},
		faultproxy.Rule{Op: "PutObject", Fault: faultproxy.Error(503, "SlowDown", "Please reduce your request rate.")},
	)
	ctx := context.Background()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(p.URL) })
	_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t")})
	checkCode(t, err, "ProvisionedThroughputExceededException")

	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(p.URL)
		o.UsePathStyle = true
	})
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("hello")})
	checkCode(t, err, "SlowDown")
}

func checkCode(t *testing.T, err error, want string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("error %v is not an APIError", err)
	}
	if api.ErrorCode() != want {
		t.Errorf("ErrorCode = %q, want %q (%v)", api.ErrorCode(), want, err)
	}
}

func TestReset(t *testing.T) {
	p := start(t, upstream(t, 0).URL)
	p.Add(faultproxy.Rule{Op: "Query", Times: 1, Fault: faultproxy.Reset()})
	post := func() error {
		req, _ := http.NewRequest("POST", p.URL, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.Query")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := post(); err == nil {
		t.Fatal("first request succeeded, want a reset")
	}
	if err := post(); err != nil {
		t.Fatalf("second request: %v", err)
	}
	p.WaitIdle(context.Background())
	reqs := p.Requests()
	if len(reqs) != 2 || reqs[0].Fault != "reset" || reqs[0].Status != 0 || reqs[1].Status != 200 {
		t.Errorf("records = %+v", reqs)
	}
}

func TestCutBody(t *testing.T) {
	const size = 100000
	p := start(t, upstream(t, size).URL)
	p.Add(faultproxy.Rule{Op: "GetObject", Fault: faultproxy.CutBody(1 << 20)})
	p.Add(faultproxy.Rule{Op: "ListObjects", Fault: faultproxy.CutBody(1000)})
	tests := []struct {
		name, path string
		wantLen    int64
		wantRead   int // at most
	}{
		{"known length: half", "/b/k", size, size / 2},
		{"chunked: n bytes", "/b?chunked", -1, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(p.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ContentLength != tc.wantLen {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, tc.wantLen)
			}
			body, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read error = %v, want unexpected EOF", err)
			}
			// The server may drop what it had buffered when it aborts.
			if len(body) == 0 || len(body) > tc.wantRead {
				t.Errorf("read %d bytes, want 1 to %d", len(body), tc.wantRead)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	p := start(t, upstream(t, 0).URL)
	p.Add(faultproxy.Rule{Op: "GetObject", Fault: faultproxy.Delay(300 * time.Millisecond)})

	start := time.Now()
	resp, err := http.Get(p.URL + "/b/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if el := time.Since(start); el < 300*time.Millisecond || resp.StatusCode != 200 {
		t.Errorf("answered %d after %s, want 200 after 300ms", resp.StatusCode, el)
	}

	// A client that gives up is not kept waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+"/b/k", nil)
	start = time.Now()
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Errorf("gave up after %s", el)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), time.Second)
	defer wcancel()
	p.WaitIdle(wctx)
	if reqs := p.Requests(); len(reqs) != 2 || !strings.Contains(reqs[1].Fault, "client gave up") {
		t.Errorf("records = %+v", reqs)
	}
}
