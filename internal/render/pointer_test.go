package render

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakePointers is a PointerReader over a map of "bucket/key" to JSON text; it records every
// read and checks that the caller's ctx arrives.
type fakePointers struct {
	t       *testing.T
	objects map[string]string
	errs    map[string]error
	reads   []string
}

type ctxKey struct{}

func (f *fakePointers) ReadJSON(ctx context.Context, bucket, key, versionID string) (any, error) {
	if ctx.Value(ctxKey{}) == nil {
		f.t.Errorf("ReadJSON(%s/%s) did not get the caller's ctx", bucket, key)
	}
	name := bucket + "/" + key
	if versionID != "" {
		name += "?versionId=" + versionID
	}
	f.reads = append(f.reads, name)
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	text, ok := f.objects[name]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."}
	}
	return decodeJSON(f.t, text), nil
}

// pointerData is a context whose step output was offloaded.
const pointerData = `{
	"steps_output": {
		"big":   {"_s3_output_pointer": {"bucket": "b", "key": "k1"}},
		"chain": {"_s3_output_pointer": {"bucket": "b", "key": "k2"}},
		"loop":  {"_s3_output_pointer": {"bucket": "b", "key": "loop"}},
		"gone":  {"_s3_output_pointer": {"bucket": "b", "key": "gone"}},
		"pinned": {"_s3_output_pointer": {"bucket": "b", "key": "k1", "versionId": "v1"}},
		"badVersion": {"_s3_output_pointer": {"bucket": "b", "key": "k1", "versionId": 1}},
		"nullVersion": {"_s3_output_pointer": {"bucket": "b", "key": "k1", "versionId": null}},
		"list":  {"_s3_output_pointer": {"bucket": "b", "key": "list"}},
		"prev":  {"manifest": {"_s3_output_pointer": {"bucket": "b", "key": "manifest.jsonl"}}, "itemCount": 2}
	}
}`

// newFakePointers returns the objects pointerData points to.
func newFakePointers(t *testing.T) *fakePointers {
	return &fakePointers{t: t, objects: map[string]string{
		"b/k1":              `{"name": "offloaded", "items": [{"id": 1}, {"id": 2}], "n": 12345678901234567890}`,
		"b/k1?versionId=v1": `{"name": "the pinned version"}`,
		"b/k2":              `{"_s3_output_pointer": {"bucket": "b", "key": "k1"}}`,
		"b/loop":            `{"_s3_output_pointer": {"bucket": "b", "key": "loop"}}`,
		"b/list":            `[10, 20, 30]`,
	}}
}

