package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
)

// Writer streams one object to S3 as a multipart upload. Make one with New
// (or Resume).
//
// Concurrency: Write is called from one goroutine at a time. Then exactly
// one of Close, Suspend or Abort is called, from that goroutine, once; after
// a Close or Suspend that failed, Abort may still be called to remove the
// upload (or the Writer is dropped and the upload kept, for a Resume from
// the last State). Parts are sent on goroutines of the Writer's own, which
// have all ended when Close, Suspend or Abort returns.
type Writer struct {
	api      API
	t        Target
	opts     Options
	exportID string

	ctx    context.Context // bounds the parts sent by Write
	cancel context.CancelFunc

	uploadID string
	next     int32  // number of the next part
	size     int64  // bytes accepted by Write
	cur      []byte // the part being filled; nil until the first byte
	free     chan []byte
	buffers  int           // part buffers allocated
	sem      chan struct{} // one token per part in flight
	wg       sync.WaitGroup

	// seq is the number of the side object holding the tail this Writer
	// was resumed with; 0 when it was not resumed.
	seq int

	// base is the CRC and size of parts 1..baseParts, sent by earlier
	// invocations (from State); the parts after it are in sums.
	baseParts int32
	base      partSum

	state state

	mu     sync.Mutex
	parts  []types.CompletedPart // part n at index n-1
	sums   []partSum             // part n's CRC and size at index n-1
	err    error                 // first failure of a part
	failed chan struct{}         // closed with err set
}

// partSum is the CRC-64/NVME and size of a part, or of a run of parts.
type partSum struct {
	crc  uint64
	size int64
}

type state int

const (
	open state = iota
	closed
	closeFailed
	suspended
	aborted
)

// New starts a Writer for t. With t.Overwrite false it first looks at the
// key (HeadObject) and fails with ErrExists when an object is there. ctx
// bounds the parts sent while writing (the invocation's context); cancel it
// to stop them, then call Abort. The caller must call one of Close, Suspend
// or Abort.
func New(ctx context.Context, api API, t Target, opts Options) (*Writer, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	w := newWriter(ctx, api, t, opts)
	if w.exportID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		w.exportID = hex.EncodeToString(b[:])
	}
	if !t.Overwrite {
		if err := w.checkAbsent(ctx); err != nil {
			w.cancel()
			return nil, err
		}
	}
	return w, nil
}

func newWriter(ctx context.Context, api API, t Target, opts Options) *Writer {
	w := &Writer{
		api:      api,
		t:        t,
		opts:     opts,
		exportID: t.ExportID,
		next:     1,
		free:     make(chan []byte, opts.Concurrency+1),
		sem:      make(chan struct{}, opts.Concurrency),
		failed:   make(chan struct{}),
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w
}

// ExportID is the id written in the object's metadata (ExportIDMetadata).
func (w *Writer) ExportID() string { return w.exportID }

// Size is the number of bytes written so far, across invocations.
func (w *Writer) Size() int64 { return w.size }

// UploadID is the multipart upload's id, or "" before it is created.
func (w *Writer) UploadID() string { return w.uploadID }

// checkAbsent fails with ErrExists when an object is at the key.
func (w *Writer) checkAbsent(ctx context.Context) error {
	_, err := w.api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(w.t.Bucket), Key: aws.String(w.t.Key), ExpectedBucketOwner: w.owner(),
	})
	var nf *types.NotFound
	switch {
	case err == nil:
		return w.errorf("HeadObject", "%w", ErrExists)
	case httpStatus(err) == 404 || errors.As(err, &nf):
		return nil
	case httpStatus(err) == 403:
		return w.errorf("HeadObject", "%w (without s3:ListBucket on the bucket, S3 answers 403 for a missing key; overwrite: false needs s3:ListBucket and s3:GetObject)", err)
	}
	return w.errorf("HeadObject", "%w", err)
}

