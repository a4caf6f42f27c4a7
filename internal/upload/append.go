package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
)

// CopyAPI is the S3 call Append makes besides API's: a part copied from
// another object, server-side.
type CopyAPI interface {
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
}

var _ CopyAPI = (*s3.Client)(nil)

// Source is a completed S3 object whose bytes Append adds to an upload: a
// segment of the same export written by another Writer. Size is its length
// in bytes (Object.Size); VersionID, when set, pins the version read;
// ChecksumCRC64NVME, when set (Object.ChecksumCRC64NVME), lets Append tell
// a service that answers a ranged copy with the whole source's checksum.
type Source struct {
	Bucket, Key, VersionID string
	Size                   int64
	ChecksumCRC64NVME      string
}

// Append adds src's bytes after everything written so far. Stretches of
// src that can be whole parts (at least MinPartSize, split at MaxPartSize)
// are copied by S3 itself (UploadPartCopy): their bytes do not pass through
// the Writer. What cannot is read (GetObject with a Range) into the current
// part, so about MinPartSize bytes at most are read per Append: the first
// bytes of src that top up a current part of fewer than MinPartSize bytes,
// or all of a src (or the rest of one) smaller than MinPartSize. The parts
// stay numbered 1..N with every one but the last at least MinPartSize. The
// CRC of a copied part is the one S3 returns for it (or, if it returns
// none, read back), combined into the object's.
//
// Append is called like Write (one goroutine, before Close or Suspend),
// works after Resume, and fails sticky like Write. The API given to New or
// Resume must also implement CopyAPI; Options.Hash, which would not see the
// copied bytes, must be nil. ctx bounds the calls Append makes.
func (w *Writer) Append(ctx context.Context, src Source) error {
	if w.state != open {
		return w.errorf("Append", "the writer is closed")
	}
	if err := w.failure(); err != nil {
		return err
	}
	if err := w.append(ctx, src); err != nil {
		w.fail(err)
		return err
	}
	return nil
}

func (w *Writer) append(ctx context.Context, src Source) error {
	op := "Append s3://" + src.Bucket + "/" + src.Key
	switch {
	case src.Size < 0 || src.Bucket == "" || src.Key == "":
		return w.errorf(op, "invalid source %+v", src)
	case w.opts.Hash != nil:
		return w.errorf(op, "Options.Hash is set: it cannot see the bytes S3 copies")
	case src.Size == 0:
		return nil
	}
	if limit := w.opts.PartSize * MaxParts; w.size+src.Size > limit {
		return w.errorf(op, "%w: more than %d bytes", ErrTooLarge, limit)
	}
	off := int64(0)
	switch c := int64(len(w.cur)); {
	case c >= MinPartSize:
		if err := w.flush(); err != nil {
			return err
		}
	case c > 0:
		// Top the current part up to MinPartSize from src's first bytes.
		k := min(MinPartSize-c, src.Size)
		if err := w.readFrom(ctx, op, src, 0, k); err != nil {
			return err
		}
		off = k
	}
	rest := src.Size - off
	if rest < MinPartSize {
		return w.readFrom(ctx, op, src, off, rest)
	}
	if len(w.cur) > 0 { // topped up to MinPartSize (but not full)
		if err := w.flush(); err != nil {
			return err
		}
	}
	// Copy the rest as parts of at most MaxPartSize, all about the same
	// size, so each is at least MinPartSize.
	n := (rest + MaxPartSize - 1) / MaxPartSize
	if int64(w.next-1)+n > MaxParts {
		return w.errorf(op, "%w: more than S3's %d parts", ErrTooLarge, MaxParts)
	}
	if err := w.create(ctx); err != nil {
		return err
	}
	copied := int64(0)
	for i := range n {
		a := off + rest*i/n
		b := off + rest*(i+1)/n
		err := w.copyPart(ctx, op, src, a, b-a)
		if errors.Is(err, errWholeSourceCRC) {
			// The part the service copied carries a checksum that is
			// not its own: its bytes are read and sent instead (the
			// part of that number is sent again).
			w.size += copied
			return w.readFrom(ctx, op, src, a, off+rest-a)
		}
		if err != nil {
			return err
		}
		copied += b - a
	}
	w.size += rest
	return nil
}

