package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
)

// relay is a slow link between a client and S3, as from a Lambda function
// through a congested network: it takes a request's whole body as fast as
// the client sends it (the bytes are on the wire), then forwards it at rate
// bytes a second, and forwards it even when the client has given up
// meanwhile. It is what made a cancelled single PutObject appear at the key
// a second after the step said nothing was written.
type relay struct {
	srv     *httptest.Server
	rp      *httputil.ReverseProxy
	rate    float64 // bytes per second
	latency time.Duration
	// onBody, when set before the first request, is called once a
	// request's body is all in.
	onBody   func(*http.Request)
	inflight atomic.Int64
}

func newRelay(t testing.TB, upstream string, rate float64, latency time.Duration) *relay {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{rate: rate, latency: latency}
	r.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // SigV4 signed the client's Host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) },
	}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the client hung up before its body was out: S3 never sees it
	}
	if r.onBody != nil {
		r.onBody(req)
	}
	time.Sleep(r.latency + time.Duration(float64(len(body))/r.rate*float64(time.Second)))
	out := req.Clone(context.WithoutCancel(req.Context()))
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	// ReverseProxy cancels the upstream request when the client goes away
	// if the writer can tell it (http.CloseNotifier); this one cannot.
	r.rp.ServeHTTP(plainWriter{w}, out)
}

