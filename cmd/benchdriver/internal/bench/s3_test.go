package bench

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3KeptObjects: what an export writes beside its manifest (a key with
// a '/') can be read back whole or by range, copied into a multipart upload,
// listed and deleted.
func TestS3KeptObjects(t *testing.T) {
	f := NewS3(false, 0)
	t.Cleanup(f.Close)
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", "")})
	ctx := context.Background()
	body := []byte(strings.Repeat("0123456789", 1000))
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("m.jsonl.resume/seg.1"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	get := func(key, rng string) []byte {
		t.Helper()
		in := &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String(key)}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		out, err := c.GetObject(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := get("m.jsonl.resume/seg.1", ""); !bytes.Equal(got, body) {
		t.Errorf("GetObject: %d bytes, want the %d put", len(got), len(body))
	}
	if got := get("m.jsonl.resume/seg.1", "bytes=10-19"); string(got) != "0123456789" {
		t.Errorf("GetObject bytes=10-19: %q", got)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("x/copy")})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("b"), Key: aws.String("x/copy"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("b/m.jsonl.resume/seg.1"), CopySourceRange: aws.String("bytes=0-4999")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("x/copy"), UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{PartNumber: aws.Int32(1), ETag: cp.CopyPartResult.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	if got := get("x/copy", ""); !bytes.Equal(got, body[:5000]) {
		t.Errorf("copied object: %d bytes, want the first 5000 of the source", len(got))
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b"), Prefix: aws.String("m.jsonl")})
	if err != nil || len(list.Contents) != 1 || *list.Contents[0].Size != int64(len(body)) {
		t.Fatalf("ListObjectsV2: %+v, %v; want the one segment", list, err)
	}
	if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("b"), Delete: &s3types.Delete{Quiet: aws.Bool(true),
		Objects: []s3types.ObjectIdentifier{{Key: aws.String("m.jsonl.resume/seg.1")}, {Key: aws.String("x/copy")}}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Object("b", "x/copy"); ok {
		t.Error("x/copy still there after DeleteObjects")
	}
}
