package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// Error names the state machine must handle (CONTRACT.md section 7 and
// Lambda's own service errors).
var (
	wantRetried = []string{"TransientStepError", "Lambda.ServiceException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
	wantCaught  = []string{"PermanentStepError"}
)

// state is the part of an ASL state the checks read.
type state struct {
	Type           string
	Next           string
	End            bool
	Default        string
	Resource       string
	Parameters     map[string]any
	Result         any
	ResultPath     *string
	ResultSelector map[string]string
	Choices        []choice
	Retry []struct{ ErrorEquals []string }
	Catch []struct {
		ErrorEquals []string
		Next        string
	}
	ItemReader *struct {
		Resource     string
		ReaderConfig struct{ InputType string }
		Parameters   map[string]string
	}
	ItemProcessor *machine
}

// choice is one rule of a Choice state (the comparisons the examples use).
type choice struct {
	Variable                 string
	NumericEquals            *float64
	NumericGreaterThanEquals *float64
	NumericGreaterThan       *float64
	BooleanEquals            *bool
	IsNull                   *bool
	Next                     string
}

// machine is a state machine or a Map's ItemProcessor.
type machine struct {
	StartAt         string
	States          map[string]*state
	ProcessorConfig *struct{ Mode, ExecutionType string }
}

// The state machines and the SAM template that deploys each.
var machines = []struct{ asl, template string }{
	{"statemachine.asl.json", "statemachine.yaml"},
	{"statemachine-resumable.asl.json", "statemachine-resumable.yaml"},
}

func loadMachine(t *testing.T, file string) *machine {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m machine
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &m
}

// TestStateMachineGraph checks every scope of every machine: StartAt names a
// state, every Next/Default/Catch names a state of the same scope, each state
// either ends or goes on (never both), every state is reachable, and from
// every state some path ends (no loop without a way out).
func TestStateMachineGraph(t *testing.T) {
	for _, f := range machines {
		t.Run(f.asl, func(t *testing.T) {
			checkScope(t, "top level", loadMachine(t, f.asl))
		})
	}
}

func checkScope(t *testing.T, scope string, m *machine) {
	t.Helper()
	if _, ok := m.States[m.StartAt]; !ok {
		t.Errorf("%s: StartAt %q names no state", scope, m.StartAt)
	}
	reach := map[string][]string{}
	for name, s := range m.States {
		where := fmt.Sprintf("%s: state %s", scope, name)
		var targets []string
		switch s.Type {
		case "Succeed", "Fail":
			if s.Next != "" || s.End {
				t.Errorf("%s: a %s state takes neither Next nor End", where, s.Type)
			}
		case "Choice":
			if s.Next != "" || s.End {
				t.Errorf("%s: a Choice state takes neither Next nor End", where)
			}
			if len(s.Choices) == 0 {
				t.Errorf("%s: no Choices", where)
			}
			for _, c := range s.Choices {
				targets = append(targets, c.Next)
			}
			if s.Default != "" {
				targets = append(targets, s.Default)
			}
		case "Task", "Map", "Pass", "Wait", "Parallel":
			if (s.Next != "") == s.End {
				t.Errorf("%s: needs exactly one of Next or End: true", where)
			}
			if s.Next != "" {
				targets = append(targets, s.Next)
			}
		default:
			t.Errorf("%s: unknown Type %q", where, s.Type)
		}
		for _, c := range s.Catch {
			targets = append(targets, c.Next)
		}
		for _, n := range targets {
			if _, ok := m.States[n]; !ok {
				t.Errorf("%s: goes to %q, which is no state of this scope", where, n)
			}
		}
		reach[name] = targets
		if s.ItemProcessor != nil {
			checkScope(t, where+" ItemProcessor", s.ItemProcessor)
		}
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, next := range reach[n] {
			walk(next)
		}
	}
	walk(m.StartAt)
	for name := range m.States {
		if !seen[name] {
			t.Errorf("%s: state %s cannot be reached from %s", scope, name, m.StartAt)
		}
	}
	// Every path ends: walking back from the terminal states reaches every state.
	ends := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for name, s := range m.States {
			if ends[name] {
				continue
			}
			terminal := s.Type == "Succeed" || s.Type == "Fail" || s.End
			if terminal || slices.ContainsFunc(reach[name], func(n string) bool { return ends[n] }) {
				ends[name], changed = true, true
			}
		}
	}
	for name := range m.States {
		if !ends[name] {
			t.Errorf("%s: no path from state %s ends", scope, name)
		}
	}
}