// Write copies p into part buffers and sends each full part. It blocks
// while Concurrency parts are in flight. After a part has failed it returns
// that part's error; a Write error is final (every later call returns it).
func (w *Writer) Write(p []byte) (int, error) {
	if w.state != open {
		return 0, w.errorf("Write", "the writer is closed")
	}
	if err := w.failure(); err != nil {
		return 0, err
	}
	if limit := w.opts.PartSize * MaxParts; w.size+int64(len(p)) > limit {
		return 0, w.errorf("Write", "%w: more than S3's %d parts of %d MiB (%d bytes); raise MANIFEST_PART_SIZE_MIB",
			ErrTooLarge, MaxParts, w.opts.PartSize>>20, limit)
	}
	n := 0
	for len(p) > 0 {
		if w.cur == nil {
			b, err := w.buffer()
			if err != nil {
				w.fail(err)
				return n, err
			}
			w.cur = b
		}
		k := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur = w.cur[:len(w.cur)+k]
		if w.opts.Hash != nil {
			w.opts.Hash.Write(p[:k])
		}
		p = p[k:]
		n += k
		w.size += int64(k)
		if len(w.cur) == cap(w.cur) {
			if err := w.flush(); err != nil {
				w.fail(err) // sticky: the bytes in cur were taken but not sent
				return n, err
			}
		}
	}
	return n, nil
}

// buffer returns an empty part buffer: one of Options.Pool's, or a free
// one, a new one while fewer than Concurrency+1 exist, or the next one a
// part gives back.
func (w *Writer) buffer() ([]byte, error) {
	if p := w.opts.Pool; p != nil {
		select {
		case b := <-p.tokens:
			return p.taken(b), nil
		case <-w.failed:
			return nil, w.failure()
		case <-w.ctx.Done():
			return nil, w.errorf("Write", "waiting for a part buffer of the pool: %w", context.Cause(w.ctx))
		}
	}
	select {
	case b := <-w.free:
		return b[:0], nil
	default:
	}
	if w.buffers < w.opts.Concurrency+1 {
		w.buffers++
		return make([]byte, 0, w.opts.PartSize), nil
	}
	select {
	case b := <-w.free:
		return b[:0], nil
	case <-w.failed:
		return nil, w.failure()
	case <-w.ctx.Done():
		return nil, w.errorf("Write", "%w", context.Cause(w.ctx))
	}
}

// flush sends the full current part on its own goroutine, once fewer than
// Concurrency parts are in flight, creating the upload first if needed.
func (w *Writer) flush() error {
	if err := w.ctx.Err(); err != nil {
		return w.errorf("Write", "%w", context.Cause(w.ctx))
	}
	if err := w.create(w.ctx); err != nil {
		return err
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.failed:
		return w.failure()
	case <-w.ctx.Done():
		return w.errorf("Write", "%w", context.Cause(w.ctx))
	}
	n, buf := w.next, w.cur
	w.next++
	w.cur = nil
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := w.sendPart(w.ctx, n, buf)
		if err != nil {
			w.fail(err)
		}
		w.release(buf)
		<-w.sem
	}()
	return nil
}

// release gives back the buffer of a part sent (or of the current part,
// when the Writer is done with it).
func (w *Writer) release(buf []byte) {
	if w.opts.Pool != nil {
		w.opts.Pool.put(buf)
		return
	}
	w.free <- buf
}

// dropCur gives back the current part's buffer, if it is a pool's: called
// once the Writer is closed, suspended or aborted.
func (w *Writer) dropCur() {
	if w.opts.Pool != nil && w.cur != nil {
		w.opts.Pool.put(w.cur)
	}
	w.cur = nil
}

// create starts the multipart upload unless it exists.
func (w *Writer) create(ctx context.Context) error {
	if w.uploadID != "" {
		return nil
	}
	out, err := w.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:               aws.String(w.t.Bucket),
		Key:                  aws.String(w.t.Key),
		ContentType:          w.contentType(),
		ServerSideEncryption: w.t.SSE,
		SSEKMSKeyId:          w.kmsKey(),
		ExpectedBucketOwner:  w.owner(),
		Metadata:             w.metadata(),
		ChecksumAlgorithm:    checksumAlgorithm,
		ChecksumType:         checksumType,
	})
	if err != nil {
		err = w.errorf("CreateMultipartUpload", "%w", err)
		w.fail(err)
		return err
	}
	w.uploadID = aws.ToString(out.UploadId)
	return nil
}

