// Package s3mem is an in-memory S3 for unit tests and benchmarks: objects
// and multipart uploads of one process, the calls the function makes, and a
// hook to fail or stall any of them. It checks what a lenient local server
// does not: parts of a Complete are 1..N, consecutive, and every one but the
// last at least 5 MiB. Like S3 it checks the CRC64NVME checksums it is sent:
// a part's against its bytes, and a Complete's whole-object one against the
// parts' combined (BadDigest). Integration tests use versitygw instead.
package s3mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
)

const minPart = 5 << 20

// Object is a stored object.
type Object struct {
	Body     []byte
	Metadata map[string]string
	Tags     string
	CRC      string // the full-object CRC64NVME, base64, when one was sent
}

// S3 is the in-memory store. The zero value is empty and ready. It is safe
// for concurrent use.
type S3 struct {
	// Hook, when set, is called first by every call with its operation name
	// and context; a non-nil error fails the call with it. It may block
	// (to stall a call until ctx ends, say).
	Hook func(ctx context.Context, op, key string) error
	// Discard keeps no part bodies (for benchmarks); Complete then makes
	// an object of the right size with no bytes.
	Discard bool

	mu      sync.Mutex
	objects map[string]*Object
	uploads map[string]*upload
	calls   map[string]int
	next    int
}

type upload struct {
	key   string
	meta  map[string]string
	parts map[int32][]byte
	sizes map[int32]int64
	crcs  map[int32]uint64
}

// Objects returns a copy of the stored objects' bodies by key.
func (s *S3) Objects() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, o := range s.objects {
		out[k] = string(o.Body)
	}
	return out
}

// Object returns the object at key, or nil.
func (s *S3) Object(key string) *Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[key]
}

// Uploads returns the keys of the open multipart uploads.
func (s *S3) Uploads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, u := range s.uploads {
		out = append(out, u.key)
	}
	slices.Sort(out)
	return out
}

// Calls returns how many times op was called.
func (s *S3) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *S3) enter(ctx context.Context, op string, key *string) error {
	s.mu.Lock()
	if s.calls == nil {
		s.calls, s.objects, s.uploads = map[string]int{}, map[string]*Object{}, map[string]*upload{}
	}
	s.calls[op]++
	s.mu.Unlock()
	if s.Hook != nil {
		if err := s.Hook(ctx, op, aws.ToString(key)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// APIError is an S3 error as the SDK returns it.
func APIError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (s3mem)"}
}

func (s *S3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := s.enter(ctx, "PutObject", in.Key); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := aws.ToString(in.Key)
	if aws.ToString(in.IfNoneMatch) == "*" && s.objects[key] != nil {
		return nil, APIError("PreconditionFailed")
	}
	if c := aws.ToString(in.ChecksumCRC64NVME); c != "" && c != crc64nvme.Encode(crc64nvme.Checksum(b)) {
		return nil, APIError("BadDigest")
	}
	s.objects[key] = &Object{Body: b, Metadata: maps.Clone(in.Metadata), Tags: aws.ToString(in.Tagging), CRC: aws.ToString(in.ChecksumCRC64NVME)}
	return &s3.PutObjectOutput{ETag: aws.String(`"e"`)}, nil
}

func (s *S3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if err := s.enter(ctx, "GetObject", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[aws.ToString(in.Key)]
	if o == nil {
		return nil, APIError("NoSuchKey")
	}
	b := o.Body
	if r := aws.ToString(in.Range); r != "" {
		var from, to int
		if _, err := fmt.Sscanf(r, "bytes=%d-%d", &from, &to); err != nil || from > to || from >= len(b) {
			return nil, APIError("InvalidRange")
		}
		b = b[from:min(to+1, len(b))]
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b)), ContentLength: aws.Int64(int64(len(b))), Metadata: maps.Clone(o.Metadata)}, nil
}

func (s *S3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if err := s.enter(ctx, "HeadObject", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[aws.ToString(in.Key)]
	if o == nil {
		return nil, &types.NotFound{Message: aws.String("not found (s3mem)")}
	}
	out := &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.Body))), Metadata: maps.Clone(o.Metadata), ETag: aws.String(`"e"`)}
	if in.ChecksumMode == types.ChecksumModeEnabled && o.CRC != "" {
		out.ChecksumCRC64NVME = aws.String(o.CRC)
	}
	return out, nil
}

