package render

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fuzzPointers answers pointer reads from the key: "err" fails, anything else is an object.
type fuzzPointers struct{}

func (fuzzPointers) ReadJSON(_ context.Context, bucket, key, _ string) (any, error) {
	if strings.Contains(key, "err") {
		return nil, errors.New("read failed")
	}
	return map[string]any{"bucket": bucket, "key": key, "n": json.Number("1"), "self": map[string]any{
		pointerKey: map[string]any{"bucket": bucket, "key": key},
	}}, nil
}

// FuzzRender renders hostile templates against small contexts: no panic, and every failure
// is an *Error (from Value) or Errors (from Config).
func FuzzRender(f *testing.F) {
	seeds := []string{
		"{{a}}", "x{{a.b}}y", "{{#each a}}{{@index}}{{this}}{{/each}}", "{{#if a}}{{../a}}{{else}}n{{/if}}",
		"{{json (slice a 1 -1)}}", "{{default a.b \"x\"}}", "$.a[*].b", "$..b", "{{#with_json_path \"$.a\" as |v|}}{{v}}{{/with_json_path}}",
		"{{> p}}", "{{", "{{#a}}{{/b}}", "{{p.x}}", "{{p.self.self.n}}", "{{lookup p \"err\"}}", "{{gt 1.5 a}}", "{{base64 a}}",
		"{{#each a as |x i|}}{{x}}{{i}}{{@../index}}{{/each}}", "{{[a b]}}", "{{a.[0]}}", "{{{a}}}", "{{~a~}}", "{{!c}}",
	}
	contexts := []string{`{"a": [1, {"b": 2}, null], "p": {"_s3_output_pointer": {"bucket": "b", "key": "k"}}}`, `{"a": {"b": "x"}}`, `{"a": 12345678901234567890}`, `{}`}
	for i, s := range seeds {
		f.Add(s, contexts[i%len(contexts)])
	}
	f.Fuzz(func(t *testing.T, tmpl, ctxJSON string) {
		d := json.NewDecoder(strings.NewReader(ctxJSON))
		d.UseNumber()
		var data any
		if err := d.Decode(&data); err != nil {
			data = map[string]any{"a": ctxJSON}
		}
		ctx := context.Background()
		r := New(Options{Pointers: fuzzPointers{}})
		v, err := r.Value(ctx, "f", tmpl, data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Value error %v is a %T, want *Error", err, err)
			}
		} else if strings.Contains(tmpl, "{{") && !isObjectOrArray(v) { // as text, those are errors
			got, terr := r.text(ctx, "f", tmpl, data)
			if terr != nil || got != text(v) {
				t.Fatalf("Value = %#v prints %q, text renders %q, %v", v, text(v), got, terr)
			}
		}
		cfg := map[string]any{"x": tmpl, "y": []any{tmpl, json.Number("1")}}
		if _, err := r.Config(ctx, cfg, map[string]any{"a": data}); err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 2 {
				t.Fatalf("Config error %v is a %T, want Errors for 2 fields", err, err)
			}
		}
	})
}

// isObjectOrArray reports whether v is a JSON object or array.
func isObjectOrArray(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}
