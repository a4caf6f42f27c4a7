// Package upload owns the S3 side of an export: a Writer that streams one
// object as a multipart upload from a bounded pool of reused part buffers,
// and that can stop before the object is whole (Suspend) and go on in a
// later invocation (Resume), or be given up (Abort, Cancel).
//
// The object appears at its key only when Close succeeds. Every non-empty
// object goes up as a multipart upload, which an abort cancels for good (a
// single PutObject whose body is already on the wire cannot be stopped); an
// empty object is a 0-byte PutObject. CreateMultipartUpload is lazy: it is
// sent with the first full part, or by Close, so an empty export makes no
// multipart call and a Suspend before the first full part makes none either.
//
// Memory: at most Concurrency+1 buffers of PartSize bytes are ever
// allocated by one Writer, whatever the size of the object; Writers that
// share a Pool hold at most its buffers between them.
//
// Resumability: Suspend writes the unsent tail (less than one part) to a
// small side object beside the target and returns a small State; Resume
// reads back from S3 what S3 knows (the parts and their ETags, with
// ListParts) and the tail, and the Writer goes on. Side objects are named
// SideKey(target.SideKey, seq), one per Suspend, so that a retried
// invocation, which gets the same State again, finds the tail it was given
// even if the lost attempt suspended again; at most three exist at a time
// and all are deleted once the export completes or is cancelled.
//
// Integrity: the upload has a full-object CRC-64/NVME checksum (ChecksumType
// FULL_OBJECT). Each part is sent with its CRC, which the Writer computes
// from the part's buffer, and Complete is sent with the whole object's CRC
// (and size), which the Writer combines from the parts' CRCs in part order;
// so S3 refuses an object whose bytes differ from what was written. A part
// refused for its checksum (BadDigest) is sent again from its buffer, up to
// maxDigestRetries times; a Complete refused for the whole object's
// checksum fails with ErrChecksumMismatch and the upload is aborted. The
// running CRC rides in State across invocations. An empty object is put
// with the CRC of zero bytes.
//
// Joining: Append adds a completed object (a segment another Writer of the
// same export wrote) after what is written, copying the stretches that can
// be whole parts server-side (UploadPartCopy) and reading only what cannot.
// Sharing: Writers given one Pool (Options.Pool) take their part buffers
// from it, so that many of them at once hold a bounded amount of memory.
package upload

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Sizes and defaults.
const (
	MinPartSize     = 5 << 20 // S3's minimum size of every part but the last
	MaxPartSize     = 5 << 30 // S3's maximum part size
	DefaultPartSize = MinPartSize
	// DefaultConcurrency is one part in flight, sized for a 128 MB function
	// (docs/performance.md has the measurements behind it).
	DefaultConcurrency = 1
	// MaxParts is S3's limit on the parts of one multipart upload.
	MaxParts = 10000
	// DefaultCleanupTimeout bounds the cleanup Close runs after an
	// interrupted Complete when Options.Cleanup is not set.
	DefaultCleanupTimeout = 10 * time.Second
	// ExportIDMetadata is the user metadata key (x-amz-meta-export-id) that
	// names the export an object belongs to.
	ExportIDMetadata = "export-id"
	// SideObjectTag is the tag (key=value, URL-encoded) of every side
	// object, for a lifecycle rule to expire those of abandoned exports.
	SideObjectTag = "ddb-query-to-s3-manifest=resume-side-object"
	// listPageSize is how many parts one ListParts call asks for.
	listPageSize = 1000
)

// The checksum S3 keeps for the object: CRC-64/NVME of the whole object,
// which the Writer computes and sends (the SDK computes nothing).
const (
	checksumAlgorithm = types.ChecksumAlgorithmCrc64nvme
	checksumType      = types.ChecksumTypeFullObject
	// maxDigestRetries is how many times a part refused for its checksum
	// (BadDigest, which the SDK does not retry) is sent again.
	maxDigestRetries = 3
)

// API is the set of S3 calls the writer makes.
type API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
}

var _ API = (*s3.Client)(nil)

// Target is the object to write and how. Bucket and Key are required. It
// is a value: New, Resume and Cancel copy it.
type Target struct {
	Bucket, Key string
	ContentType string
	// SSE is "", "AES256", "aws:kms" or "aws:kms:dsse"; KMSKeyID only
	// goes with the last two.
	SSE                 types.ServerSideEncryption
	KMSKeyID            string
	ExpectedBucketOwner string
	Metadata            map[string]string // user metadata; ExportIDMetadata is set by the writer
	// Overwrite false: New fails with ErrExists when an object is at the
	// key (HeadObject, before any data), and the final write is
	// conditional (If-None-Match: *) for races.
	Overwrite bool
	// ExportID names this export in the object's metadata, so that an
	// interrupted or retried Complete can recognise its own object. Empty:
	// New makes a random one (kept in State).
	ExportID string
	// SideKey is the base name of the side objects that hold the unsent
	// tail between invocations, in the target's bucket. Required to Suspend.
	SideKey string
}