// waitIdle waits until the relay has held no request for 200 ms.
func (r *relay) waitIdle() {
	for quiet := 0; quiet < 20; {
		if r.inflight.Load() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// plainWriter hides everything of a ResponseWriter but the interface.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }

// TestThrottledRelay: behind a slow relay that delivers what the client
// sent even after the client gave up, cancelling an export never leaves an
// object at the key afterwards, and when the cancel strikes the Complete,
// Close's answer and the key agree once everything has landed.
func TestThrottledRelay(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	for _, tc := range []struct {
		name    string
		size    int           // bytes written
		rules   []fp.Rule     // faults behind the relay
		cancel  time.Duration // when to cancel, after New (0: in the Complete)
		inClose bool          // the cancel is meant to strike inside Close
		written bool          // Close succeeds: the object is there
	}{
		// Parts of 5 MiB at 4 MiB/s: the cancel lands in part 2.
		{name: "cancelled while writing parts", size: 3*ps + 100, cancel: 1800 * time.Millisecond},
		// The shape of the bug: 4.8 MB, under one part, cut while its
		// body crosses the relay.
		{name: "cancelled while the only part crosses", size: 4_800_000, cancel: 600 * time.Millisecond, inClose: true},
		// The Complete is held 1 s behind the relay; the cancel comes
		// 100 ms into it and the abort overtakes it.
		{name: "cancelled in the Complete, the abort first", size: ps + 10, inClose: true,
			rules: []fp.Rule{{Op: "CompleteMultipartUpload", Fault: fp.Delay(time.Second)}}},
		// Here the abort is held longer than the Complete: the Complete
		// happens, and Close must say so.
		{name: "cancelled in the Complete, the Complete first", size: ps + 10, inClose: true,
			rules: []fp.Rule{
				{Op: "CompleteMultipartUpload", Fault: fp.Delay(500 * time.Millisecond)},
				{Op: "AbortMultipartUpload", Fault: fp.Delay(1500 * time.Millisecond)},
			}, written: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px, err := fp.New(stack.S3Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			defer px.Close()
			rl := newRelay(t, px.URL, 4<<20, 50*time.Millisecond)
			c := s3.NewFromConfig(stack.AWSConfig(context.Background()), func(o *s3.Options) {
				o.BaseEndpoint = aws.String(rl.srv.URL)
				o.UsePathStyle = true
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel > 0 {
				time.AfterFunc(tc.cancel, cancel)
			} else {
				var once sync.Once
				px.Add(fp.Rule{Op: "CompleteMultipartUpload", Match: func(*http.Request) bool {
					once.Do(func() { time.AfterFunc(100*time.Millisecond, cancel) })
					return false
				}})
			}
			px.Add(tc.rules...)
			key := tc.name
			w, err := New(ctx, c, Target{Bucket: bucket, Key: key}, Options{})
			if err != nil && errors.Is(err, context.Canceled) && tc.cancel > 0 {
				t.Skipf("the cancel came before the first byte (a loaded machine): %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			b := data(tc.size, 8)
			var werr error
			for len(b) > 0 && werr == nil {
				n := min(len(b), 64<<10)
				_, werr = w.Write(b[:n])
				b = b[n:]
			}
			if tc.inClose && werr != nil {
				t.Fatalf("the cancel struck before Close: %v", werr)
			}
			var cerr error
			if werr == nil {
				_, cerr = w.Close(ctx)
			}
			if ok := werr == nil && cerr == nil; ok != tc.written {
				t.Fatalf("write: %v; close: %v; want success %v", werr, cerr, tc.written)
			}
			if werr != nil || cerr != nil {
				if !errors.Is(errors.Join(werr, cerr), context.Canceled) {
					t.Errorf("the failure %v does not say it was cancelled", errors.Join(werr, cerr))
				}
				cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := w.Abort(cctx); err != nil {
					t.Errorf("Abort: %v", err)
				}
				ccancel()
			}
			// Let everything the relay holds land, then look.
			rl.waitIdle()
			px.WaitIdle(context.Background())
			time.Sleep(300 * time.Millisecond)
			if px.Count("PutObject") != 0 {
				t.Errorf("a PutObject reached S3")
			}
			_, herr := stack.S3(context.Background()).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			switch {
			case cerr == nil && werr == nil && herr != nil:
				t.Errorf("Close reported the object but the key has none: %v", herr)
			case (cerr != nil || werr != nil) && herr == nil:
				t.Errorf("the export failed (%v) but an object is at the key", errors.Join(werr, cerr))
			}
			t.Logf("write: %v; close: %v; object at the key: %v", werr, cerr, herr == nil)
		})
	}
	// Known race, left open: a cancel that strikes while the
	// CreateMultipartUpload of a one-part object is held by the relay can
	// leave that upload open (its id never reached the writer, so there is
	// nothing to abort). The bucket's abort-incomplete-uploads lifecycle
	// rule removes it; it is logged here, not hidden.
	abortKnown(t, bucket, "cancelled while the only part crosses")
	checkNoUploads(t, bucket)

	// The relay reproduces the bug: a single PutObject of the same 4.8 MB,
	// cancelled once its bytes are on the wire, lands at the key afterwards.
	t.Run("control: a cancelled PutObject lands anyway", func(t *testing.T) {
		rl := newRelay(t, stack.S3Endpoint, 4<<20, 50*time.Millisecond)
		c := s3.NewFromConfig(stack.AWSConfig(context.Background()), func(o *s3.Options) {
			o.BaseEndpoint = aws.String(rl.srv.URL)
			o.UsePathStyle = true
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rl.onBody = func(*http.Request) { cancel() } // the bytes are on the wire
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("control"), Body: bytes.NewReader(data(4_800_000, 8))})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("PutObject = %v, want it cancelled", err)
		}
		rl.waitIdle()
		time.Sleep(300 * time.Millisecond)
		if _, err := stack.S3(context.Background()).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("control")}); err != nil {
			t.Errorf("the relay did not deliver the cancelled PutObject (%v): it does not reproduce the bug", err)
		}
	})
}

// abortKnown aborts, and logs, the uploads left open for key.
func abortKnown(t *testing.T, bucket, key string) {
	t.Helper()
	c := s3Client(t)
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Logf("known race: upload %s of %q left open; aborting it", aws.ToString(u.UploadId), aws.ToString(u.Key))
		if _, err := c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Error(err)
		}
	}
}
