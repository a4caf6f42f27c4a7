// Package faultproxy is a fault-injecting HTTP reverse proxy for tests. It
// listens on 127.0.0.1, forwards to one upstream (dynalite, versitygw, or any
// AWS-like endpoint) and, driven by rules, answers chosen requests itself:
// with an AWS error, a reset connection, a response cut off mid-body, or a
// delay. It records every request so that tests can count calls per
// operation.
//
// The proxy keeps the Host header as the client sent it, because SigV4
// signs it and versitygw verifies the signature.
//
// A Proxy is safe for concurrent use; rules may be added while it serves.
// The caller must call Close.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Service is the AWS protocol a request speaks, found from the request.
type Service string

// Services the proxy recognises.
const (
	DynamoDB Service = "dynamodb" // JSON protocol, X-Amz-Target names the operation
	S3       Service = "s3"       // REST-XML; the operation follows from method, path and query
)

// Operation names the service and operation of r: for DynamoDB the part of
// X-Amz-Target after the dot (Query, BatchWriteItem), for S3 the API name
// (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
// AbortMultipartUpload, ...), assuming path-style addressing.
func Operation(r *http.Request) (Service, string) {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			t = t[i+1:]
		}
		return DynamoDB, t
	}
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	onKey := key != ""
	switch r.Method {
	case http.MethodPost:
		switch {
		case has("uploads"):
			return S3, "CreateMultipartUpload"
		case has("uploadId"):
			return S3, "CompleteMultipartUpload"
		case has("delete"):
			return S3, "DeleteObjects"
		}
	case http.MethodPut:
		switch {
		case has("partNumber") && has("uploadId"):
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return S3, "UploadPartCopy"
			}
			return S3, "UploadPart"
		case has("versioning"):
			return S3, "PutBucketVersioning"
		case onKey && r.Header.Get("X-Amz-Copy-Source") != "":
			return S3, "CopyObject"
		case onKey:
			return S3, "PutObject"
		case bucket != "":
			return S3, "CreateBucket"
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return S3, "AbortMultipartUpload"
		case onKey:
			return S3, "DeleteObject"
		case bucket != "":
			return S3, "DeleteBucket"
		}
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return S3, "ListParts"
		case has("uploads"):
			return S3, "ListMultipartUploads"
		case onKey:
			return S3, "GetObject"
		case bucket != "" && has("versioning"):
			return S3, "GetBucketVersioning"
		case bucket != "":
			return S3, "ListObjects"
		default:
			return S3, "ListBuckets"
		}
	case http.MethodHead:
		if onKey {
			return S3, "HeadObject"
		}
		return S3, "HeadBucket"
	}
	return S3, r.Method
}

// Fault is what the proxy does to a request a Rule picks. Build one with
// Error, Reset, CutBody or Delay.
type Fault struct {
	kind   faultKind
	status int
	code   string
	msg    string
	cut    int64
	delay  time.Duration
	header http.Header
}

// WithHeader returns f answering with header k: v as well (for an Error).
func (f Fault) WithHeader(k, v string) Fault {
	h := f.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(k, v)
	f.header = h
	return f
}

type faultKind int

const (
	kindError faultKind = iota + 1
	kindReset
	kindCut
	kindDelay
)

// Error answers with HTTP status and an AWS error body in the request's
// protocol: for DynamoDB JSON {"__type": "com.amazonaws.dynamodb.v20120810#<code>", "message": msg};
// for S3 XML <Error><Code>code</Code><Message>msg</Message></Error>.
func Error(status int, code, msg string) Fault {
	return Fault{kind: kindError, status: status, code: code, msg: msg}
}

// Reset closes the client's connection with a TCP reset before any
// response is sent.
func Reset() Fault { return Fault{kind: kindReset} }

// CutBody forwards the request and sends the upstream's status, headers
// (including Content-Length) and at most the first n bytes of its body
// (half of it when the length is known and not larger than n), then drops
// the connection: the client sees the response end early. (What the server
// had buffered but not sent when it drops the connection is lost, so the
// client may get fewer bytes.)
func CutBody(n int64) Fault { return Fault{kind: kindCut, cut: n} }

// Delay waits d (or until the client gives up) before forwarding.
func Delay(d time.Duration) Fault { return Fault{kind: kindDelay, delay: d} }

// String describes f for logs and records.
func (f Fault) String() string {
	switch f.kind {
	case kindError:
		return fmt.Sprintf("error %d %s", f.status, f.code)
	case kindReset:
		return "reset"
	case kindCut:
		return fmt.Sprintf("cut body after %d bytes", f.cut)
	case kindDelay:
		return "delay " + f.delay.String()
	}
	return "none"
}

// Rule picks requests and the fault to inject. Every request whose
// operation is Op (and that Match accepts, when set) counts towards the
// rule; the rule applies to the matching requests numbered Skip to
// Skip+Times-1 (0-based), or to all from Skip on when Times is 0. The first
// rule, in the order added, that applies to a request decides its fault.
type Rule struct {
	Op    string                   // operation name, as Operation returns it; "" matches every request
	Match func(*http.Request) bool // optional further condition
	Skip  int                      // matching requests to let through first
	Times int                      // how many to fault; 0: every one after Skip
	Fault Fault
}

