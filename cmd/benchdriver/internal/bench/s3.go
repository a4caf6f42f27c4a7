package bench

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Object is what the fake S3 kept of an object: its size and a hash, never
// its bytes.
type Object struct {
	Size  int64
	Parts int
	CRC32 uint32 // CRC32 of the part CRC32s, in part order (0 for PutObject: the body's)
}

// S3Stats counts the requests the fake S3 answered.
type S3Stats struct {
	Requests  map[string]int // by operation
	WireBytes int64          // request body bytes as sent, framing included
	Signed    int            // payloads sent with a SHA-256 in x-amz-content-sha256
	Unsigned  int            // payloads sent as UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER
}

// S3 is an in-process, path-style S3 endpoint that accepts multipart uploads
// and PutObject, counts and hashes the bytes and keeps nothing else. Its
// methods are safe for concurrent use; Close stops it.
type S3 struct {
	srv     *httptest.Server
	delay   time.Duration
	mu      sync.Mutex
	nextID  int
	uploads map[string]map[int]part // upload ID → part number → part
	objects map[string]Object       // bucket/key → object
	stats   S3Stats
}

type part struct {
	size int64
	crc  uint32
}

// NewS3 starts a fake S3 on 127.0.0.1, over TLS when useTLS. delay
// (DefaultDelay when zero) is the least time between reading a request and
// answering it.
func NewS3(useTLS bool, delay time.Duration) *S3 {
	if delay <= 0 {
		delay = DefaultDelay
	}
	s := &S3{delay: delay, uploads: map[string]map[int]part{}, objects: map[string]Object{},
		stats: S3Stats{Requests: map[string]int{}}}
	s.srv = start(useTLS, http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint's base URL.
func (s *S3) URL() string { return s.srv.URL }

// Close stops the server.
func (s *S3) Close() { s.srv.Close() }

// Object returns what was written at bucket/key.
func (s *S3) Object(bucket, key string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o, ok
}

// OpenUploads is the number of multipart uploads neither completed nor
// aborted.
func (s *S3) OpenUploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

// Stats returns a copy of the counters so far.
func (s *S3) Stats() S3Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		c.Requests[k] = v
	}
	return c
}

func (s *S3) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var op string
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		op = "CreateMultipartUpload"
	case r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId"):
		op = "UploadPart"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		op = "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		op = "AbortMultipartUpload"
	case r.Method == http.MethodPut && q.Has("tagging"):
		op = "PutObjectTagging"
	case r.Method == http.MethodPut && !q.Has("uploadId") && key != "":
		op = "PutObject"
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented", r.Method+" "+r.URL.String())
		return
	}
	// Read (and hash) the whole request first, as a real endpoint does.
	size, crc, wire, err := readBody(r)
	if err != nil {
		s3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	s.mu.Lock()
	s.stats.Requests[op]++
	s.stats.WireBytes += wire
	if op == "UploadPart" || op == "PutObject" {
		if strings.Contains(r.Header.Get("X-Amz-Content-Sha256"), "UNSIGNED") {
			s.stats.Unsigned++
		} else {
			s.stats.Signed++
		}
	}
	s.mu.Unlock()
	time.Sleep(s.delay)

	uploadID := q.Get("uploadId")
	switch op {
	case "CreateMultipartUpload":
		s.mu.Lock()
		s.nextID++
		id := fmt.Sprintf("upload-%d", s.nextID)
		s.uploads[id] = map[int]part{}
		s.mu.Unlock()
		writeXML(w, fmt.Sprintf(`<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, bucket, xmlEscape(key), id))
	case "UploadPart":
		n, err := strconv.Atoi(q.Get("partNumber"))
		s.mu.Lock()
		parts, ok := s.uploads[uploadID]
		if ok && err == nil {
			parts[n] = part{size: size, crc: crc}
		}
		s.mu.Unlock()
		if !ok || err != nil {
			s3Error(w, http.StatusNotFound, "NoSuchUpload", "no upload "+uploadID)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%08x"`, crc))
		w.WriteHeader(http.StatusOK)
	case "CompleteMultipartUpload":
		s.mu.Lock()
		parts, ok := s.uploads[uploadID]
		if ok {
			delete(s.uploads, uploadID)
			obj := Object{Parts: len(parts)}
			h := crc32.NewIEEE()
			for i := 1; i <= len(parts); i++ {
				p := parts[i]
				obj.Size += p.size
				h.Write([]byte{byte(p.crc >> 24), byte(p.crc >> 16), byte(p.crc >> 8), byte(p.crc)})
			}
			obj.CRC32 = h.Sum32()
			s.objects[bucket+"/"+key] = obj
		}
		s.mu.Unlock()
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchUpload", "no upload "+uploadID)
			return
		}
		writeXML(w, fmt.Sprintf(`<CompleteMultipartUploadResult><Location>%s/%s/%s</Location><Bucket>%s</Bucket><Key>%s</Key><ETag>"%s-%d"</ETag></CompleteMultipartUploadResult>`,
			s.srv.URL, bucket, xmlEscape(key), bucket, xmlEscape(key), uploadID, len(parts)))
	case "AbortMultipartUpload":
		s.mu.Lock()
		delete(s.uploads, uploadID)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "PutObjectTagging":
		w.WriteHeader(http.StatusOK)
	case "PutObject":
		s.mu.Lock()
		s.objects[bucket+"/"+key] = Object{Size: size, CRC32: crc}
		s.mu.Unlock()
		w.Header().Set("ETag", fmt.Sprintf(`"%08x"`, crc))
		w.WriteHeader(http.StatusOK)
	}
}

// readBody reads r's body and returns the payload's size and CRC32 (aws-chunked
// framing removed) and the bytes on the wire.
func readBody(r *http.Request) (size int64, crc uint32, wire int64, err error) {
	cr := &countingReader{r: r.Body}
	h := crc32.NewIEEE()
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		size, err = dechunk(h, bufio.NewReaderSize(cr, 64<<10))
	} else {
		size, err = io.Copy(h, cr)
	}
	return size, h.Sum32(), cr.n, err
}

// dechunk copies the payload of an aws-chunked body (hex size[;ext] CRLF data
// CRLF ... 0 CRLF trailers CRLF) to w.
func dechunk(w io.Writer, br *bufio.Reader) (int64, error) {
	var total int64
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return total, fmt.Errorf("aws-chunked: chunk header: %w", err)
		}
		hexSize, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(hexSize, 16, 64)
		if err != nil {
			return total, fmt.Errorf("aws-chunked: chunk size %q: %w", hexSize, err)
		}
		if n == 0 {
			_, err := io.Copy(io.Discard, br) // trailers
			return total, err
		}
		if _, err := io.CopyN(w, br, n); err != nil {
			return total, fmt.Errorf("aws-chunked: chunk data: %w", err)
		}
		total += n
		if _, err := br.Discard(2); err != nil {
			return total, errors.New("aws-chunked: missing CRLF after chunk")
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func writeXML(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	writeXMLStatus(w, status, fmt.Sprintf(`<Error><Code>%s</Code><Message>%s</Message></Error>`, code, xmlEscape(msg)))
}

func writeXMLStatus(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
