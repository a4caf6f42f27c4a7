package upload

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
)

// State is where a suspended upload stands: small (no part list; S3 keeps
// that) and serialisable as JSON. It always holds Size = PartsSize +
// TailSize: parts 1..Parts hold PartsSize bytes, each at least MinPartSize
// (a part is PartSize bytes unless Append made it), and the tail is in side
// object SideKey(Target.SideKey, Seq). It is a plain value, safe to copy and to
// use from any goroutine.
type State struct {
	UploadID string `json:"uploadId,omitempty"` // "" while no part has been sent
	ExportID string `json:"exportId"`
	PartSize int64  `json:"partSize"`
	Parts    int32  `json:"parts"` // parts 1..Parts are in S3
	// PartsSize is the bytes in parts 1..Parts.
	PartsSize int64 `json:"partsSize"`
	Size      int64 `json:"size"`               // bytes written so far
	Seq       int   `json:"seq"`                // number of the side object holding the tail
	TailSize  int64 `json:"tailSize,omitempty"` // bytes in the side object
	// CRC64NVME is the CRC-64/NVME of parts 1..Parts (Size-TailSize
	// bytes), base64 of its 8 big-endian bytes: Close combines the later
	// parts' into it for the whole object's. A State without it (from
	// before full-object checksums) cannot be resumed.
	CRC64NVME string `json:"crc64nvme"`
	// Hash is the marshalled state of Options.Hash, when set.
	Hash []byte `json:"hash,omitempty"`
}

func (s State) check() error {
	switch {
	case s.PartSize < MinPartSize || s.PartSize > MaxPartSize:
		return fmt.Errorf("part size %d out of range", s.PartSize)
	case s.Parts < 0 || s.Parts > MaxParts:
		return fmt.Errorf("%d parts out of range", s.Parts)
	case s.TailSize < 0 || s.TailSize >= s.PartSize:
		return fmt.Errorf("tail of %d bytes out of range", s.TailSize)
	case s.PartsSize < int64(s.Parts)*MinPartSize || s.Size != s.PartsSize+s.TailSize:
		return fmt.Errorf("size %d is not %d parts of %d bytes (at least %d each) and a tail of %d", s.Size, s.Parts, s.PartsSize, MinPartSize, s.TailSize)
	case s.Parts > 0 && s.UploadID == "":
		return errors.New("parts without an upload id")
	case s.Seq < 0 || (s.TailSize > 0 && s.Seq == 0):
		return fmt.Errorf("side object number %d out of range", s.Seq)
	case s.ExportID == "":
		return errors.New("no export id")
	case s.CRC64NVME == "":
		return errors.New("no crc64nvme: the state was written before full-object checksums; cancel the export and start again")
	}
	if _, err := crc64nvme.Decode(s.CRC64NVME); err != nil {
		return err
	}
	return nil
}

// Suspend waits for the parts in flight, writes the unsent tail (less than
// one part) to a new side object and returns the State from which Resume
// goes on. ctx bounds these calls. It needs Target.SideKey. When a part has
// failed, Suspend returns its error and the last State returned before
// still holds: a retry from it re-sends the parts by number.
func (w *Writer) Suspend(ctx context.Context) (State, error) {
	if w.state != open {
		return State{}, w.errorf("Suspend", "the writer is already closed")
	}
	st, err := w.suspend(ctx)
	w.cancel()
	w.dropCur() // the tail is in its side object, or lost with the failure
	if err != nil {
		w.state = closeFailed
		return State{}, err
	}
	w.state = suspended
	return st, nil
}