// Options tunes a Writer. The zero value uses the defaults. The Writer
// keeps Hash and writes to it from Write; nothing else may use it until the
// Writer is closed.
type Options struct {
	PartSize    int64 // bytes per part, MinPartSize to MaxPartSize; 0: DefaultPartSize
	Concurrency int   // parts in flight; 0: DefaultConcurrency
	// Cleanup makes the context for the cleanup that follows an
	// interrupted Complete (abort, then look at the key), when the failure
	// is noticed; ctx is Close's, possibly dead. Nil: a context detached
	// from ctx that lasts DefaultCleanupTimeout.
	Cleanup func(ctx context.Context) (context.Context, context.CancelFunc)
	// Hash, when set, is written every byte in order. To Suspend and
	// Resume it must implement encoding.BinaryMarshaler and
	// BinaryUnmarshaler (hash/crc64's digest does); its state rides in
	// State.Hash.
	Hash hash.Hash
	// Pool, when set, is where the Writer takes its part buffers from,
	// instead of allocating Concurrency+1 of its own; PartSize is then the
	// pool's buffer size (0 takes it).
	Pool *Pool
	// KeepOpen: a Complete that may or may not have taken effect keeps the
	// upload (after checking the key) instead of aborting it, so that a
	// retry from the last State goes on: its Resume finds the upload open,
	// or completed. For exports that have a State to retry from.
	KeepOpen bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Pool != nil {
		if o.PartSize != 0 && o.PartSize != o.Pool.size {
			return o, fmt.Errorf("upload: PartSize %d is not the size of Options.Pool's buffers, %d", o.PartSize, o.Pool.size)
		}
		o.PartSize = o.Pool.size
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize || o.PartSize > MaxPartSize {
		return o, fmt.Errorf("upload: PartSize %d is outside S3's %d to %d bytes", o.PartSize, MinPartSize, int64(MaxPartSize))
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Concurrency < 0 {
		return o, fmt.Errorf("upload: Concurrency %d is negative", o.Concurrency)
	}
	if o.Cleanup == nil {
		o.Cleanup = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.WithoutCancel(ctx), DefaultCleanupTimeout)
		}
	}
	return o, nil
}

func (t Target) validate() error {
	switch {
	case t.Bucket == "":
		return errors.New("upload: Target.Bucket is empty")
	case t.Key == "":
		return errors.New("upload: Target.Key is empty")
	case t.SideKey != "" && t.SideKey == t.Key:
		return errors.New("upload: Target.SideKey is the target's key")
	}
	switch t.SSE {
	case "", types.ServerSideEncryptionAes256:
		if t.KMSKeyID != "" {
			return fmt.Errorf("upload: Target.KMSKeyID is set but Target.SSE is %q, not aws:kms or aws:kms:dsse", t.SSE)
		}
	case types.ServerSideEncryptionAwsKms, types.ServerSideEncryptionAwsKmsDsse:
	default:
		return fmt.Errorf("upload: Target.SSE %q is not AES256, aws:kms or aws:kms:dsse", t.SSE)
	}
	if _, ok := t.Metadata[ExportIDMetadata]; ok {
		return fmt.Errorf("upload: Target.Metadata[%q] is the writer's; set Target.ExportID", ExportIDMetadata)
	}
	return nil
}

// SideKey is the key of the side object number seq for base (Target.SideKey).
func SideKey(base string, seq int) string { return fmt.Sprintf("%s.%d", base, seq) }

// Object is what a completed upload wrote.
type Object struct {
	Bucket, Key string
	VersionID   string // empty when the bucket is not versioned
	Size        int64
	ETag        string
	// ChecksumCRC64NVME is the object's full-object CRC-64/NVME as S3
	// writes it: base64 of the 8-byte big-endian value.
	ChecksumCRC64NVME string
}

// Errors that callers tell apart with errors.Is.
var (
	// ErrTooLarge: the object would need more than MaxParts parts.
	ErrTooLarge = errors.New("manifest too large")
	// ErrExists: overwrite is false and an object is at the key.
	ErrExists = errors.New("an object already exists at the key and overwrite is false")
	// ErrUploadGone: the multipart upload no longer exists (aborted, or
	// expired by a lifecycle rule) and the key does not hold this export.
	ErrUploadGone = errors.New("the multipart upload no longer exists (aborted, or expired by a lifecycle rule): the export must start again")
	// ErrAlreadyComplete: the upload was completed before (its reply was
	// lost); the error is an *AlreadyCompleteError carrying the object.
	ErrAlreadyComplete = errors.New("the upload was already completed")
	// ErrAbortFailed: aborting the multipart upload failed; it may still
	// be open.
	ErrAbortFailed = errors.New("abort failed")
	// ErrChecksumMismatch: S3 refused the object because its bytes do not
	// match the checksum the Writer computed for them (a part re-sent
	// maxDigestRetries times, or the whole object at Complete). No retry
	// can help; the upload is aborted and nothing is at the key.
	ErrChecksumMismatch = errors.New("S3 refused the object: its bytes do not match their CRC64NVME checksum")
)

// AlreadyCompleteError is what Resume returns when this export's upload
// was already completed: Object is what it wrote. It matches
// ErrAlreadyComplete.
type AlreadyCompleteError struct{ Object Object }

func (e *AlreadyCompleteError) Error() string {
	return fmt.Sprintf("%v (%d bytes, version %q)", ErrAlreadyComplete, e.Object.Size, e.Object.VersionID)
}

// Is makes errors.Is(err, ErrAlreadyComplete) true.
func (e *AlreadyCompleteError) Is(target error) bool { return target == ErrAlreadyComplete }

// Error is a failed step of an upload; it names the bucket, key, upload id
// (once there is one) and the call that failed. It is immutable once
// returned.
type Error struct {
	Op          string // the S3 call or step, e.g. "UploadPart 3"
	Bucket, Key string
	UploadID    string
	Err         error
}

func (e *Error) Error() string {
	s := "upload s3://" + e.Bucket + "/" + e.Key
	if e.UploadID != "" {
		s += " (upload id " + e.UploadID + ")"
	}
	if e.Op != "" {
		s += ": " + e.Op
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }
