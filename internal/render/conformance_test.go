package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
	"github.com/google/go-cmp/cmp"
)

// conformanceCorpus is testdata/conformance.json: named contexts, and templates each rendered
// against some of them.
type conformanceCorpus struct {
	Contexts map[string]json.RawMessage `json:"contexts"`
	Cases    []conformanceCase          `json:"cases"`
}

// conformanceCase is one template. Unless Differs is set, it must render exactly as
// handlebars.js renders it (or fail where handlebars.js fails) against every listed context.
type conformanceCase struct {
	Name     string      `json:"name"`
	Template string      `json:"template"`
	Contexts []string    `json:"contexts"`
	Differs  *difference `json:"differs"`
}

// difference is a deliberate difference from handlebars.js and what we do instead: render
// Want, or fail with an error containing Error.
type difference struct {
	Reason string  `json:"reason"` // strict, numbers, key order, unsupported
	Want   *string `json:"want"`
	Error  string  `json:"error"`
}

// jsCase is one case sent to conformance.js, and jsResult what it answers.
type jsCase struct {
	ID       string          `json:"id"`
	Template string          `json:"template"`
	Context  json.RawMessage `json:"context"`
}

type jsResult struct {
	ID     string  `json:"id"`
	Output *string `json:"output"`
	Error  string  `json:"error"`
}

// TestConformance renders the corpus with handlebars.js (one node process for all cases) and
// with this package, and compares them byte for byte.
func TestConformance(t *testing.T) {
	corpus := loadCorpus(t)
	var cases []jsCase
	for _, c := range corpus.Cases {
		for _, name := range c.Contexts {
			raw, ok := corpus.Contexts[name]
			if !ok {
				t.Fatalf("case %q: no context %q", c.Name, name)
			}
			cases = append(cases, jsCase{ID: c.Name + "/" + name, Template: c.Template, Context: raw})
		}
	}
	if len(cases) < 150 {
		t.Errorf("corpus has %d cases, want at least 150", len(cases))
	}
	js := runHandlebarsJS(t, cases)
	for _, c := range corpus.Cases {
		for _, name := range c.Contexts {
			id := c.Name + "/" + name
			t.Run(id, func(t *testing.T) {
				got, err := renderForConformance(t, c.Template, corpus.Contexts[name])
				ref, ok := js[id]
				if !ok {
					t.Fatalf("handlebars.js returned no result")
				}
				if c.Differs != nil {
					checkDifference(t, c.Differs, got, err, ref)
					return
				}
				checkSame(t, got, err, ref)
			})
		}
	}
}

// checkSame asserts we render what handlebars.js renders, or fail where it fails.
func checkSame(t *testing.T, got string, err error, ref jsResult) {
	t.Helper()
	switch {
	case ref.Output == nil && err == nil:
		t.Fatalf("handlebars.js fails (%s) but we render %q", ref.Error, got)
	case ref.Output == nil:
		return
	case err != nil:
		t.Fatalf("we fail (%v) but handlebars.js renders %q", err, *ref.Output)
	}
	if diff := cmp.Diff(*ref.Output, got); diff != "" {
		t.Errorf("output differs from handlebars.js (-handlebars.js +ours):\n%s", diff)
	}
}

// checkDifference asserts we do what the corpus specifies, and that handlebars.js really does
// something else (so the list of differences stays honest).
func checkDifference(t *testing.T, d *difference, got string, err error, ref jsResult) {
	t.Helper()
	if d.Reason == "" {
		t.Errorf("a difference needs a reason")
	}
	switch {
	case d.Error != "":
		if err == nil || !strings.Contains(err.Error(), d.Error) {
			t.Errorf("error = %v, want one containing %q", err, d.Error)
		}
		if ref.Output == nil {
			t.Errorf("listed as a difference, but handlebars.js fails too: %s", ref.Error)
		}
	case d.Want != nil:
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if diff := cmp.Diff(*d.Want, got); diff != "" {
			t.Errorf("output (-want +got):\n%s", diff)
		}
		if ref.Output != nil && *ref.Output == got {
			t.Errorf("listed as a difference, but handlebars.js renders the same %q", got)
		}
	default:
		t.Errorf("a difference needs want or error")
	}
}

// renderForConformance renders tmpl as text against the JSON context raw, and checks that the
// whole-value result of Value prints the same.
func renderForConformance(t *testing.T, tmpl string, raw json.RawMessage) (string, error) {
	t.Helper()
	data := decodeJSON(t, string(raw))
	r := New(Options{})
	got, err := r.text(context.Background(), "f", tmpl, data)
	v, verr := r.Value(context.Background(), "f", tmpl, data)
	switch v.(type) {
	case map[string]any, []any:
		// A whole-value template keeps an object or array, which as text would be an error.
		if err != nil && verr == nil && strings.Contains(err.Error(), "cannot be part of a larger string") {
			return got, err
		}
	}
	if (err == nil) != (verr == nil) {
		t.Fatalf("text error %v, Value error %v", err, verr)
	}
	if err == nil && text(v) != got && !isJSONPath(tmpl) {
		t.Errorf("Value = %#v prints %q, text renders %q", v, text(v), got)
	}
	if err != nil {
		var re *Error
		if !errors.As(err, &re) {
			t.Errorf("error %v is a %T, want *Error", err, err)
		}
	}
	return got, err
}

// loadCorpus reads testdata/conformance.json.
func loadCorpus(t *testing.T) conformanceCorpus {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "conformance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c conformanceCorpus
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("testdata/conformance.json: %v", err)
	}
	return c
}

// runHandlebarsJS renders every case with handlebars.js in one node process. Without node or
// node_modules/handlebars it skips the test, or fails it when CI is set.
func runHandlebarsJS(t *testing.T, cases []jsCase) map[string]jsResult {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	unavailable := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("conformance test cannot run in CI: %s", why)
		}
		t.Skipf("skipping conformance test: %s", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node not found in PATH")
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "handlebars", "package.json")); err != nil {
		unavailable("handlebars is not installed in node_modules (run npm ci)")
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, filepath.Join("testdata", "conformance.js"), root)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node testdata/conformance.js: %v\n%s", err, stderr.String())
	}
	var results []jsResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("reading conformance.js output: %v", err)
	}
	byID := make(map[string]jsResult, len(results))
	for _, r := range results {
		byID[r.ID] = r
	}
	return byID
}

// decodeJSON decodes s as the handler does: numbers as json.Number.
func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}
