package step_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// FuzzInvoke sends hostile events through Handler.Invoke: decoding, shape
// recognition, rendering and validation. DynamoDB and S3 are recording fakes
// that fail every call with a permanent error (pointer reads are served from
// testdata/events/objects), so no event can succeed. It checks that nothing
// panics, that every failure is a messages.InvokeResponse_Error of type
// PermanentStepError or TransientStepError, that an event the plan rejects
// made no DynamoDB or S3 call, and that a TransientStepError can only come
// from a pointer read.
//
// Seeds are every golden and bad event under testdata/events.
func FuzzInvoke(f *testing.F) {
	dir := eventsDir(f)
	for _, pattern := range []string{"golden/*.json", "bad/*"} {
		paths, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range paths {
			if strings.HasSuffix(p, ".golden.json") || filepath.Base(p) == "expect.json" {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	objects := filepath.Join(dir, "objects")
	f.Fuzz(func(t *testing.T, payload []byte) { checkInvoke(t, objects, payload) })
}

// FuzzInvokeTemplate puts one template and one context into an otherwise
// valid event of each shape, to reach rendering and validation more often
// than mutating whole events does. The checks are FuzzInvoke's.
func FuzzInvokeTemplate(f *testing.F) {
	seeds := []string{
		"{{a}}", "USER#{{a.b}}", "{{#each a}}{{@index}}{{this}}{{/each}}", "{{json a}}", "$.a[0]", "$..b",
		"{{default a.b 12345678901234567890}}", "{{#with_json_path \"$.a\" as |v|}}{{v}}{{/with_json_path}}",
		"{{p.user.id}}", "{{lookup p \"user\"}}", "{{slice a 1}}", "{{base64 a}}", "{{#if (gt a 1)}}x{{/if}}", "{{",
	}
	contexts := []string{`{"a": [1, {"b": 2}, null]}`, `{"a": {"b": "x"}}`, `{"a": 12345678901234567890}`,
		`{"p": {"_s3_output_pointer": {"bucket": "traces", "key": "steps/fetch_user.json"}}}`, `{}`}
	for i, s := range seeds {
		f.Add(uint8(i), s, contexts[i%len(contexts)])
	}
	objects := filepath.Join(eventsDir(f), "objects")
	f.Fuzz(func(t *testing.T, where uint8, tmpl, ctxJSON string) {
		dec := json.NewDecoder(strings.NewReader(ctxJSON))
		dec.UseNumber()
		var ctx any
		if dec.Decode(&ctx) != nil {
			ctx = map[string]any{"a": ctxJSON}
		}
		cfg := map[string]any{
			"query": map[string]any{"tableName": "Orders", "keyConditionExpression": "PK = :pk",
				"expressionAttributeValues": map[string]any{":pk": "x"}},
			"destination": map[string]any{"bucketName": "my-manifests", "key": "k.jsonl"},
		}
		q, d := cfg["query"].(map[string]any), cfg["destination"].(map[string]any)
		switch where % 8 {
		case 0:
			q["expressionAttributeValues"].(map[string]any)[":pk"] = tmpl
		case 1:
			d["key"] = tmpl
		case 2:
			q["tableName"] = tmpl
		case 3:
			q["limit"] = tmpl
		case 4:
			q["scanIndexForward"] = tmpl
		case 5:
			cfg["output"] = map[string]any{"format": tmpl}
		case 6:
			q["exclusiveStartKey"] = map[string]any{"PK": tmpl}
		case 7:
			q["expressionAttributeNames"] = map[string]any{"#n": tmpl}
		}
		var event any
		switch where / 8 % 3 {
		case 0:
			event = map[string]any{"customConfig": cfg, "context": ctx}
		case 1:
			cfg["context"] = ctx
			event = cfg
		case 2:
			event = map[string]any{"stepDefinition": map[string]any{"customConfig": cfg},
				"runtimeState": map[string]any{"currentContextData": ctx}}
		}
		payload, err := json.Marshal(event)
		if err != nil {
			t.Skip(err)
		}
		checkInvoke(t, objects, payload)
	})
}

// checkInvoke invokes a handler wired to failing fakes with payload and
// checks the invariants FuzzInvoke states.
func checkInvoke(t *testing.T, objects string, payload []byte) {
	t.Helper()
	fk := newFakes(objects)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	out, err := fk.h.Invoke(ctx, payload)
	// Rejecting an event, or failing at the first call, takes no time; a
	// slow failure eats the Lambda's budget.
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Invoke took %s to fail: %v", el, err)
	}
	if err == nil {
		t.Fatalf("Invoke succeeded against failing fakes: %s", out)
	}
	// A value, not wrapped: aws-lambda-go takes errorType from it as it is.
	ie, ok := err.(messages.InvokeResponse_Error)
	if !ok {
		t.Fatalf("Invoke returned %T (%v), want a messages.InvokeResponse_Error value", err, err)
	}
	switch ie.Type {
	case "PermanentStepError":
	case "TransientStepError":
		if !slices.Contains(fk.s3.Calls(), "GetObject") {
			t.Fatalf("TransientStepError without a pointer read, against fakes that fail permanently: %s", ie.Message)
		}
	default:
		t.Fatalf("errorType %q, want PermanentStepError or TransientStepError: %s", ie.Type, ie.Message)
	}
	if ie.Message == "" {
		t.Fatal("empty error message")
	}
	if strings.Contains(ie.Message, "panic") && strings.HasPrefix(ie.Message, "internal error") {
		t.Fatalf("the handler recovered from a panic: %s", ie.Message)
	}
	// A rejected plan calls nothing but pointer reads.
	ev, perr := step.ParseEvent(payload)
	if perr == nil {
		_, perr = newFakes(objects).h.Plan(ctx, ev)
	}
	if perr != nil {
		if calls := fk.exportCalls(); len(calls) > 0 {
			t.Fatalf("the plan fails (%v) but Invoke called %v", perr, calls)
		}
	}
}