// errWholeSourceCRC is a service that answers a ranged UploadPartCopy with
// the checksum of the whole source, and keeps it as the part's: versitygw
// does; S3 computes the range's.
var errWholeSourceCRC = errors.New("the service gives a ranged copy the whole source's checksum")

// readFrom reads n bytes of src from off into the current part, sending
// full parts as Write does.
func (w *Writer) readFrom(ctx context.Context, op string, src Source, off, n int64) error {
	if n == 0 {
		return nil
	}
	body, err := w.getRange(ctx, src, off, n)
	if err != nil {
		return w.errorf(op, "GetObject: %w", err)
	}
	defer body.Close()
	k, err := io.Copy(writeOnly{w}, io.LimitReader(body, n))
	if err != nil {
		return err
	}
	if k != n {
		return w.errorf(op, "GetObject: %d of %d bytes from %d", k, n, off)
	}
	return nil
}

// writeOnly hides Writer's other methods from io.Copy.
type writeOnly struct{ w *Writer }

func (o writeOnly) Write(p []byte) (int, error) { return o.w.Write(p) }

func (w *Writer) getRange(ctx context.Context, src Source, off, n int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(src.Bucket), Key: aws.String(src.Key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)), ExpectedBucketOwner: w.owner(),
	}
	if src.VersionID != "" {
		in.VersionId = aws.String(src.VersionID)
	}
	out, err := w.api.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// copyPart copies n bytes of src from off as the next part.
func (w *Writer) copyPart(ctx context.Context, op string, src Source, off, n int64) error {
	c, ok := w.api.(CopyAPI)
	if !ok {
		return w.errorf(op, "the S3 client %T has no UploadPartCopy", w.api)
	}
	num := w.next
	cs := src.Bucket + "/" + (&url.URL{Path: src.Key}).EscapedPath()
	if src.VersionID != "" {
		cs += "?versionId=" + url.QueryEscape(src.VersionID)
	}
	out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket:              aws.String(w.t.Bucket),
		Key:                 aws.String(w.t.Key),
		UploadId:            aws.String(w.uploadID),
		PartNumber:          aws.Int32(num),
		CopySource:          aws.String(cs),
		CopySourceRange:     aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)),
		ExpectedBucketOwner: w.owner(),
	})
	if err != nil {
		return w.errorf(fmt.Sprintf("UploadPartCopy %d (%s)", num, op), "%w", err)
	}
	res := out.CopyPartResult
	if res == nil {
		res = &types.CopyPartResult{}
	}
	crc := aws.ToString(res.ChecksumCRC64NVME)
	var sum partSum
	if crc != "" && crc == src.ChecksumCRC64NVME && n != src.Size {
		return errWholeSourceCRC
	}
	if crc != "" {
		v, err := crc64nvme.Decode(crc)
		if err != nil {
			return w.errorf(fmt.Sprintf("UploadPartCopy %d", num), "%w", err)
		}
		sum = partSum{crc: v, size: n}
	} else {
		// S3 did not say: read the range back (it costs the bytes, once).
		body, err := w.getRange(ctx, src, off, n)
		if err != nil {
			return w.errorf(fmt.Sprintf("UploadPartCopy %d", num), "no CRC64NVME in the reply, and reading the range: %w", err)
		}
		h := crc64nvme.New()
		k, err := io.Copy(h, body)
		body.Close()
		if err != nil || k != n {
			return w.errorf(fmt.Sprintf("UploadPartCopy %d", num), "no CRC64NVME in the reply, and reading the range: %d of %d bytes: %v", k, n, err)
		}
		sum = partSum{crc: h.Sum64(), size: n}
		crc = crc64nvme.Encode(sum.crc)
	}
	w.next++
	w.record(types.CompletedPart{PartNumber: aws.Int32(num), ETag: res.ETag, ChecksumCRC64NVME: aws.String(crc)}, sum)
	return nil
}