// TestStateMachineContract checks the parts that talk to the function: the
// Task's Retry/Catch error names, the Choice on itemCount, and the
// Distributed Map's ItemReader reading the manifest pointer.
func TestStateMachineContract(t *testing.T) {
	m := loadMachine(t, "statemachine.asl.json")
	task := m.States[m.StartAt]
	if task == nil || task.Type != "Task" || task.Resource != "arn:aws:states:::lambda:invoke" {
		t.Fatalf("StartAt %q: want a lambda:invoke Task, got %+v", m.StartAt, task)
	}
	checkErrorHandling(t, m.StartAt, task)
	if diff := cmp.Diff(map[string]string{
		"manifest.$": "$.Payload.manifest", "itemCount.$": "$.Payload.itemCount", "sizeBytes.$": "$.Payload.sizeBytes",
	}, task.ResultSelector); diff != "" {
		t.Errorf("Task ResultSelector (-want +got):\n%s", diff)
	}

	choice := m.States[task.Next]
	if choice == nil || choice.Type != "Choice" {
		t.Fatalf("after the Task: want a Choice, got %+v", choice)
	}
	var skip string
	for _, c := range choice.Choices {
		if c.Variable == "$.itemCount" && c.NumericEquals != nil && *c.NumericEquals == 0 {
			skip = c.Next
		}
	}
	if s := m.States[skip]; s == nil || s.Type != "Succeed" {
		t.Errorf("Choice %s: itemCount 0 must go to a Succeed state, goes to %q", task.Next, skip)
	}

	mp := m.States[choice.Default]
	if mp == nil || mp.Type != "Map" || mp.ItemProcessor == nil || mp.ItemReader == nil {
		t.Fatalf("Choice %s Default: want a Map with ItemReader and ItemProcessor, got %+v", task.Next, mp)
	}
	pc := mp.ItemProcessor.ProcessorConfig
	if pc == nil || pc.Mode != "DISTRIBUTED" || (pc.ExecutionType != "STANDARD" && pc.ExecutionType != "EXPRESS") {
		t.Errorf("Map %s: ProcessorConfig = %+v, want Mode DISTRIBUTED and ExecutionType STANDARD or EXPRESS", choice.Default, pc)
	}
	r := mp.ItemReader
	if r.Resource != "arn:aws:states:::s3:getObject" || r.ReaderConfig.InputType != "JSONL" {
		t.Errorf("Map %s ItemReader: Resource %q InputType %q, want s3:getObject and JSONL", choice.Default, r.Resource, r.ReaderConfig.InputType)
	}
	if diff := cmp.Diff(map[string]string{
		"Bucket.$": "$.manifest._s3_output_pointer.bucket",
		"Key.$":    "$.manifest._s3_output_pointer.key",
	}, r.Parameters); diff != "" {
		t.Errorf("Map %s ItemReader.Parameters (-want +got):\n%s", choice.Default, diff)
	}
}

