package examples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
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
	Retry          []struct{ ErrorEquals []string }
	Catch          []struct {
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
// Plan (no AWS calls): each must be valid as written. The resumable ones
// also carry their continuation (and cancel) as event fields.
func TestEvents(t *testing.T) {
	type resumable struct {
		continuation string
		cancel       bool
	}
	tests := []struct {
		file      string
		shape     step.Shape
		wantTable string
		wantKey   string
		resumable *resumable // nil: not a resumable export
	}{
		{"events/direct.json", step.Direct, "MyDataTable", "manifests/123/manual-2026-01-01.jsonl", nil},
		{"events/bare.json", step.Bare, "MyDataTable", "manifests/status-PENDING.jsonl", nil},
		{"events/cancel.json", step.Direct, "MyDataTable", "manifests/123/manual-2026-01-01.jsonl",
			&resumable{"c1.REPLACE-WITH-THE-CONTINUATION-OF-THE-LAST-REPLY", true}},
		{"orchestrator/envelope-event.json", step.Envelope, "MyDataTable", "manifests/123-0b7e3f52-6c1d-4f0e-9a4b-5d2c8e1f7a90.jsonl", nil},
		{"orchestrator/resumable-envelope-event.json", step.Envelope, "MyDataTable", "manifests/123-0b7e3f52-6c1d-4f0e-9a4b-5d2c8e1f7a90.jsonl",
			&resumable{"c1.REPLACE-WITH-THE-CONTINUATION-OF-THE-PREVIOUS-REPLY", false}},
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
			if tc.resumable != nil {
				checkResumable(t, ev, cfg, tc.resumable.continuation, tc.resumable.cancel)
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

// Paths of the resumable machine's state: where the continuation to send
// is kept, the invocation counter, and the last reply.
const (
	continuationPath = "$.export.continuation"
	counterPath      = "$.export.invocation"
	replyPath        = "$.build.output"
)

// TestResumableStateMachineContract checks the loop of
// statemachine-resumable.asl.json: the Task asks for "resumable": true and
// passes the continuation (null on the first invocation, the last reply's
// afterwards); a Choice on complete leaves the loop for the Distributed Map
// before the bound is tested; the loop is bounded by a counter that each
// turn adds one to; and what the loop leaves unfinished is cancelled with
// the same event plus "cancel": true before the execution fails.
func TestResumableStateMachineContract(t *testing.T) {
	const file = "statemachine-resumable.asl.json"
	m := loadMachine(t, file)
	payloads := taskPayloads(t, file, "statemachine-resumable.yaml")
	var build, cancel string
	for name, p := range payloads {
		if m.States[name].Resource != "arn:aws:states:::lambda:invoke" || p["customConfig"] == nil {
			continue
		}
		if p["cancel"] == true {
			cancel = name
		} else {
			build = name
		}
	}
	if build == "" || cancel == "" {
		t.Fatalf("want one Task that exports and one that cancels (\"cancel\": true); found %q and %q", build, cancel)
	}
	task := m.States[build]
	checkErrorHandling(t, build, task)
	if cc, _ := payloads[build]["customConfig"].(map[string]any); cc["resumable"] != true {
		t.Errorf("Task %s: customConfig.resumable = %v, want true", build, cc["resumable"])
	}
	for _, name := range []string{build, cancel} {
		if got := payloads[name]["continuation.$"]; got != continuationPath {
			t.Errorf("Task %s: Payload \"continuation.$\" = %v, want %q", name, got, continuationPath)
		}
	}
	// A continuation is bound to the rendered config: cancel with the same one.
	same := maps.Clone(payloads[cancel])
	delete(same, "cancel")
	if diff := cmp.Diff(payloads[build], same); diff != "" {
		t.Errorf("Task %s's Payload is not Task %s's plus \"cancel\": true (-%s +%s):\n%s", cancel, build, build, cancel, diff)
	}
	if diff := cmp.Diff(map[string]string{"output.$": "$.Payload"}, task.ResultSelector); diff != "" {
		t.Errorf("Task %s ResultSelector (-want +got):\n%s", build, diff)
	}
	if task.ResultPath == nil || *task.ResultPath+".output" != replyPath {
		t.Errorf("Task %s: ResultPath %v, want the reply at %s", build, task.ResultPath, replyPath)
	}

	start := m.States[m.StartAt]
	if start == nil || start.Type != "Pass" || start.Next != build || start.ResultPath == nil || *start.ResultPath != "$.export" {
		t.Fatalf("StartAt %q: want a Pass that sets $.export and goes to %s, got %+v", m.StartAt, build, start)
	}
	if diff := cmp.Diff(map[string]any{"continuation": nil, "invocation": 1.0}, start.Result); diff != "" {
		t.Errorf("Pass %s: the first invocation starts (continuation null) and is number 1 (-want +got):\n%s", m.StartAt, diff)
	}

	ch := m.States[task.Next]
	if ch == nil || ch.Type != "Choice" {
		t.Fatalf("after Task %s: want a Choice, got %+v", build, ch)
	}
	done, over := -1, -1
	for i, c := range ch.Choices {
		if c.Variable == replyPath+".complete" && c.BooleanEquals != nil && *c.BooleanEquals {
			done = i
		}
		if c.Variable == counterPath && (c.NumericGreaterThanEquals != nil || c.NumericGreaterThan != nil) {
			over = i
		}
	}
	if done < 0 || over < 0 {
		t.Fatalf("Choice %s: want a rule on %s.complete == true and a bound on %s, got %+v", task.Next, replyPath, counterPath, ch.Choices)
	}
	if over < done {
		t.Errorf("Choice %s tests the bound before complete: an export that completes on the last allowed invocation would fail", task.Next)
	}

	next := m.States[ch.Default]
	if next == nil || next.Type != "Pass" || next.Next != build || next.ResultPath == nil || *next.ResultPath != "$.export" {
		t.Fatalf("Choice %s Default: want a Pass that sets $.export and goes back to %s, got %+v", task.Next, build, next)
	}
	if diff := cmp.Diff(map[string]any{
		"continuation.$": replyPath + ".continuation",
		"invocation.$":   "States.MathAdd(" + counterPath + ", 1)",
	}, next.Parameters); diff != "" {
		t.Errorf("Pass %s: carry the reply's continuation and count the invocation (-want +got):\n%s", ch.Default, diff)
	}

	// Leaving the loop unfinished (bound reached, or any error but
	// PermanentStepError, after which the function has cleaned up) cancels,
	// then fails, and never goes back to the Task.
	var leave []string
	leave = append(leave, ch.Choices[over].Next)
	for _, c := range task.Catch {
		if !slices.Contains(c.ErrorEquals, "PermanentStepError") {
			leave = append(leave, c.Next)
		}
	}
	for _, from := range leave {
		seen := reachable(m, from)
		if seen[build] {
			t.Errorf("state %s leaves the loop but leads back to %s", from, build)
		}
		if !seen[cancel] {
			t.Errorf("state %s leaves the loop unfinished without going through %s", from, cancel)
		}
	}
	for _, c := range task.Catch {
		if slices.Contains(c.ErrorEquals, "PermanentStepError") && reachable(m, c.Next)[cancel] {
			t.Errorf("Task %s: a PermanentStepError leads to %s, but the function has already aborted", build, cancel)
		}
	}

	skip := m.States[ch.Choices[done].Next]
	if skip == nil || skip.Type != "Choice" || len(skip.Choices) == 0 || skip.Choices[0].Variable != replyPath+".itemCount" {
		t.Fatalf("complete: want the AnyItems Choice on %s.itemCount, got %+v", replyPath, skip)
	}
	mp := m.States[skip.Default]
	if mp == nil || mp.Type != "Map" || mp.ItemReader == nil {
		t.Fatalf("Choice %s Default: want the Distributed Map, got %+v", ch.Choices[done].Next, mp)
	}
	if diff := cmp.Diff(map[string]string{
		"Bucket.$": replyPath + ".manifest._s3_output_pointer.bucket",
		"Key.$":    replyPath + ".manifest._s3_output_pointer.key",
	}, mp.ItemReader.Parameters); diff != "" {
		t.Errorf("Map %s ItemReader.Parameters (-want +got):\n%s", skip.Default, diff)
	}
}

// reachable returns the states reachable from start (start included).
func reachable(m *machine, start string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		s := m.States[n]
		if s == nil || seen[n] {
			return
		}
		seen[n] = true
		next := []string{s.Next, s.Default}
		for _, c := range s.Choices {
			next = append(next, c.Next)
		}
		for _, c := range s.Catch {
			next = append(next, c.Next)
		}
		for _, n := range next {
			if n != "" {
				walk(n)
			}
		}
	}
	walk(start)
	return seen
}

// TestResumableStateMachinePayload hands the events the resumable machine
// sends to the real handler's ParseEvent and Plan: the first invocation's
// (continuation null), a later one's, and the cancel. The continuation and
// cancel are event fields, not config, and "resumable": true is config.
func TestResumableStateMachinePayload(t *testing.T) {
	payloads := taskPayloads(t, "statemachine-resumable.asl.json", "statemachine-resumable.yaml")
	tests := []struct {
		name, state  string
		continuation any
		wantCancel   bool
	}{
		{"first invocation", "BuildManifest", nil, false},
		{"next invocation", "BuildManifest", "c1.from-the-last-reply", false},
		{"cancel", "CancelExport", "c1.from-the-last-reply", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if payloads[tc.state] == nil {
				t.Fatalf("no Task %s", tc.state)
			}
			ev, cfg := parseAndPlan(t, resolvePaths(t, payloads[tc.state], map[string]any{
				"$$.Execution.Name": "exec-1", "$.userId": "123", continuationPath: tc.continuation,
			}))
			if got, want := cfg.Destination.Key, "manifests/123/exec-1.jsonl"; got != want {
				t.Errorf("rendered destination.key = %q, want %q", got, want)
			}
			checkResumable(t, ev, cfg, tc.continuation, tc.wantCancel)
		})
	}
}

// checkResumable checks what resumable exports add to the event and the
// config: "resumable": true decoded, the continuation ("" for none) and
// cancel taken from the event.
func checkResumable(t *testing.T, ev *step.Event, cfg *config.Config, continuation any, cancel bool) {
	t.Helper()
	if continuation == nil {
		continuation = ""
	}
	if got := field(t, cfg, "Resumable"); got != true {
		t.Errorf("config Resumable = %v, want true", got)
	}
	if got := field(t, ev, "Continuation"); got != continuation {
		t.Errorf("event Continuation = %q, want %q", got, continuation)
	}
	if got := field(t, ev, "Cancel"); got != cancel {
		t.Errorf("event Cancel = %v, want %v", got, cancel)
	}
}

// field returns the exported field name of the struct v points to (a nil
// pointer field reads as its element's zero value). The fields resumable
// exports add (config.Config.Resumable, step.Event.Continuation and
// step.Event.Cancel, issue 14) are read by name so that this package
// compiles before they exist; until then each test that reads one fails
// here, naming it.
func field(t *testing.T, v any, name string) any {
	t.Helper()
	f := reflect.Indirect(reflect.ValueOf(v)).FieldByName(name)
	if !f.IsValid() {
		t.Fatalf("%T has no field %s (resumable exports, issue 14)", v, name)
	}
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return reflect.Zero(f.Type().Elem()).Interface()
		}
		f = f.Elem()
	}
	return f.Interface()
}