func (w *Writer) suspend(ctx context.Context) (State, error) {
	if w.t.SideKey == "" {
		return State{}, w.errorf("Suspend", "Target.SideKey is empty: no place for the tail")
	}
	w.wg.Wait()
	if err := w.failure(); err != nil {
		return State{}, err
	}
	sum := w.sum()
	st := State{
		UploadID: w.uploadID, ExportID: w.exportID, PartSize: w.opts.PartSize,
		Parts: w.next - 1, Size: w.size, Seq: w.seq + 1, TailSize: int64(len(w.cur)),
		PartsSize: sum.size, CRC64NVME: crc64nvme.Encode(sum.crc),
	}
	if sum.size != st.Size-st.TailSize {
		return State{}, w.errorf("Suspend", "the parts hold %d bytes, want %d", sum.size, st.Size-st.TailSize)
	}
	if w.opts.Hash != nil {
		m, ok := w.opts.Hash.(encoding.BinaryMarshaler)
		if !ok {
			return State{}, w.errorf("Suspend", "Options.Hash %T cannot save its state", w.opts.Hash)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			return State{}, w.errorf("Suspend", "save hash: %w", err)
		}
		st.Hash = b
	}
	if len(w.cur) > 0 {
		key := SideKey(w.t.SideKey, st.Seq)
		_, err := w.api.PutObject(ctx, &s3.PutObjectInput{
			Bucket:               aws.String(w.t.Bucket),
			Key:                  aws.String(key),
			Body:                 bytes.NewReader(w.cur),
			ContentLength:        aws.Int64(int64(len(w.cur))),
			ServerSideEncryption: w.t.SSE,
			SSEKMSKeyId:          w.kmsKey(),
			ExpectedBucketOwner:  w.owner(),
			Metadata:             map[string]string{ExportIDMetadata: w.exportID},
			// The tag lets a lifecycle rule expire side objects that an
			// abandoned export leaves (README, template.yaml).
			Tagging: aws.String(SideObjectTag),
		})
		if err != nil {
			return State{}, w.errorf("PutObject "+key, "%w", err)
		}
	}
	// A retry of this invocation gets the State this Writer resumed from
	// (Seq-1 here) and needs its tail; the one before is no longer needed.
	if err := deleteSides(ctx, w.api, w.t, w.seq-1); err != nil {
		return State{}, err
	}
	return st, nil
}

// Resume returns a Writer that goes on from st, written by Suspend for the
// same target. It reads back the parts S3 holds (ListParts), checks that
// parts 1..st.Parts are there and hold st.PartsSize bytes, and loads the tail from its side
// object. ctx bounds these calls and the parts sent by Write. Parts are
// numbered on from st.Parts+1, so a retried invocation overwrites the parts
// a failed one sent.
//
// When the upload no longer exists Resume fails with ErrUploadGone, unless
// the key holds this export's object (the Complete succeeded but its reply
// was lost): then the error is an *AlreadyCompleteError carrying it.
func Resume(ctx context.Context, api API, t Target, st State, opts Options) (*Writer, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	if t.ExportID != "" && t.ExportID != st.ExportID {
		return nil, fmt.Errorf("upload: the state belongs to export %q, not %q", st.ExportID, t.ExportID)
	}
	t.ExportID = st.ExportID
	if err := st.check(); err != nil {
		return nil, &Error{Op: "Resume", Bucket: t.Bucket, Key: t.Key, UploadID: st.UploadID, Err: fmt.Errorf("invalid state: %w", err)}
	}
	if opts.PartSize != 0 && opts.PartSize != st.PartSize {
		return nil, fmt.Errorf("upload: the state has parts of %d bytes, not Options.PartSize %d", st.PartSize, opts.PartSize)
	}
	opts.PartSize = st.PartSize
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if st.TailSize > 0 && t.SideKey == "" {
		return nil, errors.New("upload: Target.SideKey is empty but the state has a tail in a side object")
	}
	w := newWriter(ctx, api, t, opts)
	w.uploadID, w.seq, w.size, w.next = st.UploadID, st.Seq, st.Size, st.Parts+1
	w.baseParts = st.Parts
	w.base.crc, _ = crc64nvme.Decode(st.CRC64NVME) // checked
	w.base.size = st.PartsSize
	ok := false
	defer func() {
		if !ok {
			w.cancel()
			w.dropCur()
		}
	}()
	if st.UploadID == "" && st.TailSize == 0 {
		// Nothing in S3 tells a completed export from one that wrote
		// nothing yet, but the key.
		if obj, ours, _ := w.lookOurs(ctx); ours {
			return nil, w.errorf("Resume", "%w", &AlreadyCompleteError{Object: *obj})
		}
	}
	if st.UploadID != "" {
		if err := w.listParts(ctx, st.Parts); err != nil {
			return nil, err
		}
	}
	if st.TailSize > 0 {
		if err := w.loadTail(ctx, st); err != nil {
			return nil, err
		}
	}
	if opts.Hash != nil && st.Hash != nil {
		u, ok := opts.Hash.(encoding.BinaryUnmarshaler)
		if !ok {
			return nil, fmt.Errorf("upload: Options.Hash %T cannot load its state", opts.Hash)
		}
		if err := u.UnmarshalBinary(st.Hash); err != nil {
			return nil, fmt.Errorf("upload: load hash state: %w", err)
		}
	}
	ok = true
	return w, nil
}

