package bench

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Object is what the fake S3 kept of an object: its size and a hash, and
// its bytes only when its key has a '/' (see S3).
type Object struct {
	Size  int64
	Parts int
	CRC32 uint32 // CRC32 of the part CRC32s, in part order (0 for PutObject: the body's)
	data  []byte // the bytes, when kept
	kept  bool
}

// S3Stats counts the requests the fake S3 answered.
type S3Stats struct {
	Requests  map[string]int // by operation
	WireBytes int64          // request body bytes as sent, framing included
	Signed    int            // payloads sent with a SHA-256 in x-amz-content-sha256
	Unsigned  int            // payloads sent as UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER
}

// S3 is an in-process, path-style S3 endpoint that accepts multipart uploads
// and PutObject, counts and hashes the bytes and keeps nothing else of an
// object at the top of a bucket (the benchmarks' manifests, which would
// not fit in memory). Of an object whose key has a '/' (what an export
// writes beside its manifest: a parallel export's segments, a continuation's
// state) it keeps the bytes, which GetObject, HeadObject and UploadPartCopy
// serve; DeleteObject(s) and ListObjectsV2 work on every object. Its
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
	data []byte // when the upload's key is kept
}

// keep says whether the fake keeps the bytes of key.
func keep(key string) bool { return strings.Contains(key, "/") }

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
	case r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId") && r.Header.Get("X-Amz-Copy-Source") != "":
		op = "UploadPartCopy"
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
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		op = "ListObjectsV2"
	case r.Method == http.MethodGet && q.Has("tagging"):
		op = "GetObjectTagging"
	case r.Method == http.MethodGet && key != "":
		op = "GetObject"
	case r.Method == http.MethodHead && key != "":
		op = "HeadObject"
	case r.Method == http.MethodDelete && key != "":
		op = "DeleteObject"
	case r.Method == http.MethodPost && q.Has("delete"):
		op = "DeleteObjects"
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented", r.Method+" "+r.URL.String())
		return
	}
	// Read (and hash) the whole request first, as a real endpoint does.
	var kept *bytes.Buffer
	if (op == "PutObject" || op == "UploadPart") && keep(key) || op == "DeleteObjects" {
		kept = new(bytes.Buffer)
	}
	size, crc, wire, err := readBody(r, kept)
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
			if keep(key) {
				parts[n] = part{size: size, crc: crc, data: kept.Bytes()}
			}
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
			obj := Object{Parts: len(parts), kept: keep(key)}
			h := crc32.NewIEEE()
			for i := 1; i <= len(parts); i++ {
				p := parts[i]
				obj.Size += p.size
				if obj.kept {
					obj.data = append(obj.data, p.data...)
				}
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
		obj := Object{Size: size, CRC32: crc}
		if keep(key) {
			obj.data, obj.kept = kept.Bytes(), true
		}
		s.mu.Lock()
		s.objects[bucket+"/"+key] = obj
		s.mu.Unlock()
		w.Header().Set("ETag", fmt.Sprintf(`"%08x"`, crc))
		w.WriteHeader(http.StatusOK)
	default:
		s.serveStored(w, r, op, bucket, key, kept)
	}
}

// serveStored answers the operations on stored objects.
func (s *S3) serveStored(w http.ResponseWriter, r *http.Request, op, bucket, key string, body *bytes.Buffer) {
	q := r.URL.Query()
	// Not held while a body is written: a client reading a GetObject slowly
	// may be waiting for its own UploadPart to be answered.
	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	switch op {
	case "GetObjectTagging":
		writeXML(w, `<Tagging><TagSet></TagSet></Tagging>`)
	case "DeleteObject":
		delete(s.objects, bucket+"/"+key)
		w.WriteHeader(http.StatusNoContent)
	case "DeleteObjects":
		var del struct {
			Object []struct{ Key string }
		}
		if err := xml.Unmarshal(body.Bytes(), &del); err != nil {
			s3Error(w, http.StatusBadRequest, "MalformedXML", err.Error())
			return
		}
		for _, o := range del.Object {
			delete(s.objects, bucket+"/"+o.Key)
		}
		writeXML(w, `<DeleteResult></DeleteResult>`)
	case "ListObjectsV2":
		prefix := q.Get("prefix")
		var keys []string
		for k := range s.objects {
			if b, name, _ := strings.Cut(k, "/"); b == bucket && strings.HasPrefix(name, prefix) {
				keys = append(keys, name)
			}
		}
		slices.Sort(keys)
		var b strings.Builder
		fmt.Fprintf(&b, `<ListBucketResult><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`,
			bucket, xmlEscape(prefix), len(keys))
		for _, k := range keys {
			o := s.objects[bucket+"/"+k]
			fmt.Fprintf(&b, `<Contents><Key>%s</Key><Size>%d</Size><ETag>"%08x"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified><StorageClass>STANDARD</StorageClass></Contents>`,
				xmlEscape(k), o.Size, o.CRC32)
		}
		b.WriteString(`</ListBucketResult>`)
		writeXML(w, b.String())
	case "GetObject", "HeadObject", "UploadPartCopy":
		src := bucket + "/" + key
		if op == "UploadPartCopy" {
			src, _ = url.PathUnescape(strings.TrimPrefix(r.Header.Get("X-Amz-Copy-Source"), "/"))
			src, _, _ = strings.Cut(src, "?versionId=")
		}
		o, ok := s.objects[src]
		switch {
		case !ok:
			s3Error(w, http.StatusNotFound, "NoSuchKey", "no object "+src)
			return
		case !o.kept && op != "HeadObject":
			s3Error(w, http.StatusNotImplemented, "NotImplemented", "the fake keeps no bytes of "+src+" (a key without '/')")
			return
		}
		rangeHeader := r.Header.Get("Range")
		if op == "UploadPartCopy" {
			rangeHeader = r.Header.Get("X-Amz-Copy-Source-Range")
		}
		lo, hi := int64(0), o.Size-1
		if rangeHeader != "" {
			if _, err := fmt.Sscanf(rangeHeader, "bytes=%d-%d", &lo, &hi); err != nil || lo > hi || hi >= o.Size {
				s3Error(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", rangeHeader)
				return
			}
		}
		etag := fmt.Sprintf(`"%08x"`, o.CRC32)
		if op == "UploadPartCopy" {
			n, err := strconv.Atoi(q.Get("partNumber"))
			parts, ok := s.uploads[q.Get("uploadId")]
			if !ok || err != nil {
				s3Error(w, http.StatusNotFound, "NoSuchUpload", "no upload "+q.Get("uploadId"))
				return
			}
			data := o.data[lo : hi+1]
			p := part{size: int64(len(data)), crc: crc32.ChecksumIEEE(data)}
			if keep(key) {
				p.data = data
			}
			parts[n] = p
			writeXML(w, fmt.Sprintf(`<CopyPartResult><ETag>"%08x"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyPartResult>`, p.crc))
			return
		}
		s.mu.Unlock()
		locked = false
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Content-Length", strconv.FormatInt(hi-lo+1, 10))
		h.Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
		status := http.StatusOK
		if rangeHeader != "" {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", lo, hi, o.Size))
			status = http.StatusPartialContent
		}
		w.WriteHeader(status)
		if op == "GetObject" {
			_, _ = w.Write(o.data[lo : hi+1])
		}
	}
}

// readBody reads r's body and returns the payload's size and CRC32 (aws-chunked
// framing removed) and the bytes on the wire.
func readBody(r *http.Request, keep *bytes.Buffer) (size int64, crc uint32, wire int64, err error) {
	cr := &countingReader{r: r.Body}
	h := crc32.NewIEEE()
	var w io.Writer = h
	if keep != nil {
		w = io.MultiWriter(h, keep)
	}
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		size, err = dechunk(w, bufio.NewReaderSize(cr, 64<<10))
	} else {
		size, err = io.Copy(w, cr)
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