// flowStep is the part of an orchestrator flow's step the checks read.
type flowStep struct {
	StepInstanceID   string            `json:"stepInstanceId"`
	StepType         string            `json:"stepType"`
	ModuleIdentifier string            `json:"moduleIdentifier"`
	CustomConfig     map[string]any    `json:"customConfig"`
	InputMappings    map[string]string `json:"inputMappings"`
	OutputMappings   map[string]string `json:"outputMappings"`
	Transitions      []struct {
		Condition          string `json:"condition"`
		NextStepInstanceID string `json:"nextStepInstanceId"`
		MaxTransitions     *int   `json:"maxTransitions"`
	} `json:"transitions"`
	DefaultNextStepInstanceID string `json:"defaultNextStepInstanceId"`
	ParallelBranches          []struct {
		StepInstanceID string `json:"stepInstanceId"`
	} `json:"parallelBranches"`
}

// TestResumableFlow checks the orchestrator flow that loops
// (orchestrator/resumable-flow.json): its graph (every target a step, every
// path ends), and the step that runs the function: "resumable": true and
// otherwise step-definition.json's customConfig; its whole output mapped to
// one place T; the continuation mapped from T.continuation into its
// stepInput; a transition back to itself on T.complete == false with a
// bound (maxTransitions, 0 being no bound); and on to the next step by
// default. The envelope the function then receives
// (orchestrator/resumable-envelope-event.json) holds that step and the
// continuation the input mapping reads from the context.
func TestResumableFlow(t *testing.T) {
	var flow struct {
		StartStepInstanceID string              `json:"startStepInstanceId"`
		Steps               map[string]flowStep `json:"steps"`
	}
	var rawFlow struct{ Steps map[string]any }
	var def flowStep
	var env struct {
		StepDefinition map[string]any
		StepInput      map[string]any
		RuntimeState   struct{ CurrentContextData map[string]any }
	}
	for file, v := range map[string][]any{
		"orchestrator/resumable-flow.json":           {&flow, &rawFlow},
		"orchestrator/step-definition.json":          {&def},
		"orchestrator/resumable-envelope-event.json": {&env},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range v {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
		}
	}

	next := map[string][]string{}
	for id, s := range flow.Steps {
		if s.StepInstanceID != id {
			t.Errorf("step %s: stepInstanceId %q differs from its key", id, s.StepInstanceID)
		}
		var targets []string
		for _, tr := range s.Transitions {
			targets = append(targets, tr.NextStepInstanceID)
		}
		for _, b := range s.ParallelBranches {
			targets = append(targets, b.StepInstanceID)
		}
		if s.DefaultNextStepInstanceID != "" {
			targets = append(targets, s.DefaultNextStepInstanceID)
		}
		for _, n := range targets {
			if _, ok := flow.Steps[n]; !ok {
				t.Errorf("step %s goes to %q, which is no step of the flow", id, n)
			}
		}
		next[id] = targets
	}
	if _, ok := flow.Steps[flow.StartStepInstanceID]; !ok {
		t.Errorf("startStepInstanceId %q names no step", flow.StartStepInstanceID)
	}
	ends := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for id, s := range flow.Steps {
			if !ends[id] && (s.StepType == "END_FLOW" || s.DefaultNextStepInstanceID == "" ||
				slices.ContainsFunc(next[id], func(n string) bool { return ends[n] })) {
				ends[id], changed = true, true
			}
		}
	}
	for id := range flow.Steps {
		if !ends[id] {
			t.Errorf("no path from step %s ends", id)
		}
	}

	var id string
	for k, s := range flow.Steps {
		if s.ModuleIdentifier == def.ModuleIdentifier {
			id = k
		}
	}
	s, ok := flow.Steps[id]
	if !ok {
		t.Fatalf("no step with moduleIdentifier %q", def.ModuleIdentifier)
	}
	want := maps.Clone(def.CustomConfig)
	want["resumable"] = true
	if diff := cmp.Diff(want, s.CustomConfig); diff != "" {
		t.Errorf("step %s: customConfig is not step-definition.json's plus \"resumable\": true (-want +got):\n%s", id, diff)
	}
	var out string
	for target, source := range s.OutputMappings {
		if source == "$" {
			out = target
		}
	}
	if out == "" {
		t.Fatalf("step %s: no outputMapping of the whole output (\"$\"): %v", id, s.OutputMappings)
	}
	if got, want := s.InputMappings["continuation"], out+".continuation"; got != want {
		t.Errorf("step %s: inputMappings.continuation = %q, want %q", id, got, want)
	}
	loops := 0
	for _, tr := range s.Transitions {
		if tr.NextStepInstanceID != id {
			continue
		}
		loops++
		if want := out + ".complete == false"; tr.Condition != want {
			t.Errorf("step %s: the transition back to itself has condition %q, want %q", id, tr.Condition, want)
		}
		if tr.MaxTransitions == nil || *tr.MaxTransitions <= 0 {
			t.Errorf("step %s: the transition back to itself needs maxTransitions > 0 (the orchestrator's default is 5, 0 is no bound)", id)
		}
	}
	if loops != 1 {
		t.Errorf("step %s: %d transitions back to itself, want 1", id, loops)
	}
	if s.DefaultNextStepInstanceID == "" || s.DefaultNextStepInstanceID == id {
		t.Errorf("step %s: defaultNextStepInstanceId %q, want the step after the export", id, s.DefaultNextStepInstanceID)
	}

	if diff := cmp.Diff(rawFlow.Steps[id], env.StepDefinition); diff != "" {
		t.Errorf("resumable-envelope-event.json's stepDefinition differs from the flow's step %s (-flow +envelope):\n%s", id, diff)
	}
	var fromContext any = env.RuntimeState.CurrentContextData
	for _, k := range strings.Split(strings.TrimPrefix(s.InputMappings["continuation"], "$."), ".") {
		m, _ := fromContext.(map[string]any)
		fromContext = m[k]
	}
	if fromContext == nil || env.StepInput["continuation"] != fromContext {
		t.Errorf("resumable-envelope-event.json: stepInput.continuation %v, want the context's %s (%v)",
			env.StepInput["continuation"], s.InputMappings["continuation"], fromContext)
	}
}