// checkErrorHandling checks that task retries what retrying can help and
// catches what it cannot.
func checkErrorHandling(t *testing.T, name string, task *state) {
	t.Helper()
	var retried, caught []string
	for _, r := range task.Retry {
		retried = append(retried, r.ErrorEquals...)
	}
	for _, c := range task.Catch {
		caught = append(caught, c.ErrorEquals...)
	}
	for _, e := range wantRetried {
		if !slices.Contains(retried, e) {
			t.Errorf("Task %s does not Retry %s (retries %v)", name, e, retried)
		}
	}
	for _, e := range wantCaught {
		if !slices.Contains(caught, e) {
			t.Errorf("Task %s does not Catch %s (catches %v)", name, e, caught)
		}
		if slices.Contains(retried, e) {
			t.Errorf("Task %s retries %s, which retrying cannot help", name, e)
		}
	}
}

// TestStateMachinePayload resolves the Task's Payload the way Step Functions
// would (substitutions, then ".$" keys) and hands it to the real handler's
// ParseEvent and Plan: the example's config must be valid as written.
func TestStateMachinePayload(t *testing.T) {
	m := loadMachine(t, "statemachine.asl.json")
	payload := taskPayloads(t, "statemachine.asl.json", "statemachine.yaml")[m.StartAt]
	ev, cfg := parseAndPlan(t, resolvePaths(t, payload, map[string]any{
		"$$.Execution.Name": "exec-1", "$.userId": "123",
	}))
	if ev.Shape != step.Direct {
		t.Errorf("Task payload shape = %v, want direct", ev.Shape)
	}
	if got, want := cfg.Destination.Key, "manifests/123/exec-1.jsonl"; got != want {
		t.Errorf("rendered destination.key = %q, want %q", got, want)
	}
}

// taskPayloads returns the Payload of every Task of the machine in file,
// by state name, after the DefinitionSubstitutions that template sets (each
// placeholder the definition uses must be one of them).
func taskPayloads(t *testing.T, file, template string) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	subs := definitionSubstitutions(t, template)
	placeholders := regexp.MustCompile(`\$\{(\w+)\}`)
	for _, p := range placeholders.FindAllStringSubmatch(string(raw), -1) {
		if _, ok := subs[p[1]]; !ok {
			t.Errorf("%s uses ${%s}, which %s's DefinitionSubstitutions does not set", file, p[1], template)
		}
	}
	sample := map[string]string{
		"ManifestFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:manifest",
		"ItemFunctionArn":     "arn:aws:lambda:us-east-1:123456789012:function:item",
		"TableName":           "MyDataTable", "ManifestBucket": "my-bucket",
		"ManifestPrefix": "manifests/", "ResultsPrefix": "map-results/",
	}
	resolved := placeholders.ReplaceAllStringFunc(string(raw), func(s string) string {
		return sample[s[2:len(s)-1]]
	})
	var m struct {
		States map[string]struct {
			Parameters struct{ Payload map[string]any }
		}
	}
	if err := json.Unmarshal([]byte(resolved), &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for name, s := range m.States {
		if s.Parameters.Payload != nil {
			out[name] = s.Parameters.Payload
		}
	}
	return out
}

// parseAndPlan hands an event to the real handler's ParseEvent and Plan.
func parseAndPlan(t *testing.T, event any) (*step.Event, *config.Config) {
	t.Helper()
	b, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := step.ParseEvent(b)
	if err != nil {
		t.Fatalf("ParseEvent: %v", err)
	}
	cfg, err := step.New(step.Deps{}).Plan(context.Background(), ev)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return ev, cfg
}

// resolvePaths replaces "k.$": "path" by "k": values[path], as Step Functions
// does for Parameters.
func resolvePaths(t *testing.T, v any, values map[string]any) any {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				val, found := values[x.(string)]
				if !found {
					t.Fatalf("no sample value for %s: %v", k, x)
				}
				out[name] = val
				continue
			}
			out[k] = resolvePaths(t, x, values)
		}
		return out
	case []any:
		for i := range v {
			v[i] = resolvePaths(t, v[i], values)
		}
	}
	return v
}

