package query

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Capture receives the raw body of a Query response. Put one in the
// request's context with WithCapture; after Query returns a nil error, Body
// holds the whole body of the attempt that succeeded (its CRC32 checked) and
// Response its members as Locate finds them, which alias Body: the body is
// well-formed except perhaps inside Response.Items, which Transcoder.Items
// checks. After an error they mean nothing.
//
// The middleware reuses Body's capacity, so a Capture is one page's buffer:
// the caller must not pass it to another Query while its Items are still
// being transcoded. A Capture is not safe for concurrent use.
type Capture struct {
	Body     []byte
	Response Response
	// Attempts counts the 200 responses the middleware read for this
	// Capture, retried ones included (it is never reset).
	Attempts int

	small  []byte   // the body handed to the SDK
	follow Follower // delimits Items while the body arrives
}

type captureKey struct{}

// WithCapture returns ctx carrying c, for the Query call the middleware
// should capture.
func WithCapture(ctx context.Context, c *Capture) context.Context {
	return context.WithValue(ctx, captureKey{}, c)
}

// captureFrom returns the Capture ctx carries, or nil.
func captureFrom(ctx context.Context) *Capture {
	c, _ := ctx.Value(captureKey{}).(*Capture)
	return c
}

// MiddlewareID is the ID of the capture middleware in the deserialize step.
const MiddlewareID = "query:CaptureQueryBody"

// The SDK's middleware IDs this one is placed next to.
const (
	checksumID        = "DynamoDB:ResponseChecksumValidation"
	deserializerID    = "OperationDeserializer"
	crc32Header       = "X-Amz-Crc32"
	contentEncoding   = "Content-Encoding"
	contentLengthName = "Content-Length"
)

// WithRawItems is a dynamodb.Options function adding the capture middleware
// to every operation's stack (dynamodb.New(o, query.WithRawItems) or per call
// with Query(ctx, in, query.WithRawItems)). The middleware only acts on
// calls whose context carries a Capture, so other calls, and a Query without
// one, are decoded by the SDK as usual. It also adds the middlewares that
// count a Query's attempts into the Attempts its context carries, if any.
func WithRawItems(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, addMiddleware, addCounters)
}

// addMiddleware adds the capture middleware to a stack (for
// dynamodb.Options.APIOptions): in the deserialize step just inside the
// SDK's CRC32 check, so that it sees the response first, or just inside the
// operation deserializer when the check is disabled.
func addMiddleware(stack *middleware.Stack) error {
	if _, ok := stack.Deserialize.Get(MiddlewareID); ok {
		return nil // already there (client option and per-call option both given)
	}
	if _, ok := stack.Deserialize.Get(checksumID); ok {
		return stack.Deserialize.Insert(captureMiddleware{}, checksumID, middleware.After)
	}
	return stack.Deserialize.Insert(captureMiddleware{}, deserializerID, middleware.After)
}

// captureMiddleware reads a successful Query response whole, checks its
// CRC32, locates its members (Locate: the Items array is delimited, not
// validated; Transcoder.Items validates it) into the context's Capture and
// hands the SDK a small body holding only Count, ScannedCount and
// LastEvaluatedKey.
type captureMiddleware struct{}

func (captureMiddleware) ID() string { return MiddlewareID }

func (captureMiddleware) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	c := captureFrom(ctx)
	if c == nil || awsmiddleware.GetOperationName(ctx) != "Query" {
		return out, md, nil
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode != 200 {
		return out, md, nil // errors go to the SDK's own deserializer
	}
	c.Attempts++
	c.Response = Response{}
	if err := c.read(ctx, resp); err != nil {
		return out, md, err
	}
	resp.Body = &smallBody{b: c.small}
	resp.ContentLength = int64(len(c.small))
	resp.Header.Set(contentLengthName, strconv.Itoa(len(c.small)))
	resp.Header.Set(crc32Header, strconv.FormatUint(uint64(crc32.ChecksumIEEE(c.small)), 10))
	return out, md, nil
}