func (s *S3) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	if err := s.enter(ctx, "DeleteObjects", nil); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range in.Delete.Objects {
		delete(s.objects, aws.ToString(id.Key))
	}
	return &s3.DeleteObjectsOutput{}, nil
}

func (s *S3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if err := s.enter(ctx, "ListObjectsV2", in.Prefix); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &s3.ListObjectsV2Output{}
	for _, k := range slices.Sorted(maps.Keys(s.objects)) {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.StartAfter) {
			out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(s.objects[k].Body)))})
		}
	}
	out.KeyCount = aws.Int32(int32(len(out.Contents)))
	return out, nil
}

func (s *S3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if err := s.enter(ctx, "CreateMultipartUpload", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	id := fmt.Sprintf("upload-%d", s.next)
	s.uploads[id] = &upload{key: aws.ToString(in.Key), meta: maps.Clone(in.Metadata), parts: map[int32][]byte{}, sizes: map[int32]int64{}, crcs: map[int32]uint64{}}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

func (s *S3) UploadPart(ctx context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if err := s.enter(ctx, "UploadPart", in.Key); err != nil {
		return nil, err
	}
	var b []byte
	var n int64
	var err error
	h := crc64nvme.New()
	if s.Discard {
		n, err = io.Copy(h, in.Body)
	} else {
		b, err = io.ReadAll(io.TeeReader(in.Body, h))
		n = int64(len(b))
	}
	if err != nil {
		return nil, err
	}
	crc := h.Sum64()
	if c := aws.ToString(in.ChecksumCRC64NVME); c != "" && c != crc64nvme.Encode(crc) {
		return nil, APIError("BadDigest")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uploads[aws.ToString(in.UploadId)]
	if u == nil {
		return nil, APIError("NoSuchUpload")
	}
	pn := aws.ToInt32(in.PartNumber)
	u.parts[pn], u.sizes[pn], u.crcs[pn] = b, n, crc
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf(`"p%d"`, pn)), ChecksumCRC64NVME: aws.String(crc64nvme.Encode(crc))}, nil
}

// UploadPartCopy copies an object of the store (CopySource
// "bucket/key", the bucket ignored), or the CopySourceRange "bytes=a-b" of
// it, as a part, and returns the part's CRC64NVME as S3 does for an upload
// with that checksum.
func (s *S3) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, _ ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	if err := s.enter(ctx, "UploadPartCopy", in.Key); err != nil {
		return nil, err
	}
	src, _, _ := strings.Cut(aws.ToString(in.CopySource), "?")
	_, src, _ = strings.Cut(src, "/")
	src, err := url.PathUnescape(src)
	if err != nil {
		return nil, APIError("InvalidArgument")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[src]
	if o == nil {
		return nil, APIError("NoSuchKey")
	}
	b := o.Body
	if r := aws.ToString(in.CopySourceRange); r != "" {
		var from, to int
		if _, err := fmt.Sscanf(r, "bytes=%d-%d", &from, &to); err != nil || from > to || to >= len(b) {
			return nil, APIError("InvalidArgument")
		}
		b = b[from : to+1]
	}
	u := s.uploads[aws.ToString(in.UploadId)]
	if u == nil {
		return nil, APIError("NoSuchUpload")
	}
	pn := aws.ToInt32(in.PartNumber)
	crc := crc64nvme.Checksum(b)
	u.parts[pn], u.sizes[pn], u.crcs[pn] = slices.Clone(b), int64(len(b)), crc
	return &s3.UploadPartCopyOutput{CopyPartResult: &types.CopyPartResult{
		ETag: aws.String(fmt.Sprintf(`"p%d"`, pn)), ChecksumCRC64NVME: aws.String(crc64nvme.Encode(crc)),
	}}, nil
}

func (s *S3) ListParts(ctx context.Context, in *s3.ListPartsInput, _ ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	if err := s.enter(ctx, "ListParts", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uploads[aws.ToString(in.UploadId)]
	if u == nil {
		return nil, APIError("NoSuchUpload")
	}
	out := &s3.ListPartsOutput{IsTruncated: aws.Bool(false)}
	for _, pn := range slices.Sorted(maps.Keys(u.sizes)) {
		if pn > aws.ToInt32(ptr(in.PartNumberMarker)) {
			out.Parts = append(out.Parts, types.Part{PartNumber: aws.Int32(pn), Size: aws.Int64(u.sizes[pn]), ETag: aws.String(fmt.Sprintf(`"p%d"`, pn)),
				ChecksumCRC64NVME: aws.String(crc64nvme.Encode(u.crcs[pn]))})
		}
	}
	return out, nil
}

func ptr(s *string) *int32 {
	var n int32
	_, _ = fmt.Sscan(aws.ToString(s), &n)
	return &n
}

func (s *S3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := s.enter(ctx, "CompleteMultipartUpload", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := aws.ToString(in.UploadId)
	u := s.uploads[id]
	if u == nil {
		return nil, APIError("NoSuchUpload")
	}
	key := aws.ToString(in.Key)
	if aws.ToString(in.IfNoneMatch) == "*" && s.objects[key] != nil {
		return nil, APIError("PreconditionFailed")
	}
	var body []byte
	var crc uint64
	parts := in.MultipartUpload.Parts
	for i, p := range parts {
		pn := aws.ToInt32(p.PartNumber)
		n, ok := u.sizes[pn]
		switch {
		case pn != int32(i+1):
			return nil, fmt.Errorf("s3mem: part %d at place %d: parts must be 1..N", pn, i+1)
		case !ok:
			return nil, APIError("InvalidPart")
		case n < minPart && i < len(parts)-1:
			return nil, APIError("EntityTooSmall")
		}
		body = append(body, u.parts[pn]...)
		crc = crc64nvme.Combine(crc, u.crcs[pn], n)
	}
	if c := aws.ToString(in.ChecksumCRC64NVME); c != "" && c != crc64nvme.Encode(crc) {
		return nil, APIError("BadDigest")
	}
	if s.Discard {
		body = nil
	}
	delete(s.uploads, id)
	s.objects[key] = &Object{Body: body, Metadata: u.meta, CRC: aws.ToString(in.ChecksumCRC64NVME)}
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"c"`)}, nil
}

func (s *S3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if err := s.enter(ctx, "AbortMultipartUpload", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := aws.ToString(in.UploadId)
	if s.uploads[id] == nil {
		return nil, APIError("NoSuchUpload")
	}
	delete(s.uploads, id)
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (s *S3) PutObjectTagging(ctx context.Context, in *s3.PutObjectTaggingInput, _ ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error) {
	if err := s.enter(ctx, "PutObjectTagging", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[aws.ToString(in.Key)]
	if o == nil {
		return nil, APIError("NoSuchKey")
	}
	var tags []string
	for _, t := range in.Tagging.TagSet {
		tags = append(tags, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	o.Tags = strings.Join(tags, "&")
	return &s3.PutObjectTaggingOutput{}, nil
}

func (s *S3) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, _ ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	if err := s.enter(ctx, "GetObjectTagging", in.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[aws.ToString(in.Key)]
	if o == nil {
		return nil, APIError("NoSuchKey")
	}
	out := &s3.GetObjectTaggingOutput{}
	for kv := range strings.SplitSeq(o.Tags, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out.TagSet = append(out.TagSet, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	return out, nil
}