// listParts reads parts 1..n back from S3, 1000 a page.
func (w *Writer) listParts(ctx context.Context, n int32) error {
	in := &s3.ListPartsInput{
		Bucket: aws.String(w.t.Bucket), Key: aws.String(w.t.Key), UploadId: aws.String(w.uploadID),
		MaxParts: aws.Int32(listPageSize), ExpectedBucketOwner: w.owner(),
	}
	var got int32
	var size int64
	for {
		out, err := w.api.ListParts(ctx, in)
		if err != nil {
			if isCode(err, "NoSuchUpload") {
				return w.gone(ctx, "ListParts", err)
			}
			return w.errorf("ListParts", "%w", err)
		}
		for _, p := range out.Parts {
			num := aws.ToInt32(p.PartNumber)
			if num < 1 || num > n {
				continue // a later part a failed attempt sent: it will be sent again
			}
			if n := aws.ToInt64(p.Size); n < MinPartSize {
				return w.errorf("ListParts", "part %d has %d bytes, less than S3's %d", num, n, MinPartSize)
			}
			size += aws.ToInt64(p.Size)
			// Their CRCs are combined in the State's (w.base); Complete
			// lists each.
			if aws.ToString(p.ChecksumCRC64NVME) == "" {
				return w.errorf("ListParts", "part %d has no CRC64NVME checksum", num)
			}
			w.record(types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag, ChecksumCRC64NVME: p.ChecksumCRC64NVME}, partSum{})
			got++
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextPartNumberMarker) == "" {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	if _, err := w.completed(); err != nil || got != n {
		return w.errorf("ListParts", "S3 holds %d of parts 1..%d of this upload", got, n)
	}
	if size != w.base.size {
		return w.errorf("ListParts", "parts 1..%d hold %d bytes, the state says %d", n, size, w.base.size)
	}
	return nil
}

// gone explains a vanished upload or tail (op failed with err): completed
// by an earlier invocation (the key holds this export's object; the
// completion deleted the side objects), or aborted or expired.
func (w *Writer) gone(ctx context.Context, op string, err error) error {
	obj, ours, herr := w.lookOurs(ctx)
	if ours {
		return w.errorf(op, "%w", &AlreadyCompleteError{Object: *obj})
	}
	if herr != nil {
		return w.errorf(op, "%w (and the key could not be checked: %w)", err, herr)
	}
	return w.errorf(op, "%w: %w", ErrUploadGone, err)
}

// loadTail reads the tail from its side object into the current buffer.
func (w *Writer) loadTail(ctx context.Context, st State) error {
	key := SideKey(w.t.SideKey, st.Seq)
	out, err := w.api.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(w.t.Bucket), Key: aws.String(key), ExpectedBucketOwner: w.owner(),
	})
	if isCode(err, "NoSuchKey") {
		return w.gone(ctx, "GetObject "+key, err)
	}
	if err != nil {
		return w.errorf("GetObject "+key, "the tail of the export: %w", err)
	}
	defer out.Body.Close()
	buf, err := w.buffer()
	if err != nil {
		return err
	}
	buf = buf[:st.TailSize]
	if _, err := io.ReadFull(out.Body, buf); err != nil {
		return w.errorf("GetObject "+key, "read %d bytes of tail: %w", st.TailSize, err)
	}
	if n, _ := out.Body.Read(make([]byte, 1)); n > 0 {
		return w.errorf("GetObject "+key, "the side object is longer than the tail's %d bytes", st.TailSize)
	}
	w.cur = buf
	return nil
}

// Cancel gives up the export st describes: it aborts the upload (one
// already gone is fine, so a second Cancel is harmless) and deletes the
// side objects. ctx is a cleanup context. An object this export already
// completed at the key is left alone.
func Cancel(ctx context.Context, api API, t Target, st State) error {
	if err := t.validate(); err != nil {
		return err
	}
	err := abortUpload(ctx, api, t, st.UploadID)
	if derr := deleteSides(ctx, api, t, st.Seq-1, st.Seq, st.Seq+1); err == nil {
		err = derr
	}
	return err
}