// read reads resp's body into c and replaces it with c.small.
func (c *Capture) read(ctx context.Context, resp *smithyhttp.Response) error {
	body := resp.Body
	defer body.Close()
	if enc := resp.Header.Get(contentEncoding); enc != "" && enc != "identity" {
		return fmt.Errorf("wire: Query response with Content-Encoding %q: capturing raw items needs EnableAcceptEncodingGzip off", enc)
	}
	// The CRC32 and the Items array's end are found as the body arrives,
	// so that little is left to do after its last byte, when the next
	// request waits for LastEvaluatedKey.
	var err error
	var crc uint32
	c.follow.Reset()
	c.Body, err = readAll(c.Body[:0], body, resp.ContentLength, func(b []byte, from int) {
		crc = crc32.Update(crc, crc32.IEEETable, b[from:])
		c.follow.Follow(b)
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("wire: read Query response: %w", err)
		}
		return &RetryableError{Err: fmt.Errorf("wire: read Query response (%d bytes read): %w", len(c.Body), err)}
	}
	if v := resp.Header.Get(crc32Header); v != "" {
		want, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("wire: Query response: unable to parse checksum header %q: %w", v, err)
		}
		if got := crc; got != uint32(want) {
			return &RetryableError{Err: &ChecksumError{Want: uint32(want), Got: got, Bytes: len(c.Body)}}
		}
	}
	r, err := LocateFollowed(c.Body, &c.follow)
	if err != nil {
		return fmt.Errorf("wire: Query response: %w", err)
	}
	c.Response = r
	c.small = append(c.small[:0], `{"Count":`...)
	c.small = strconv.AppendInt(c.small, int64(r.Count), 10)
	c.small = append(c.small, `,"ScannedCount":`...)
	c.small = strconv.AppendInt(c.small, int64(r.ScannedCount), 10)
	if r.LastEvaluatedKey != nil {
		c.small = append(c.small, `,"LastEvaluatedKey":`...)
		c.small = append(c.small, r.LastEvaluatedKey...)
	}
	c.small = append(c.small, '}')
	return nil
}

// readAll reads r to EOF, appending to dst, growing it once to size+1 when
// the size is known. After each read it calls arrived with dst so far and
// where the new bytes start.
func readAll(dst []byte, r io.Reader, size int64, arrived func(b []byte, from int)) ([]byte, error) {
	if size > 0 && int64(cap(dst)-len(dst)) < size+1 {
		dst = append(dst[:cap(dst)], make([]byte, int(size)+1-(cap(dst)-len(dst)))...)[:len(dst)]
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		if n > 0 {
			dst = dst[:len(dst)+n]
			arrived(dst, len(dst)-n)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// smallBody is the body handed to the SDK.
type smallBody struct {
	b []byte
	i int
}

func (s *smallBody) Read(p []byte) (int, error) {
	if s.i >= len(s.b) {
		return 0, io.EOF
	}
	n := copy(p, s.b[s.i:])
	s.i += n
	return n, nil
}

func (s *smallBody) Close() error { return nil }

// ChecksumError is a response body whose CRC32 is not the one its
// X-Amz-Crc32 header announced: it was damaged or cut short on the way.
type ChecksumError struct {
	Want, Got uint32
	Bytes     int // bytes read
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("wire: Query response did not match its checksum: X-Amz-Crc32 %d, CRC32 of the %d bytes read %d", e.Want, e.Bytes, e.Got)
}

// RetryableError marks a failed read of a response body, or a checksum
// mismatch, as worth retrying: the SDK's standard retryer retries any error
// whose RetryableError method returns true (retry.RetryableError).
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }

func (e *RetryableError) Unwrap() error { return e.Err }

// RetryableError reports true.
func (e *RetryableError) RetryableError() bool { return true }

var _ interface{ RetryableError() bool } = (*RetryableError)(nil)