// Request is a record of one request the proxy handled.
type Request struct {
	Service Service
	Op      string
	Method  string
	URL     string
	Fault   string // the fault injected, "" when passed through
	Status  int    // status sent to the client; 0 when the connection was dropped before one
	Err     string // why the proxy could not forward the request (a 502), if it could not
}

type rule struct {
	Rule
	seen int
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's address, http://127.0.0.1:port, to use as the
	// client's endpoint.
	URL string

	srv    *httptest.Server
	target *url.URL
	rp     *httputil.ReverseProxy

	inflight atomic.Int64

	mu    sync.Mutex
	rules []*rule
	reqs  []Request
}

// New starts a proxy in front of upstream (e.g. http://127.0.0.1:8000).
func New(upstream string) (*Proxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream %q: %w", upstream, err)
	}
	if target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q: want scheme://host:port", upstream)
	}
	p := &Proxy{target: target}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// SetURL sets Out.Host to the target; SigV4 signed the
			// client's Host, so keep it.
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// The upstream failed: a 502 that the test will see in its
			// records, with the reason.
			if e, ok := r.Context().Value(errKey{}).(*string); ok {
				*e = err.Error()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		// A fresh connection per request: dynalite (node) closes idle
		// connections after 5 s, and a POST sent on one that is closing is
		// not retried by the transport, which would show as a spurious 502.
		Transport: &http.Transport{DisableKeepAlives: true},
		ErrorLog:  discardLogger(),
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	// httptest listens on 127.0.0.1:0.
	p.srv.Config.ErrorLog = discardLogger()
	p.srv.Start()
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// Add appends rules; they apply to requests that arrive from now on.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rules {
		p.rules = append(p.rules, &rule{Rule: r})
	}
}

// Clear removes every rule (the records stay).
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Requests returns a copy of the records, in the order the requests
// finished.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}

// Count returns how many requests for op the proxy has handled ("" counts
// all).
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.reqs {
		if op == "" || r.Op == op {
			n++
		}
	}
	return n
}

// Faulted returns how many requests for op got a fault.
func (p *Proxy) Faulted(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.reqs {
		if (op == "" || r.Op == op) && r.Fault != "" {
			n++
		}
	}
	return n
}

// pick returns the fault for a request, if any.
func (p *Proxy) pick(r *http.Request, op string) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ru := range p.rules {
		if ru.Op != "" && ru.Op != op {
			continue
		}
		if ru.Match != nil && !ru.Match(r) {
			continue
		}
		n := ru.seen
		ru.seen++
		if n >= ru.Skip && (ru.Times == 0 || n < ru.Skip+ru.Times) {
			return ru.Fault, true
		}
	}
	return Fault{}, false
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, r)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	svc, op := Operation(r)
	rec := Request{Service: svc, Op: op, Method: r.Method, URL: r.URL.String()}
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), errKey{}, &rec.Err))
	defer func() {
		rec.Status = sw.status
		p.record(rec)
	}()
	f, ok := p.pick(r, op)
	if !ok {
		p.rp.ServeHTTP(sw, r)
		return
	}
	rec.Fault = f.String()
	switch f.kind {
	case kindError:
		// Read the request body first, as a server would: a client that
		// is still sending (Expect: 100-continue or a large part) would
		// otherwise see a reset instead of the error.
		_, _ = io.Copy(io.Discard, r.Body)
		writeError(sw, svc, f)
	case kindReset:
		_, _ = io.Copy(io.Discard, r.Body)
		reset(w)
	case kindCut:
		cp := *p.rp
		cp.ModifyResponse = func(resp *http.Response) error {
			n := f.cut
			if resp.ContentLength >= 0 && n >= resp.ContentLength {
				n = resp.ContentLength / 2
			}
			resp.Body = &cutReader{r: resp.Body, rc: resp.Body, left: n}
			return nil
		}
		// The reverse proxy aborts the response (panics with
		// http.ErrAbortHandler, which the server turns into a dropped
		// connection) when copying the body fails.
		cp.ServeHTTP(sw, r)
	case kindDelay:
		// Read the body first: the server notices a client that hangs up
		// (and cancels r's context) only once the body has been read.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			rec.Fault += " (client gave up)"
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
			p.rp.ServeHTTP(sw, r)
		case <-r.Context().Done():
			rec.Fault += " (client gave up)"
		}
	}
}

type errKey struct{}

// errCut is what a cut body returns after its bytes.
var errCut = errors.New("faultproxy: body cut")

type cutReader struct {
	r    io.Reader
	rc   io.Closer
	left int64
}

func (c *cutReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }

// reset hijacks the connection and closes it with SO_LINGER 0, so the
// client gets a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func writeError(w http.ResponseWriter, svc Service, f Fault) {
	for k, vs := range f.header {
		w.Header()[k] = vs
	}
	switch svc {
	case DynamoDB:
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Errortype", f.code)
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, f.code, f.msg)
	default:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`,
			html.EscapeString(f.code), html.EscapeString(f.msg))
	}
}

// statusWriter records the status sent and passes Flush and Hijack
// through (via Unwrap, for http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// WaitIdle waits until no request is being handled or ctx ends. Requests
// are recorded when their handler returns, which may be a moment after the
// client has its answer (a cut body, a client that gave up on a delay).
func (p *Proxy) WaitIdle(ctx context.Context) {
	for p.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
