// Package sink owns the S3 side of an export: a streaming writer whose bytes
// flow through an io.Pipe into the S3 upload manager, so that memory does not
// grow with the size of the manifest, and that leaves nothing behind when it
// fails.
//
// The object appears at its key only when Close succeeds. Abort, or any
// failure of the upload, aborts the multipart upload (once by the manager,
// and once more on a detached context, since the manager aborts with the
// caller's context, which may be dead) so no object and no open upload is
// left.
//
// The upload manager (feature/s3/manager) is deprecated in favour of the
// pre-1.0 feature/s3/transfermanager. We keep it: its API is stable and it
// needs less memory for a 128 MB function. This file is the only one that
// imports it, so a switch touches one file.
package sink

//lint:file-ignore SA1019 feature/s3/manager is deprecated for the pre-1.0 transfermanager; we keep it on purpose (see the package doc).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Defaults sized for a 128 MB function: the manager holds up to
// PartSize × (Concurrency + 1) bytes of pooled parts, plus the first part
// until it is sent. One part in flight is enough there: at 128 MB the
// encoder gets about 1/14 of a vCPU and fills a part far more slowly than
// S3 takes it, and with 3 in flight an S3 slower than the encoder raised
// peak RSS for 1M items above 64 MiB (68 MiB; 49-58 MiB with 1). Bigger
// functions raise it with MANIFEST_UPLOAD_CONCURRENCY.
const (
	DefaultPartSize    = 5 << 20 // S3's minimum part size
	DefaultConcurrency = 1
	// MaxParts is S3's limit on the parts of one multipart upload.
	MaxParts = 10000
	// abortTimeout bounds the detached abort after a failure when Open was
	// given no cleanup context.
	abortTimeout = 10 * time.Second
)

// API is the set of S3 calls the sink makes.
type API interface {
	manager.UploadAPIClient
}

var _ API = (*s3.Client)(nil)

// Options tunes uploads. The zero value uses the defaults.
type Options struct {
	PartSize    int64 // bytes per part; at least 5 MiB
	Concurrency int   // parts in flight
}

// Sink starts uploads to S3. It is safe for concurrent use.
type Sink struct {
	api      API
	uploader *manager.Uploader
	partSize int64
}

// New returns a Sink that uploads through api.
func New(api API, opts Options) *Sink {
	if opts.PartSize < manager.MinUploadPartSize {
		opts.PartSize = DefaultPartSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	up := manager.NewUploader(api, func(u *manager.Uploader) {
		u.PartSize = opts.PartSize
		u.Concurrency = opts.Concurrency
		u.MaxUploadParts = MaxParts
	})
	return &Sink{api: api, uploader: up, partSize: opts.PartSize}
}

// PartSize is the size of each uploaded part.
func (s *Sink) PartSize() int64 { return s.partSize }

// Object is what a completed upload wrote.
type Object struct {
	Bucket, Key string
	VersionID   string // empty when the bucket is not versioned
	Size        int64
}

// Writer streams one object to S3. Write may be called from one goroutine at
// a time; exactly one of Close or Abort must be called, after which the
// upload goroutine has ended.
type Writer struct {
	sink   *Sink
	in     *s3.PutObjectInput
	pw     *io.PipeWriter
	done   chan struct{}
	out    *manager.UploadOutput
	err    error
	size   int64
	closed bool
	// cleanupCtx makes the context of the abort that follows a failure,
	// when the failure happens.
	cleanupCtx func() (context.Context, context.CancelFunc)
}

// Open starts streaming an object described by in (Body is set by Open).
// ctx bounds the upload: cancelling it makes the manager give up, so stop a
// stream with Abort instead. cleanup, called when a failure has happened,
// gives the context that the detached abort runs in (its budget starts
// then); nil: abortTimeout from then.
func (s *Sink) Open(ctx context.Context, in *s3.PutObjectInput, cleanup func() (context.Context, context.CancelFunc)) *Writer {
	pr, pw := io.Pipe()
	req := *in
	req.Body = pr
	if cleanup == nil {
		cleanup = func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		}
	}
	w := &Writer{sink: s, in: &req, pw: pw, done: make(chan struct{}), cleanupCtx: cleanup}
	// The manager notices a failed part only when it next reads the pipe,
	// a whole part later; closing the pipe at once stops the encoder (and
	// the query behind it) with the part's error.
	pw8 := &partWatcher{API: s.api, pr: pr}
	watch := func(u *manager.Uploader) { u.S3 = pw8 }
	go func() {
		defer close(w.done)
		defer func() {
			if p := recover(); p != nil {
				w.err = fmt.Errorf("upload panicked: %v", p)
				pr.CloseWithError(w.err)
			}
		}()
		w.out, w.err = s.uploader.Upload(ctx, &req, watch)
		if partErr := pw8.failed(); w.err != nil && partErr != nil && !errors.Is(w.err, partErr) {
			// The manager saw only the closed pipe; the part's error is the cause.
			w.err = &partError{part: partErr, upload: w.err}
		}
		// Whatever happened, the writer side must not block for ever: a
		// failed upload stops reading the pipe.
		if w.err != nil {
			pr.CloseWithError(w.err)
		} else {
			pr.CloseWithError(errors.New("upload already complete"))
		}
	}()
	return w
}

