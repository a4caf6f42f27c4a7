package render

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// PointerReader reads one S3 object holding JSON, decoded with UseNumber and size-capped by the
// implementation: the version versionID, or the newest when versionID is "". Errors it returns
// are passed through (wrapped in an *Error), so callers can classify them with errors.As (for
// example as a smithy.APIError).
type PointerReader interface {
	ReadJSON(ctx context.Context, bucket, key, versionID string) (any, error)
}

// Options configures a Renderer. The zero value works: pointer reads are then unavailable.
type Options struct {
	// Pointers reads `_s3_output_pointer` objects. When nil, a path through a pointer is an
	// error saying pointer reads are unavailable.
	Pointers PointerReader
}

// Renderer renders templates for one invocation. It caches pointer reads, so each pointer
// (bucket and key) is read at most once, successfully or not, for the Renderer's lifetime.
// A Renderer is not safe for concurrent use.
type Renderer struct {
	pointers  PointerReader
	cache     map[pointerRef]pointerResult
	maxOutput int // bytes one template may render to; maxOutputBytes
}

// New returns a Renderer with the given options.
func New(opts Options) *Renderer {
	return &Renderer{pointers: opts.Pointers, cache: map[pointerRef]pointerResult{}, maxOutput: maxOutputBytes}
}

// Config renders every string anywhere in cfg (through maps and arrays; map keys are not
// rendered) against data and returns the rendered tree; cfg is not modified. Every failing
// field is reported, as Errors in field order; field paths are relative to cfg: dotted map keys
// and [i] for array indexes, e.g. `destination.key` or `a.b[2]`. On failure the tree is nil.
//
// Rendering stops when ctx is done (its deadline, or a cancellation): the field being rendered
// then fails with an *Error that wraps context.Cause(ctx), and the fields after it are skipped.
func (r *Renderer) Config(ctx context.Context, cfg map[string]any, data map[string]any) (map[string]any, error) {
	var errs Errors
	out := r.renderMap(ctx, "", cfg, data, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// renderMap renders every value of m; field is m's own path.
func (r *Renderer) renderMap(ctx context.Context, field string, m map[string]any, data any, errs *Errors) map[string]any {
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		sub := k
		if field != "" {
			sub = field + "." + k
		}
		out[k] = r.renderAny(ctx, sub, m[k], data, errs)
	}
	return out
}

// renderAny renders v if it is a string, and recurses into maps and arrays.
func (r *Renderer) renderAny(ctx context.Context, field string, v any, data any, errs *Errors) any {
	switch v := v.(type) {
	case string:
		if ctx.Err() != nil {
			if len(*errs) == 0 || !errors.Is((*errs)[len(*errs)-1], context.Cause(ctx)) {
				*errs = append(*errs, stopped(ctx, field, 0))
			}
			return nil
		}
		out, err := r.Value(ctx, field, v, data)
		if err != nil {
			*errs = append(*errs, asError(field, err))
			return nil
		}
		return out
	case map[string]any:
		return r.renderMap(ctx, field, v, data, errs)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = r.renderAny(ctx, field+"["+strconv.Itoa(i)+"]", e, data, errs)
		}
		return out
	}
	return v
}

// Value renders one template string against data; field is used only in error messages. The
// result is a string unless tmpl is a whole-value template or a JSONPath (see the package
// documentation). A failure is an *Error; one that ctx stopped wraps context.Cause(ctx).
func (r *Renderer) Value(ctx context.Context, field, tmpl string, data any) (any, error) {
	if !strings.Contains(tmpl, "{{") {
		if !isJSONPath(tmpl) {
			return tmpl, nil
		}
		return r.jsonPathValue(ctx, field, tmpl, data)
	}
	prog, err := parse(tmpl)
	if err != nil {
		err.Field = field
		return nil, err
	}
	e := newEvaluator(ctx, r, field, data)
	if m := wholeValue(prog); m != nil {
		v, err := e.mustacheValue(m, e.rootScope())
		if err != nil {
			return nil, err
		}
		if _, ok := v.(missing); ok {
			v = nil
		}
		return v, nil
	}
	return e.text(prog)
}

// text renders tmpl to text, as handlebars.js would, without whole-value typing or JSONPath
// strings. The conformance test compares it with handlebars.js.
func (r *Renderer) text(ctx context.Context, field, tmpl string, data any) (string, error) {
	prog, err := parse(tmpl)
	if err != nil {
		err.Field = field
		return "", err
	}
	return newEvaluator(ctx, r, field, data).text(prog)
}

// jsonPathValue resolves a whole-value JSONPath against data.
func (r *Renderer) jsonPathValue(ctx context.Context, field, path string, data any) (any, error) {
	e := newEvaluator(ctx, r, field, data)
	matches, err := e.jsonPath(path, data, 0)
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, &Error{Field: field, Path: path, Msg: "JSONPath " + strconv.Quote(path) + " matches nothing in the context"}
	}
	return unwrapMatches(matches), nil
}

// asError returns err as an *Error for field.
func asError(field string, err error) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Field: field, Msg: "rendering failed", Err: err}
}

// unwrapMatches returns a single match itself and several as an array.
func unwrapMatches(matches []any) any {
	if len(matches) == 1 {
		return matches[0]
	}
	return matches
}
