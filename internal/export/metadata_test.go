package export

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/s3mem"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// TestManifestMetadata: the manifest's user metadata names its format,
// container, config digest and export id.
func TestManifestMetadata(t *testing.T) {
	s3m := &s3mem.S3{}
	cfg := testConfig()
	cfg.Output.Format = config.DynamoDB
	cfg.Digest = "d1g"
	res, err := Run(context.Background(), &pagedDB{n: 2}, s3m, cfg, Options{RunID: "run-7"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"format": "dynamodb", "container": "jsonl", "config-digest": "d1g", upload.ExportIDMetadata: "run-7"}
	if diff := cmp.Diff(want, s3m.Object(res.Object.Key).Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}
