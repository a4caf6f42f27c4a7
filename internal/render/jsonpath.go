package render

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// isJSONPath reports whether s is written as a JSONPath: `$`, or starting with `$.` or `$[`.
func isJSONPath(s string) bool {
	return s == "$" || strings.HasPrefix(s, "$.") || strings.HasPrefix(s, "$[")
}

// jpKind is what a JSONPath step selects.
type jpKind int

const (
	jpName     jpKind = iota // .name or ['name']
	jpIndex                  // [n], negative from the end
	jpWildcard               // .* or [*]
)

// jpStep is one step of a JSONPath; recursive steps (..name) apply to every descendant too.
type jpStep struct {
	kind      jpKind
	name      string
	index     int
	recursive bool
}

// parseJSONPath parses the subset of JSONPath we support: `$` followed by `.name`, `.*`,
// `['name']` or `["name"]`, `[n]` (negative counts from the end), `[*]`, and `..` before any
// of them for recursive descent.
func parseJSONPath(path string) ([]jpStep, error) {
	if !strings.HasPrefix(path, "$") {
		return nil, fmt.Errorf("a JSONPath starts with $")
	}
	var steps []jpStep
	for i := 1; i < len(path); {
		step, next, err := parseJSONPathStep(path, i)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step)
		i = next
	}
	return steps, nil
}

// parseJSONPathStep parses the step starting at path[i] and returns it with the position of
// the next one.
func parseJSONPathStep(path string, i int) (jpStep, int, error) {
	var step jpStep
	switch {
	case strings.HasPrefix(path[i:], ".."):
		step.recursive = true
		i += 2
		if i < len(path) && path[i] == '[' {
			return parseJSONPathBracket(path, i, step)
		}
	case path[i] == '.':
		i++
	case path[i] == '[':
		return parseJSONPathBracket(path, i, step)
	default:
		return step, i, fmt.Errorf("unexpected %q at offset %d", path[i], i)
	}
	end := i
	for end < len(path) && path[end] != '.' && path[end] != '[' {
		if c := path[end]; c == ']' || c == '\'' || c == '"' || c == ' ' || c == '\t' || c == '\n' {
			return step, end, fmt.Errorf("unexpected %q at offset %d", c, end)
		}
		end++
	}
	if end == i {
		return step, i, fmt.Errorf("missing name at offset %d", i)
	}
	step.name = path[i:end]
	if step.name == "*" {
		step.kind = jpWildcard
	}
	return step, end, nil
}

// parseJSONPathBracket parses `[...]` at path[i].
func parseJSONPathBracket(path string, i int, step jpStep) (jpStep, int, error) {
	closing := strings.IndexByte(path[i:], ']')
	if closing < 0 {
		return step, i, fmt.Errorf("unclosed [ at offset %d", i)
	}
	inner := strings.TrimSpace(path[i+1 : i+closing])
	if inner != "" && (inner[0] == '\'' || inner[0] == '"') {
		return parseJSONPathQuoted(path, i, step)
	}
	next := i + closing + 1
	if inner == "*" {
		step.kind = jpWildcard
		return step, next, nil
	}
	n, err := strconv.Atoi(inner)
	if err != nil || len(inner) > 10 {
		return step, i, fmt.Errorf("bad index [%s] at offset %d", inner, i)
	}
	step.kind, step.index = jpIndex, n
	return step, next, nil
}

// parseJSONPathQuoted parses `['name']` or `["name"]` at path[i]; a backslash escapes the next
// character.
func parseJSONPathQuoted(path string, i int, step jpStep) (jpStep, int, error) {
	j := i + 1
	for j < len(path) && path[j] == ' ' {
		j++
	}
	quote := path[j]
	var name strings.Builder
	for j++; j < len(path) && path[j] != quote; j++ {
		if path[j] == '\\' && j+1 < len(path) {
			j++
		}
		name.WriteByte(path[j])
	}
	if j >= len(path) {
		return step, i, fmt.Errorf("unterminated string at offset %d", i)
	}
	j++
	for j < len(path) && path[j] == ' ' {
		j++
	}
	if j >= len(path) || path[j] != ']' {
		return step, i, fmt.Errorf("expected ] at offset %d", j)
	}
	step.kind, step.name = jpName, name.String()
	return step, j + 1, nil
}

// jsonPath evaluates path against root and returns every match in document order (objects in
// sorted key order), reading through `_s3_output_pointer` objects that a name, index or
// wildcard step goes into (recursive descent does not read pointers). line is the template
// line for errors, 0 for a whole-value JSONPath.
func (e *evaluator) jsonPath(path string, root any, line int) ([]any, error) {
	steps, err := parseJSONPath(path)
	if err != nil {
		return nil, e.fail(line, path, "invalid JSONPath "+strconv.Quote(path)+": "+err.Error())
	}
	nodes := []any{root}
	for _, st := range steps {
		var next []any
		for _, n := range nodes {
			if err := e.tick(line); err != nil {
				return nil, err
			}
			var perr *pointerError
			if st.recursive {
				for _, d := range descendants(n, nil) {
					if err := e.tick(line); err != nil {
						return nil, err
					}
					next, _ = e.jsonPathApply(st, d, next)
				}
			} else {
				next, perr = e.jsonPathApply(st, n, next)
			}
			if perr != nil {
				return nil, &Error{Field: e.field, Line: line, Path: path,
					Msg: "JSONPath " + strconv.Quote(path) + ": " + perr.what(), Err: perr.err}
			}
		}
		nodes = next
	}
	return nodes, nil
}

// jsonPathApply appends what step st selects in v to out.
func (e *evaluator) jsonPathApply(st jpStep, v any, out []any) ([]any, *pointerError) {
	if m, ok := v.(map[string]any); ok && e.shouldReadThrough(st, m) {
		target, _, perr := e.r.through(e.ctx, m)
		if perr != nil {
			return out, perr
		}
		v = target
	}
	switch st.kind {
	case jpName:
		if c, ok := ownProperty(v, st.name); ok {
			out = append(out, c)
		}
	case jpIndex:
		if arr, ok := v.([]any); ok {
			i := st.index
			if i < 0 {
				i += len(arr)
			}
			if i >= 0 && i < len(arr) {
				out = append(out, arr[i])
			}
		}
	case jpWildcard:
		out = append(out, children(v)...)
	}
	return out, nil
}

// shouldReadThrough reports whether step st goes into the pointer object m: a name it does not
// hold, or a wildcard on an object that is only a pointer. Recursive steps never read.
func (e *evaluator) shouldReadThrough(st jpStep, m map[string]any) bool {
	if st.recursive {
		return false
	}
	if _, ok := pointerOf(m); !ok {
		return false
	}
	switch st.kind {
	case jpName:
		_, has := m[st.name]
		return !has
	case jpWildcard:
		return len(m) == 1
	}
	return true
}

// children returns an array's elements or an object's values in sorted key order.
func children(v any) []any {
	switch t := v.(type) {
	case []any:
		return t
	case map[string]any:
		out := make([]any, 0, len(t))
		for _, k := range slices.Sorted(maps.Keys(t)) {
			out = append(out, t[k])
		}
		return out
	}
	return nil
}

// descendants appends v and everything below it, depth first, to out.
func descendants(v any, out []any) []any {
	out = append(out, v)
	for _, c := range children(v) {
		out = descendants(c, out)
	}
	return out
}
