package step_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// badEvents reads testdata/events/bad: every event file and the message
// substrings expect.json requires of it. It fails the test when a file has no
// expectation or an expectation has no file.
func badEvents(t testing.TB) (dir string, expect map[string][]string) {
	t.Helper()
	dir = filepath.Join(eventsDir(t), "bad")
	raw, err := os.ReadFile(filepath.Join(dir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &expect); err != nil {
		t.Fatalf("expect.json: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "expect.json" {
			continue
		}
		files[e.Name()] = true
		if len(expect[e.Name()]) == 0 {
			t.Errorf("%s has no expected message substrings in expect.json", e.Name())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(expect)) {
		if !files[name] {
			t.Errorf("expect.json names %s, which does not exist", name)
		}
	}
	return dir, expect
}

// TestBadEventCorpus sends every event of testdata/events/bad to the handler:
// each must fail with a PermanentStepError whose message holds the expected
// substrings (the field, what was wrong), without a single DynamoDB or S3 call.
func TestBadEventCorpus(t *testing.T) {
	dir, expect := badEvents(t)
	if len(expect) < 60 {
		t.Fatalf("the corpus holds %d events, want at least 60", len(expect))
	}
	for _, name := range slices.Sorted(maps.Keys(expect)) {
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			f := newFakes("")
			ie := invokeError(t, f.h, payload)
			t.Logf("%s: %s", ie.Type, ie.Message)
			if ie.Type != "PermanentStepError" {
				t.Errorf("errorType = %q, want PermanentStepError (message %q)", ie.Type, ie.Message)
			}
			for _, want := range expect[name] {
				if !strings.Contains(ie.Message, want) {
					t.Errorf("message does not contain %q:\n%s", want, ie.Message)
				}
			}
			if diff := f.ddb.Calls(); len(diff) > 0 {
				t.Errorf("DynamoDB was called: %v", diff)
			}
			if diff := f.s3.Calls(); len(diff) > 0 {
				t.Errorf("S3 was called: %v", diff)
			}
		})
	}
}

// TestPointerFailures renders a template through an `_s3_output_pointer`
// whose read fails: the error names the path and the pointer, is classified
// like any S3 error, and nothing but the pointer read is called.
func TestPointerFailures(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		wantType string
		want     []string
	}{
		{name: "no such key", key: "steps/nope.json", wantType: "PermanentStepError",
			want: []string{"query.expressionAttributeValues.:pk", `path "steps_output.prev.id"`, "s3://traces/steps/nope.json", "NoSuchKey"}},
		{name: "access denied", key: "fault/AccessDenied", wantType: "PermanentStepError",
			want: []string{`path "steps_output.prev.id"`, "s3://traces/fault/AccessDenied", "AccessDenied"}},
		{name: "not JSON", key: "steps/not_json.csv", wantType: "PermanentStepError",
			want: []string{`path "steps_output.prev.id"`, "s3://traces/steps/not_json.csv", "not JSON"}},
		{name: "throttled", key: "fault/SlowDown", wantType: "TransientStepError",
			want: []string{`path "steps_output.prev.id"`, "SlowDown"}},
		{name: "server error", key: "fault/InternalError", wantType: "TransientStepError",
			want: []string{`path "steps_output.prev.id"`, "InternalError"}},
		// A cycle of pointers can never resolve: retrying cannot help.
		{name: "pointer cycle", key: "steps/loop_a.json", wantType: "PermanentStepError",
			want: []string{`path "steps_output.prev.id"`, "pointers in a row"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			event := `{"stepDefinition": {"customConfig": {
				"query": {"tableName": "Users", "keyConditionExpression": "PK = :pk", "expressionAttributeValues": {":pk": "{{steps_output.prev.id}}"}},
				"destination": {"bucketName": "my-manifests", "key": "k.jsonl"}}},
				"runtimeState": {"currentContextData": {"steps_output": {"prev": {"_s3_output_pointer": {"bucket": "traces", "key": "` + tc.key + `"}}}}}}`
			f := newFakes(filepath.Join(eventsDir(t), "objects"))
			f.s3.faults = true
			ie := invokeError(t, f.h, []byte(event))
			if ie.Type != tc.wantType {
				t.Errorf("errorType = %q, want %q (message %q)", ie.Type, tc.wantType, ie.Message)
			}
			for _, want := range tc.want {
				if !strings.Contains(ie.Message, want) {
					t.Errorf("message does not contain %q:\n%s", want, ie.Message)
				}
			}
			if calls := f.exportCalls(); len(calls) > 0 {
				t.Errorf("calls beyond pointer reads: %v", calls)
			}
		})
	}
}
