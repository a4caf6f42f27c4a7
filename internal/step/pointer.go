package step

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MaxPointerBytes caps what a _s3_output_pointer read may fetch: a step
// output the orchestrator offloaded is small JSON; a manifest is neither.
const MaxPointerBytes = 10 << 20

// GetObjectAPI is the one S3 call pointer reads make.
type GetObjectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ GetObjectAPI = (*s3.Client)(nil)

// PointerReader reads offloaded step outputs from S3 as JSON, exactly.
type PointerReader struct{ S3 GetObjectAPI }

// ReadJSON implements render.PointerReader: versionID, when not "", reads
// that version (s3:GetObjectVersion), the one the pointer was written with.
func (r PointerReader) ReadJSON(ctx context.Context, bucket, key, versionID string) (any, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := r.S3.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, MaxPointerBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxPointerBytes {
		return nil, &PermanentStepError{Message: fmt.Sprintf("object is larger than %d bytes: not a step output", MaxPointerBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &PermanentStepError{Message: fmt.Sprintf("not JSON: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &PermanentStepError{Message: "not a single JSON value (JSON Lines? a manifest is not a step output)"}
	}
	return v, nil
}