// sendPart sends part n from buf with its CRC and records it. The SDK
// retries what is retryable; a BadDigest (the bytes S3 got do not match the
// CRC) is sent again from buf, which stays the part's own until this
// returns, up to maxDigestRetries times.
func (w *Writer) sendPart(ctx context.Context, n int32, buf []byte) error {
	sum := partSum{crc: crc64nvme.Checksum(buf), size: int64(len(buf))}
	crc := crc64nvme.Encode(sum.crc)
	op := fmt.Sprintf("UploadPart %d", n)
	for try := 0; ; try++ {
		out, err := w.api.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:              aws.String(w.t.Bucket),
			Key:                 aws.String(w.t.Key),
			UploadId:            aws.String(w.uploadID),
			PartNumber:          aws.Int32(n),
			Body:                bytes.NewReader(buf),
			ContentLength:       aws.Int64(int64(len(buf))),
			ExpectedBucketOwner: w.owner(),
			ChecksumAlgorithm:   checksumAlgorithm,
			ChecksumCRC64NVME:   aws.String(crc),
		})
		if isCode(err, "BadDigest") {
			if try < maxDigestRetries {
				continue
			}
			return w.errorf(op, "%w: refused %d times: %w", ErrChecksumMismatch, try+1, err)
		}
		if err != nil {
			return w.errorf(op, "%w", err)
		}
		if got := aws.ToString(out.ChecksumCRC64NVME); got != "" && got != crc {
			return w.errorf(op, "%w: S3 reports CRC64NVME %s for the part, the Writer sent %s", ErrChecksumMismatch, got, crc)
		}
		// Complete lists each part's CRC too (S3 wants them with the
		// whole object's).
		w.record(types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC64NVME: aws.String(crc)}, sum)
		return nil
	}
}

func (w *Writer) record(p types.CompletedPart, sum partSum) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := int(aws.ToInt32(p.PartNumber)) - 1
	if i >= len(w.parts) {
		w.parts = slices.Grow(w.parts, i+1-len(w.parts))[:i+1]
		w.sums = slices.Grow(w.sums, i+1-len(w.sums))[:i+1]
	}
	w.parts[i] = p
	w.sums[i] = sum
}

// sum is the CRC and size of parts 1..next-1: the base from earlier
// invocations combined, in part order, with the parts sent since. Call it
// when no part is in flight.
func (w *Writer) sum() partSum {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.base
	for i := int(w.baseParts); i < int(w.next-1) && i < len(w.sums); i++ {
		s.crc = crc64nvme.Combine(s.crc, w.sums[i].crc, w.sums[i].size)
		s.size += w.sums[i].size
	}
	return s
}

// fail records the first failure and wakes a blocked Write.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		close(w.failed)
	}
}

