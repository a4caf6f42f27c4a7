package step_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

var update = flag.Bool("update", false, "rewrite testdata/events/golden/*.golden.json from the current behaviour")

// golden is what one golden event turns into: the recognised shape and the
// rendered, validated config, or the error the handler reports.
type golden struct {
	Shape           string        `json:"shape,omitempty"`
	FlowExecutionID string        `json:"flowExecutionId,omitempty"`
	StepInstanceID  string        `json:"stepInstanceId,omitempty"`
	Config          *goldenConfig `json:"config,omitempty"`
	Error           *goldenError  `json:"error,omitempty"`
	PointerReads    []string      `json:"pointerReads,omitempty"`
}

type goldenError struct {
	ErrorType string `json:"errorType"`
	Message   string `json:"message"`
}

// goldenConfig is config.Config in a stable JSON form: attribute values in
// DynamoDB JSON with exactly the digits they will be sent with.
type goldenConfig struct {
	Query struct {
		TableName                 string            `json:"tableName"`
		IndexName                 string            `json:"indexName,omitempty"`
		KeyConditionExpression    string            `json:"keyConditionExpression"`
		ExpressionAttributeValues json.RawMessage   `json:"expressionAttributeValues"`
		ExpressionAttributeNames  map[string]string `json:"expressionAttributeNames,omitempty"`
		FilterExpression          string            `json:"filterExpression,omitempty"`
		ProjectionExpression      string            `json:"projectionExpression,omitempty"`
		ScanIndexForward          *bool             `json:"scanIndexForward,omitempty"`
		ConsistentRead            *bool             `json:"consistentRead,omitempty"`
		Limit                     int64             `json:"limit,omitempty"`
		PageSize                  int32             `json:"pageSize,omitempty"`
		ExclusiveStartKey         json.RawMessage   `json:"exclusiveStartKey,omitempty"`
	} `json:"query"`
	Destination struct {
		BucketName           string `json:"bucketName"`
		Key                  string `json:"key"`
		ContentType          string `json:"contentType"`
		Overwrite            bool   `json:"overwrite"`
		ServerSideEncryption string `json:"serverSideEncryption,omitempty"`
		KMSKeyID             string `json:"kmsKeyId,omitempty"`
		ExpectedBucketOwner  string `json:"expectedBucketOwner,omitempty"`
	} `json:"destination"`
	Output struct {
		Format string `json:"format"`
	} `json:"output"`
	EnableItemOffloading bool `json:"enableItemOffloading"`
}

func dynamoJSON(t testing.TB, m map[string]types.AttributeValue) json.RawMessage {
	t.Helper()
	if m == nil {
		return nil
	}
	b, err := lines.AppendDynamoJSON(nil, m)
	if err != nil {
		t.Fatalf("AppendDynamoJSON: %v", err)
	}
	return b
}

func stableConfig(t testing.TB, c *config.Config) *goldenConfig {
	t.Helper()
	var g goldenConfig
	q := &g.Query
	q.TableName, q.IndexName = c.Query.TableName, c.Query.IndexName
	q.KeyConditionExpression = c.Query.KeyConditionExpression
	q.ExpressionAttributeValues = dynamoJSON(t, c.Query.ExpressionAttributeValues)
	q.ExpressionAttributeNames = c.Query.ExpressionAttributeNames
	q.FilterExpression, q.ProjectionExpression = c.Query.FilterExpression, c.Query.ProjectionExpression
	q.ScanIndexForward, q.ConsistentRead = c.Query.ScanIndexForward, c.Query.ConsistentRead
	q.Limit, q.PageSize = c.Query.Limit, c.Query.PageSize
	q.ExclusiveStartKey = dynamoJSON(t, c.Query.ExclusiveStartKey)
	d := &g.Destination
	d.BucketName, d.Key, d.ContentType, d.Overwrite = c.Destination.BucketName, c.Destination.Key, c.Destination.ContentType, c.Destination.Overwrite
	d.ServerSideEncryption, d.KMSKeyID, d.ExpectedBucketOwner = c.Destination.ServerSideEncryption, c.Destination.KMSKeyID, c.Destination.ExpectedBucketOwner
	g.Output.Format = c.Output.Format.String()
	g.EnableItemOffloading = c.EnableItemOffloading
	return &g
}

// marshalGolden renders g as indented JSON without HTML escaping, ending in
// a newline, so the files read well in review.
func marshalGolden(t testing.TB, g *golden) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		t.Fatalf("encode golden: %v", err)
	}
	return buf.Bytes()
}

// planEvent turns one event into its golden form, with pointer reads served
// from objects. It also checks that nothing but pointer reads was called.
func planEvent(t *testing.T, payload []byte, objects string) *golden {
	t.Helper()
	f := newFakes(objects)
	g := &golden{}
	ev, err := step.ParseEvent(payload)
	if err == nil {
		g.Shape, g.FlowExecutionID, g.StepInstanceID = ev.Shape.String(), ev.FlowExecutionID, ev.StepInstanceID
		var cfg *config.Config
		if cfg, err = f.h.Plan(context.Background(), ev); err == nil {
			g.Config = stableConfig(t, cfg)
		}
	}
	g.PointerReads = f.s3.Calls()
	if err != nil {
		// Report the error as a Step Functions user sees it: through Invoke,
		// on fresh fakes.
		var pe *step.PermanentStepError
		var te *step.TransientStepError
		if !errors.As(err, &pe) && !errors.As(err, &te) {
			t.Errorf("ParseEvent/Plan returned %T (%v), want *PermanentStepError or *TransientStepError", err, err)
		}
		f2 := newFakes(objects)
		ie := invokeError(t, f2.h, payload)
		if ie.Message != err.Error() {
			t.Errorf("Invoke reports %q, Plan %q", ie.Message, err.Error())
		}
		g.Error = &goldenError{ErrorType: ie.Type, Message: ie.Message}
		if calls := f2.exportCalls(); len(calls) > 0 {
			t.Errorf("a failed plan made calls %v", calls)
		}
	}
	if calls := f.exportCalls(); len(calls) > 0 {
		t.Errorf("Plan made calls %v; it may only read pointers", calls)
	}
	return g
}

// TestGolden renders and validates each testdata/events/golden/<name>.json
// and compares the result with <name>.golden.json. Run with -update to
// rewrite the golden files after a deliberate change.
func TestGolden(t *testing.T) {
	dir := filepath.Join(eventsDir(t), "golden")
	objects := filepath.Join(eventsDir(t), "objects")
	inputs, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	inputs = slices.DeleteFunc(inputs, func(p string) bool { return strings.HasSuffix(p, ".golden.json") })
	if len(inputs) < 20 {
		t.Fatalf("found %d golden events in %s, want at least 20", len(inputs), dir)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := marshalGolden(t, planEvent(t, payload, objects))
			path := filepath.Join(dir, name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", filepath.Base(path), diff)
			}
		})
	}
	// Every golden file has its event.
	outs, _ := filepath.Glob(filepath.Join(dir, "*.golden.json"))
	for _, out := range outs {
		if _, err := os.Stat(strings.TrimSuffix(out, ".golden.json") + ".json"); err != nil {
			t.Errorf("%s has no event: %v", filepath.Base(out), err)
		}
	}
}