// definitionSubstitutions reads the keys of the DefinitionSubstitutions
// block of the SAM template in file (indentation-based; no YAML library
// needed for one flat map).
func definitionSubstitutions(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]bool{}
	in, indent := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		depth := len(line) - len(trimmed)
		switch {
		case trimmed == "DefinitionSubstitutions:":
			in, indent = true, depth
		case in && depth > indent && strings.Contains(trimmed, ":"):
			keys[strings.TrimSpace(strings.SplitN(trimmed, ":", 2)[0])] = true
		case in && trimmed != "":
			in = false
		}
	}
	if len(keys) == 0 {
		t.Fatalf("%s: no DefinitionSubstitutions found", file)
	}
	return keys
}

// TestEvents hands every example event to the real handler's ParseEvent and
// Plan (no AWS calls): each must be valid as written.
func TestEvents(t *testing.T) {
	tests := []struct {
		file      string
		shape     step.Shape
		wantTable string
		wantKey   string
	}{
		{"events/direct.json", step.Direct, "MyDataTable", "manifests/123/manual-2026-01-01.jsonl"},
		{"events/bare.json", step.Bare, "MyDataTable", "manifests/status-PENDING.jsonl"},
		{"orchestrator/envelope-event.json", step.Envelope, "MyDataTable", "manifests/123-0b7e3f52-6c1d-4f0e-9a4b-5d2c8e1f7a90.jsonl"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := step.ParseEvent(b)
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if ev.Shape != tc.shape {
				t.Errorf("shape = %v, want %v", ev.Shape, tc.shape)
			}
			cfg, err := step.New(step.Deps{}).Plan(context.Background(), ev)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if cfg.Query.TableName != tc.wantTable || cfg.Destination.Key != tc.wantKey {
				t.Errorf("table %q key %q, want %q and %q", cfg.Query.TableName, cfg.Destination.Key, tc.wantTable, tc.wantKey)
			}
		})
	}
}

// TestOrchestratorExamples checks that the registration, the flow step and
// the envelope agree: a non-system/ module id, the same customConfig, and a
// registration item in the orchestrator's registry format.
func TestOrchestratorExamples(t *testing.T) {
	var def map[string]any
	var env struct{ StepDefinition map[string]any }
	var reg map[string]map[string]string
	for file, v := range map[string]any{
		"orchestrator/step-definition.json":   &def,
		"orchestrator/envelope-event.json":    &env,
		"orchestrator/registration-item.json": &reg,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	id, _ := def["moduleIdentifier"].(string)
	if id == "" || strings.HasPrefix(id, "system/") {
		t.Errorf("step-definition.json: moduleIdentifier %q: an external module needs a non-system/ id", id)
	}
	if diff := cmp.Diff(def, env.StepDefinition); diff != "" {
		t.Errorf("envelope-event.json's stepDefinition differs from step-definition.json (-def +envelope):\n%s", diff)
	}
	want := map[string]string{
		"PK": "EXTERNAL_STEP#" + id, "SK": "METADATA", "itemType": "ALLMA_EXTERNAL_STEP_REGISTRY",
		"moduleIdentifier": id, "stepType": def["stepType"].(string),
	}
	for k, v := range want {
		if got := reg[k]["S"]; got != v {
			t.Errorf("registration-item.json: %s = %q, want %q", k, got, v)
		}
	}
	if !regexp.MustCompile(`^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:.+`).MatchString(reg["lambdaArn"]["S"]) {
		t.Errorf("registration-item.json: lambdaArn %q is not a function ARN", reg["lambdaArn"]["S"])
	}
	var defaults map[string]any
	if err := json.Unmarshal([]byte(reg["defaultConfig"]["S"]), &defaults); err != nil {
		t.Errorf("registration-item.json: defaultConfig is not a JSON object string: %v", err)
	} else if defaults["moduleIdentifier"] != id {
		t.Errorf("registration-item.json: defaultConfig.moduleIdentifier = %v, want %q", defaults["moduleIdentifier"], id)
	}
}