func TestPointers(t *testing.T) {
	tests := []struct {
		name      string
		tmpl      string
		want      any
		wantReads []string
	}{
		{"path through pointer", "{{steps_output.big.name}}", "offloaded", []string{"b/k1"}},
		{"number through pointer keeps digits", "{{steps_output.big.n}}", json.Number("12345678901234567890"), []string{"b/k1"}},
		{"each through pointer", "{{#each steps_output.big.items}}{{id}}{{/each}}", "12", []string{"b/k1"}},
		{"array pointer index", "{{steps_output.list.[1]}}", json.Number("20"), []string{"b/list"}},
		{"array pointer length", "{{steps_output.list.length}}", json.Number("3"), []string{"b/list"}},
		{"pointer to pointer", "{{steps_output.chain.name}}", "offloaded", []string{"b/k2", "b/k1"}},
		{"jsonpath through pointer", "$.steps_output.big.items[1].id", json.Number("2"), []string{"b/k1"}},
		{"jsonpath wildcard through pointer", "$.steps_output.list[*]", []any{json.Number("10"), json.Number("20"), json.Number("30")}, []string{"b/list"}},
		{"jsonpath ending at pointer is not read", "$.steps_output.big", map[string]any{"_s3_output_pointer": map[string]any{"bucket": "b", "key": "k1"}}, nil},
		{"with_json_path through pointer", "{{#with_json_path \"$.steps_output.big.items[*].id\" as |ids|}}{{json ids}}{{/with_json_path}}", "[1,2]", []string{"b/k1"}},
		{"lookup through pointer", "{{lookup steps_output.big \"name\"}}", "offloaded", []string{"b/k1"}},
		{"path ending at pointer is not read", "{{steps_output.prev.manifest}}", map[string]any{"_s3_output_pointer": map[string]any{"bucket": "b", "key": "manifest.jsonl"}}, nil},
		{"each over a pointer iterates what it points to", "{{#each steps_output.list}}{{this}};{{/each}}", "10;20;30;", []string{"b/list"}},
		{"slice of a pointer", "{{json (slice steps_output.list 1)}}", "[20,30]", []string{"b/list"}},
		{"section over a pointer", "{{#steps_output.list}}{{this}}.{{/steps_output.list}}", "10.20.30.", []string{"b/list"}},
		{"pointer key itself is not read", "{{steps_output.big._s3_output_pointer.key}}", "k1", nil},
		{"if through pointer with missing key", "{{#if steps_output.big.nope}}y{{else}}n{{/if}}", "n", []string{"b/k1"}},
		{"versionId reads that version", "{{steps_output.pinned.name}}", "the pinned version", []string{"b/k1?versionId=v1"}},
		{"jsonpath reads the pinned version", "$.steps_output.pinned.name", "the pinned version", []string{"b/k1?versionId=v1"}},
		{"versions are read apart", "{{steps_output.pinned.name}}/{{steps_output.big.name}}", "the pinned version/offloaded", []string{"b/k1?versionId=v1", "b/k1"}},
		{"null versionId reads the newest", "{{steps_output.nullVersion.name}}", "offloaded", []string{"b/k1"}},
		{"read once per renderer", "{{steps_output.big.name}}{{steps_output.big.items.length}}{{steps_output.chain.name}}", "offloaded2offloaded", []string{"b/k1", "b/k2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), ctxKey{}, true)
			fake := newFakePointers(t)
			got, err := New(Options{Pointers: fake}).Value(ctx, "f", tc.tmpl, decodeJSON(t, pointerData))
			if err != nil {
				t.Fatalf("Value(%q): %v", tc.tmpl, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Value(%q) (-want +got):\n%s", tc.tmpl, diff)
			}
			if diff := cmp.Diff(tc.wantReads, fake.reads); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPointerErrors(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate.", Fault: smithy.FaultServer}
	tests := []struct {
		name     string
		tmpl     string
		nilRead  bool
		want     *Error
		wantMsg  string
		wantCode string // the smithy.APIError code errors.As must find, if any
	}{
		{"missing object", "{{steps_output.gone.name}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.gone.name", Msg: `path "steps_output.gone.name": reading _s3_output_pointer s3://b/gone`},
			`f: template line 1: path "steps_output.gone.name": reading _s3_output_pointer s3://b/gone: api error NoSuchKey: The specified key does not exist.`,
			"NoSuchKey"},
		{"throttled read", "{{steps_output.big.name}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.big.name", Msg: `path "steps_output.big.name": reading _s3_output_pointer s3://b/k1`}, "", "SlowDown"},
		{"jsonpath read error", "$.steps_output.gone.name", false,
			&Error{Field: "f", Path: "$.steps_output.gone.name", Msg: `JSONPath "$.steps_output.gone.name": reading _s3_output_pointer s3://b/gone`}, "", "NoSuchKey"},
		{"missing key in pointed object", "{{steps_output.big.nmae}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.big.nmae", Msg: `path "steps_output.big.nmae" not found in the context`}, "", ""},
		{"pointer loop", "{{steps_output.loop.x}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.loop.x", Msg: `path "steps_output.loop.x": reading _s3_output_pointer s3://b/loop`},
			`f: template line 1: path "steps_output.loop.x": reading _s3_output_pointer s3://b/loop: more than 8 pointers in a row`, ""},
		{"each over a missing pointer names the path", "{{#each steps_output.gone}}x{{/each}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.gone", Msg: `path "steps_output.gone": reading _s3_output_pointer s3://b/gone`}, "", "NoSuchKey"},
		{"section over a missing pointer names the path", "{{#steps_output.gone}}x{{/steps_output.gone}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.gone", Msg: `path "steps_output.gone": reading _s3_output_pointer s3://b/gone`}, "", "NoSuchKey"},
		{"slice of a missing pointer names the path", "{{json (slice steps_output.gone 1)}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.gone", Msg: `path "steps_output.gone": reading _s3_output_pointer s3://b/gone`}, "", "NoSuchKey"},
		{"versionId not a string", "{{steps_output.badVersion.name}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.badVersion.name", Msg: `path "steps_output.badVersion.name": reading _s3_output_pointer s3://b/k1`},
			`f: template line 1: path "steps_output.badVersion.name": reading _s3_output_pointer s3://b/k1: its versionId is not a string`, ""},
		{"missing version names it", "{{steps_output.pinned.name}}", false,
			&Error{Field: "f", Line: 1, Path: "steps_output.pinned.name", Msg: `path "steps_output.pinned.name": reading _s3_output_pointer s3://b/k1?versionId=v1`}, "", "NoSuchVersion"},
		{"no reader", "{{steps_output.big.name}}", true,
			&Error{Field: "f", Line: 1, Path: "steps_output.big.name", Msg: `path "steps_output.big.name": goes through _s3_output_pointer s3://b/k1, but pointer reads are unavailable`}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.WithValue(context.Background(), ctxKey{}, true)
			fake := newFakePointers(t)
			fake.errs = map[string]error{}
			switch tc.wantCode {
			case "SlowDown":
				fake.errs["b/k1"] = throttled
			case "NoSuchVersion":
				fake.errs["b/k1?versionId=v1"] = &smithy.GenericAPIError{Code: "NoSuchVersion", Message: "The specified version does not exist."}
			}
			opts := Options{Pointers: fake}
			if tc.nilRead {
				opts = Options{}
			}
			_, err := New(opts).Value(ctx, "f", tc.tmpl, decodeJSON(t, pointerData))
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error = %v (%T), want *Error", err, err)
			}
			if diff := cmp.Diff(tc.want, re, cmpopts.IgnoreFields(Error{}, "Err")); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.wantMsg)
			}
			var api smithy.APIError
			switch {
			case tc.wantCode == "" && errors.As(err, &api):
				t.Errorf("errors.As found smithy.APIError %v, want none", api)
			case tc.wantCode != "" && (!errors.As(err, &api) || api.ErrorCode() != tc.wantCode):
				t.Errorf("errors.As(smithy.APIError) = %v, want code %s", api, tc.wantCode)
			}
		})
	}
}

func TestConfigReadsEachPointerOnce(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, true)
	fake := newFakePointers(t)
	cfg := decodeJSON(t, `{
		"a": "{{steps_output.big.name}}", "b": "$.steps_output.big.items[0].id",
		"c": ["{{steps_output.gone.x}}", "{{steps_output.gone.y}}"]
	}`).(map[string]any)
	_, err := New(Options{Pointers: fake}).Config(ctx, cfg, decodeJSON(t, pointerData).(map[string]any))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("Config error = %v, want two field errors", err)
	}
	if diff := cmp.Diff([]string{"b/k1", "b/gone"}, fake.reads); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "NoSuchKey" {
		t.Errorf("errors.As(Errors, smithy.APIError) = %v, want NoSuchKey", api)
	}
}