func (w *Writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close sends the last part and completes the upload (parts 1..N), or, for
// an empty object, puts 0 bytes; ctx bounds these calls. It returns the
// object written.
//
// A Complete that fails where it may or may not have taken effect (ctx
// ended, a network error, a 5xx after the SDK's retries) is settled on a
// cleanup context (Options.Cleanup): the upload is aborted, and when the
// key then holds this export's object Close reports it, else it fails. So
// the reply and the key never disagree. Any other failure leaves the upload
// as it was: call Abort to remove it.
func (w *Writer) Close(ctx context.Context) (*Object, error) {
	if w.state != open {
		return nil, w.errorf("Close", "the writer is already closed")
	}
	obj, err := w.close(ctx)
	w.cancel()
	w.dropCur()
	if err != nil {
		w.state = closeFailed
		return nil, err
	}
	w.state = closed
	return obj, nil
}

func (w *Writer) close(ctx context.Context) (*Object, error) {
	w.wg.Wait()
	if err := w.failure(); err != nil {
		return nil, err
	}
	if w.size == 0 && w.uploadID == "" {
		return w.putEmpty(ctx)
	}
	if err := w.create(ctx); err != nil {
		return nil, err
	}
	if len(w.cur) > 0 {
		n := w.next
		w.next++
		if err := w.sendPart(ctx, n, w.cur); err != nil {
			return nil, err
		}
		w.dropCur()
	}
	parts, err := w.completed()
	if err != nil {
		return nil, err
	}
	sum := w.sum()
	if sum.size != w.size {
		return nil, w.errorf("CompleteMultipartUpload", "the parts hold %d bytes, %d were written", sum.size, w.size)
	}
	crc := crc64nvme.Encode(sum.crc)
	in := &s3.CompleteMultipartUploadInput{
		Bucket:              aws.String(w.t.Bucket),
		Key:                 aws.String(w.t.Key),
		UploadId:            aws.String(w.uploadID),
		MultipartUpload:     &types.CompletedMultipartUpload{Parts: parts},
		ExpectedBucketOwner: w.owner(),
		ChecksumCRC64NVME:   aws.String(crc),
		ChecksumType:        checksumType,
		MpuObjectSize:       aws.Int64(w.size),
	}
	if !w.t.Overwrite {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := w.api.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return w.settle(ctx, err)
	}
	obj := &Object{
		Bucket: w.t.Bucket, Key: w.t.Key, Size: w.size,
		VersionID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag),
		ChecksumCRC64NVME: crc,
	}
	w.dropSides(ctx)
	return obj, nil
}

// completed lists parts 1..N, checking that none is missing.
func (w *Writer) completed() ([]types.CompletedPart, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := int(w.next - 1)
	if len(w.parts) < n {
		return nil, w.errorf("CompleteMultipartUpload", "only %d of %d parts recorded", len(w.parts), n)
	}
	parts := slices.Clone(w.parts[:n])
	for i, p := range parts {
		if aws.ToInt32(p.PartNumber) != int32(i+1) {
			return nil, w.errorf("CompleteMultipartUpload", "part %d was not recorded", i+1)
		}
	}
	return parts, nil
}

func (w *Writer) putEmpty(ctx context.Context) (*Object, error) {
	in := &s3.PutObjectInput{
		Bucket:               aws.String(w.t.Bucket),
		Key:                  aws.String(w.t.Key),
		Body:                 bytes.NewReader(nil),
		ContentLength:        aws.Int64(0),
		ContentType:          w.contentType(),
		ServerSideEncryption: w.t.SSE,
		SSEKMSKeyId:          w.kmsKey(),
		ExpectedBucketOwner:  w.owner(),
		Metadata:             w.metadata(),
		ChecksumAlgorithm:    checksumAlgorithm,
		ChecksumCRC64NVME:    aws.String(crc64nvme.Encode(crc64nvme.Checksum(nil))),
	}
	if !w.t.Overwrite {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := w.api.PutObject(ctx, in)
	if err != nil {
		if httpStatus(err) == 412 {
			err = fmt.Errorf("%w (it appeared while exporting): %w", ErrExists, err)
		}
		return nil, w.errorf("PutObject", "%w", err)
	}
	return &Object{Bucket: w.t.Bucket, Key: w.t.Key, VersionID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag),
		ChecksumCRC64NVME: aws.ToString(in.ChecksumCRC64NVME)}, nil
}

