package step_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// getObjectRecorder records the GetObject inputs it receives and serves {}.
type getObjectRecorder struct{ inputs []*s3.GetObjectInput }

func (g *getObjectRecorder) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	g.inputs = append(g.inputs, in)
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader([]byte(`{}`)))}, nil
}

// TestPointerReaderVersion checks that a pointer's versionId reads that
// version, and no versionId the newest (issue 13 item 5).
func TestPointerReaderVersion(t *testing.T) {
	tests := []struct {
		name, version string
		want          *string
	}{
		{"pinned version", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", aws.String("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")},
		{"newest", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &getObjectRecorder{}
			if _, err := (step.PointerReader{S3: rec}).ReadJSON(context.Background(), "b", "k.json", tc.version); err != nil {
				t.Fatal(err)
			}
			if len(rec.inputs) != 1 {
				t.Fatalf("%d GetObject calls, want 1", len(rec.inputs))
			}
			if diff := cmp.Diff(tc.want, rec.inputs[0].VersionId); diff != "" {
				t.Errorf("VersionId (-want +got):\n%s", diff)
			}
		})
	}
}
