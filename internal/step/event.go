package step

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/suggest"
)

// Shape is the form an event arrives in (CONTRACT.md section 1).
type Shape int

const (
	Envelope Shape = iota + 1 // the orchestrator's stepDefinition/stepInput/runtimeState
	Direct                    // {"customConfig": ..., "context": ...}
	Bare                      // the config itself at top level, plus an optional context
)

func (s Shape) String() string {
	switch s {
	case Envelope:
		return "envelope"
	case Direct:
		return "direct"
	case Bare:
		return "bare"
	}
	return "unknown"
}

// Event is a decoded event: the raw config (still holding templates), the
// template context, and how the reply is wrapped.
type Event struct {
	Shape   Shape
	Config  map[string]any // raw customConfig, not rendered
	Context map[string]any // what templates are rendered against
	// Overrides are the envelope's stepInput keys that name config fields:
	// each replaces the rendered key of the same name.
	Overrides map[string]any
	// FlowExecutionID and StepInstanceID name offloaded items' objects.
	FlowExecutionID, StepInstanceID string
	// Continuation is where a resumable export goes on ("" or null: it
	// starts); Cancel gives it up. Both are event fields, not config: at
	// the top of the direct and bare shapes, in stepInput in the envelope.
	Continuation string
	Cancel       bool
}

// eventKeys are the event fields of a resumable export.
var eventKeys = []string{"continuation", "cancel"}

// takeResume moves the event fields of a resumable export from m (which it
// changes) into ev; where names the object for errors ("" or "stepInput.").
func takeResume(ev *Event, m map[string]any, where string) error {
	switch v := m["continuation"].(type) {
	case nil:
	case string:
		ev.Continuation = v
	default:
		return fieldError(where+"continuation", "expected a string (the continuation of the last reply) or null, got %s", attr.Describe(v))
	}
	switch v := m["cancel"].(type) {
	case nil:
	case bool:
		ev.Cancel = v
	default:
		return fieldError(where+"cancel", "expected a boolean, got %s", attr.Describe(v))
	}
	for _, k := range eventKeys {
		delete(m, k)
	}
	return nil
}

// ParseEvent decodes and recognises an event. Numbers are kept exactly
// (json.Number). Every error is a *PermanentStepError that says what was
// expected.
func ParseEvent(payload []byte) (*Event, error) {
	top, err := decodeObject(payload)
	if err != nil {
		return nil, &PermanentStepError{Message: "event: " + err.Error()}
	}
	switch {
	case top["stepDefinition"] != nil:
		return envelope(top)
	case top["customConfig"] != nil:
		return direct(top)
	case top["query"] != nil || top["destination"] != nil:
		return bare(top)
	}
	return nil, &PermanentStepError{Message: fmt.Sprintf(
		"event: expected a stepDefinition object (orchestrator envelope), a customConfig object (direct invocation), "+
			"or query and destination at the top level (bare config); got keys [%s]",
		strings.Join(slices.Sorted(maps.Keys(top)), ", "))}
}

// decodeObject decodes one JSON object, exactly, with nothing after it.
func decodeObject(payload []byte) (map[string]any, error) {
	if !utf8.Valid(payload) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("empty: expected a JSON object")
		}
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more data after the event's object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, got %s", attr.Describe(v))
	}
	return m, nil
}

func envelope(top map[string]any) (*Event, error) {
	def, ok := top["stepDefinition"].(map[string]any)
	if !ok {
		return nil, fieldError("stepDefinition", "expected an object, got %s", attr.Describe(top["stepDefinition"]))
	}
	cfg, ok := def["customConfig"].(map[string]any)
	if !ok {
		if def["customConfig"] == nil {
			return nil, fieldError("stepDefinition.customConfig", "required: expected an object")
		}
		return nil, fieldError("stepDefinition.customConfig", "expected an object, got %s", attr.Describe(def["customConfig"]))
	}
	input, err := optionalObject(top, "stepInput")
	if err != nil {
		return nil, err
	}
	state, err := optionalObject(top, "runtimeState")
	if err != nil {
		return nil, err
	}
	current, err := optionalObject(state, "currentContextData")
	if err != nil {
		return nil, fieldError("runtimeState.currentContextData", "expected an object, got %s", attr.Describe(state["currentContextData"]))
	}
	// {...currentContextData, ...runtimeState, ...stepInput}: later keys win.
	ctx := make(map[string]any, len(current)+len(state)+len(input))
	maps.Copy(ctx, current)
	maps.Copy(ctx, state)
	maps.Copy(ctx, input)
	if _, ok := ctx["initialContextData"]; !ok {
		if v, ok := dig(state, "_internal", "originalStartInput", "initialContextData"); ok {
			ctx["initialContextData"] = v
		}
	}
	ev := &Event{Shape: Envelope, Config: cfg, Context: ctx, Overrides: map[string]any{}}
	input = maps.Clone(input)
	if err := takeResume(ev, input, "stepInput."); err != nil {
		return nil, err
	}
	for _, k := range eventKeys {
		delete(ctx, k)
	}
	for _, k := range config.TopKeys {
		if v, ok := input[k]; ok {
			ev.Overrides[k] = v
		}
	}
	ev.FlowExecutionID, _ = state["flowExecutionId"].(string)
	ev.StepInstanceID, _ = state["currentStepInstanceId"].(string)
	if ev.StepInstanceID == "" {
		ev.StepInstanceID, _ = def["stepInstanceId"].(string)
	}
	return ev, nil
}

func direct(top map[string]any) (*Event, error) {
	cfg, ok := top["customConfig"].(map[string]any)
	if !ok {
		return nil, fieldError("customConfig", "expected an object, got %s", attr.Describe(top["customConfig"]))
	}
	ev := &Event{Shape: Direct, Config: cfg}
	top = maps.Clone(top)
	if err := takeResume(ev, top, ""); err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if k != "customConfig" && k != "context" {
			return nil, fieldError(k, "unknown key at the top of a direct event; expected customConfig, an optional context, and continuation or cancel")
		}
	}
	return withContext(ev, top)
}

func bare(top map[string]any) (*Event, error) {
	ev := &Event{Shape: Bare}
	// config.Decode suggests config keys for an unknown top-level key; only
	// here is "context" one too, so a typo of it is caught here.
	known := append(slices.Clone(config.TopKeys), append([]string{"context"}, eventKeys...)...)
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !slices.Contains(known, k) && suggest.Nearest(k, known) == "context" {
			return nil, fieldError(k, "unknown key; did you mean \"context\"?")
		}
	}
	cfg := maps.Clone(top)
	if err := takeResume(ev, cfg, ""); err != nil {
		return nil, err
	}
	delete(cfg, "context")
	ev.Config = cfg
	return withContext(ev, top)
}

func withContext(ev *Event, top map[string]any) (*Event, error) {
	ctx, err := optionalObject(top, "context")
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = map[string]any{}
	}
	ev.Context = ctx
	ev.FlowExecutionID, _ = ctx["flowExecutionId"].(string)
	ev.StepInstanceID, _ = ctx["stepInstanceId"].(string)
	return ev, nil
}

func optionalObject(m map[string]any, key string) (map[string]any, error) {
	switch v := m[key].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	default:
		return nil, fieldError(key, "expected an object, got %s", attr.Describe(v))
	}
}

func dig(m map[string]any, path ...string) (any, bool) {
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = o[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func fieldError(field, format string, args ...any) error {
	return &PermanentStepError{Message: "event: " + field + ": " + fmt.Sprintf(format, args...)}
}