// settle decides what a failed Complete means.
func (w *Writer) settle(ctx context.Context, err error) (*Object, error) {
	cerr := w.errorf("CompleteMultipartUpload", "%w", err)
	status := httpStatus(err)
	switch {
	case isCode(err, "NoSuchUpload"):
		// Gone: completed by an earlier attempt whose reply was lost (the
		// SDK retried), or aborted. Only the key can tell.
		cctx, cancel := w.opts.Cleanup(ctx)
		defer cancel()
		if obj, ours, herr := w.lookOurs(cctx); ours {
			w.dropSides(cctx)
			return obj, nil
		} else if herr != nil {
			return nil, fmt.Errorf("%w; the key could not be checked: %w", cerr, herr)
		}
		return nil, w.errorf("CompleteMultipartUpload", "%w: %w", ErrUploadGone, err)
	case status == 412:
		return nil, w.errorf("CompleteMultipartUpload", "%w (it appeared while exporting): %w", ErrExists, err)
	case checksumRefused(err):
		// Our bytes and our CRC disagree: no retry can complete this
		// upload, so it goes now.
		cctx, cancel := w.opts.Cleanup(ctx)
		defer cancel()
		if aerr := w.abortUpload(cctx); aerr != nil {
			return nil, w.errorf("CompleteMultipartUpload", "%w: %w; then %w", ErrChecksumMismatch, err, aerr)
		}
		return nil, w.errorf("CompleteMultipartUpload", "%w (the upload was aborted): %w", ErrChecksumMismatch, err)
	case status >= 400 && status < 500:
		return nil, cerr // refused: nothing happened
	}
	// It may or may not have happened: abort, so that it cannot happen
	// later, then look; or, with KeepOpen, look and keep it for a retry.
	cctx, cancel := w.opts.Cleanup(ctx)
	defer cancel()
	if w.opts.KeepOpen {
		if obj, ours, _ := w.lookOurs(cctx); ours {
			w.dropSides(cctx)
			return obj, nil
		}
		return nil, fmt.Errorf("%w; the upload is kept for a retry from the last state", cerr)
	}
	aerr := w.abortUpload(cctx)
	obj, ours, herr := w.lookOurs(cctx)
	if ours {
		w.dropSides(cctx)
		return obj, nil
	}
	switch {
	case aerr != nil:
		return nil, fmt.Errorf("%w; then %w: the upload may still complete", cerr, aerr)
	case herr != nil:
		return nil, fmt.Errorf("%w; the upload was aborted, but the key could not be checked: %w", cerr, herr)
	}
	return nil, fmt.Errorf("%w; the upload was aborted and nothing was written at the key", cerr)
}

// lookOurs reports whether the key holds this export's object.
func (w *Writer) lookOurs(ctx context.Context) (*Object, bool, error) {
	return Lookup(ctx, w.api, w.t, w.exportID)
}

// Lookup reports whether t's key holds the object of export exportID (by
// its ExportIDMetadata), and what it is. A missing key is not an error.
func Lookup(ctx context.Context, api API, t Target, exportID string) (*Object, bool, error) {
	out, err := api.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(t.Bucket), Key: aws.String(t.Key), ExpectedBucketOwner: owner(t),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		var nf *types.NotFound
		if httpStatus(err) == 404 || errors.As(err, &nf) {
			return nil, false, nil
		}
		return nil, false, &Error{Op: "HeadObject", Bucket: t.Bucket, Key: t.Key, Err: err}
	}
	if exportID == "" || out.Metadata[ExportIDMetadata] != exportID {
		return nil, false, nil
	}
	return &Object{
		Bucket: t.Bucket, Key: t.Key, VersionID: aws.ToString(out.VersionId),
		Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		ChecksumCRC64NVME: aws.ToString(out.ChecksumCRC64NVME),
	}, true, nil
}

// Abort stops the parts in flight, aborts the multipart upload (if one was
// created) and deletes the side objects this export made, so that nothing
// is left. ctx is the cleanup context: detached from the invocation's, with
// a budget of its own. When the abort fails the error matches
// ErrAbortFailed and names the upload id, which may still be open. Abort
// after a successful Close or Suspend does nothing.
func (w *Writer) Abort(ctx context.Context) error {
	return w.abort(ctx, true)
}

// AbortUpload is Abort keeping the side objects: for a failure that keeps
// the last State for a retry when that State does not name this upload
// (the writer created it since), so the retry will make its own.
func (w *Writer) AbortUpload(ctx context.Context) error {
	return w.abort(ctx, false)
}