// ErrTooLarge is returned by Write when the object would need more than
// MaxParts parts of the configured size.
var ErrTooLarge = errors.New("manifest too large")

// Write sends p to the upload. After the upload has failed it returns the
// upload's error (the root cause), not a closed-pipe error.
func (w *Writer) Write(p []byte) (int, error) {
	if limit := w.sink.partSize * MaxParts; w.size+int64(len(p)) > limit {
		return 0, w.describe(fmt.Errorf("%w: more than S3's %d parts of %d MiB (%d bytes); raise MANIFEST_PART_SIZE_MIB or split the query with query.limit",
			ErrTooLarge, MaxParts, w.sink.partSize>>20, limit))
	}
	n, err := w.pw.Write(p)
	w.size += int64(n)
	if err != nil {
		<-w.done
		if w.err != nil {
			return n, w.describe(w.err)
		}
	}
	return n, err
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// Close completes the upload and returns the object it wrote. On failure the
// upload has been aborted and nothing is left at the key. The upload is
// bounded by the context given to Open.
func (w *Writer) Close() (*Object, error) {
	if w.closed {
		return nil, errors.New("sink: Close after Close or Abort")
	}
	w.closed = true
	w.pw.Close()
	<-w.done
	if w.err != nil {
		w.cleanup()
		return nil, w.describe(w.err)
	}
	return &Object{
		Bucket:    aws.ToString(w.in.Bucket),
		Key:       aws.ToString(w.in.Key),
		VersionID: aws.ToString(w.out.VersionID),
		Size:      w.size,
	}, nil
}

// Abort stops the upload with cause and makes sure nothing is left: no
// object at the key and no open multipart upload. It returns the upload's
// own error when that is what failed first, else nil.
func (w *Writer) Abort(cause error) error {
	if w.closed {
		return nil
	}
	w.closed = true
	if cause == nil {
		cause = errors.New("aborted")
	}
	w.pw.CloseWithError(cause)
	<-w.done
	w.cleanup()
	if w.err != nil && !errors.Is(w.err, cause) {
		return w.describe(w.err)
	}
	return nil
}

// cleanup aborts the multipart upload again on a detached context: the
// manager aborts with the upload's context, which may have ended, and
// discards the abort's error.
func (w *Writer) cleanup() {
	var mf manager.MultiUploadFailure
	if !errors.As(w.err, &mf) || mf.UploadID() == "" {
		return
	}
	ctx, cancel := w.cleanupCtx()
	defer cancel()
	_, _ = w.sink.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:              w.in.Bucket,
		Key:                 w.in.Key,
		UploadId:            aws.String(mf.UploadID()),
		ExpectedBucketOwner: w.in.ExpectedBucketOwner,
	})
}

func (w *Writer) describe(err error) error {
	return &Error{Bucket: aws.ToString(w.in.Bucket), Key: aws.ToString(w.in.Key), Err: err}
}

// partWatcher closes the pipe's read side with an UploadPart error as soon
// as it happens.
type partWatcher struct {
	API
	pr  *io.PipeReader
	mu  sync.Mutex
	err error
}

func (p *partWatcher) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	out, err := p.API.UploadPart(ctx, in, optFns...)
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
		p.pr.CloseWithError(err)
	}
	return out, err
}

func (p *partWatcher) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// partError is a failed part (the root cause) together with the manager's
// own error, which carries the upload id for the abort.
type partError struct{ part, upload error }

func (e *partError) Error() string {
	msg := "upload part: " + e.part.Error()
	var mf manager.MultiUploadFailure
	if errors.As(e.upload, &mf) {
		msg += " (upload id " + mf.UploadID() + ")"
	}
	return msg
}

func (e *partError) Unwrap() []error { return []error{e.part, e.upload} }

// Error is a failed upload; it names the bucket and key.
type Error struct {
	Bucket, Key string
	Err         error
}

func (e *Error) Error() string {
	return fmt.Sprintf("upload s3://%s/%s: %v", e.Bucket, e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