func (w *Writer) abort(ctx context.Context, sides bool) error {
	switch w.state {
	case closed, suspended, aborted:
		return nil
	}
	w.state = aborted
	w.cancel()
	w.wg.Wait()
	w.dropCur()
	err := w.abortUpload(ctx)
	if !sides {
		return err
	}
	if derr := w.dropSides(ctx); err == nil {
		err = derr
	}
	return err
}

// abortUpload aborts the upload, if there is one; one already gone is fine.
func (w *Writer) abortUpload(ctx context.Context) error {
	return abortUpload(ctx, w.api, w.t, w.uploadID)
}

func abortUpload(ctx context.Context, api API, t Target, uploadID string) error {
	if uploadID == "" {
		return nil
	}
	_, err := api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(t.Bucket), Key: aws.String(t.Key), UploadId: aws.String(uploadID),
		ExpectedBucketOwner: owner(t),
	})
	if err != nil && !isCode(err, "NoSuchUpload") {
		return &Error{Op: "AbortMultipartUpload", Bucket: t.Bucket, Key: t.Key, UploadID: uploadID,
			Err: fmt.Errorf("%w, the upload may still be open: %w", ErrAbortFailed, err)}
	}
	return nil
}

// dropSides deletes the side objects a resumed export may have left.
func (w *Writer) dropSides(ctx context.Context) error {
	if w.seq == 0 {
		return nil
	}
	return deleteSides(ctx, w.api, w.t, w.seq-1, w.seq, w.seq+1)
}

// deleteSides deletes the side objects numbered seqs (those ≥ 1); missing
// ones are fine.
func deleteSides(ctx context.Context, api API, t Target, seqs ...int) error {
	var ids []types.ObjectIdentifier
	for _, s := range seqs {
		if s >= 1 {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(SideKey(t.SideKey, s))})
		}
	}
	if len(ids) == 0 || t.SideKey == "" {
		return nil
	}
	out, err := api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket:              aws.String(t.Bucket),
		Delete:              &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		ExpectedBucketOwner: owner(t),
	})
	if err == nil && len(out.Errors) > 0 {
		e := out.Errors[0]
		err = fmt.Errorf("%s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
	}
	if err != nil {
		return &Error{Op: "DeleteObjects (side objects " + t.SideKey + ".N)", Bucket: t.Bucket, Key: t.Key, Err: err}
	}
	return nil
}

func (w *Writer) contentType() *string {
	if w.t.ContentType == "" {
		return nil
	}
	return aws.String(w.t.ContentType)
}

func (w *Writer) kmsKey() *string {
	if w.t.KMSKeyID == "" {
		return nil
	}
	return aws.String(w.t.KMSKeyID)
}

func (w *Writer) owner() *string { return owner(w.t) }

func owner(t Target) *string {
	if t.ExpectedBucketOwner == "" {
		return nil
	}
	return aws.String(t.ExpectedBucketOwner)
}

func (w *Writer) metadata() map[string]string {
	m := maps.Clone(w.t.Metadata)
	if m == nil {
		m = map[string]string{}
	}
	m[ExportIDMetadata] = w.exportID
	return m
}

// errorf wraps a failure with the bucket, key and upload id.
func (w *Writer) errorf(op, format string, args ...any) error {
	return &Error{Op: op, Bucket: w.t.Bucket, Key: w.t.Key, UploadID: w.uploadID, Err: fmt.Errorf(format, args...)}
}

// httpStatus is the HTTP status of an S3 error response, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// checksumRefused says whether S3 refused a request for a checksum that
// does not match the bytes: BadDigest, or an InvalidRequest or InvalidPart
// about the checksum.
func checksumRefused(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "BadDigest":
		return true
	case "InvalidRequest", "InvalidPart", "InvalidArgument":
		// Not a checksum missing from the request: one that disagrees.
		m := strings.ToLower(ae.ErrorMessage())
		return strings.Contains(m, "checksum") &&
			(strings.Contains(m, "match") || strings.Contains(m, "invalid") || strings.Contains(m, "incorrect"))
	}
	return false
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
