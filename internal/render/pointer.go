package render

import (
	"context"
	"errors"
	"fmt"
)

// pointerKey is the key of the orchestrator's offloading marker:
// {"_s3_output_pointer": {"bucket": "...", "key": "..."}}.
const pointerKey = "_s3_output_pointer"

// maxPointerHops bounds how many pointers one step may follow in a row (a pointer whose object
// is itself a pointer), so that a cycle of pointers fails instead of looping.
const maxPointerHops = 8

// pointerRef names one offloaded object, and the version of it when the pointer pins one.
type pointerRef struct {
	bucket, key string
	version     string // versionId; "" for the newest version
	badVersion  bool   // versionId is there but not a string
}

// String returns the object's s3:// address, with ?versionId= when it pins a version.
func (p pointerRef) String() string {
	s := "s3://" + p.bucket + "/" + p.key
	if p.version != "" {
		s += "?versionId=" + p.version
	}
	return s
}

// pointerResult is a cached pointer read, successful or not.
type pointerResult struct {
	v   any
	err error
}

// pointerOf returns the object m points to, if m holds an `_s3_output_pointer` with a string
// bucket and key, and the version its versionId pins (the orchestrator's and this function's
// own pointers carry one when the bucket is versioned).
func pointerOf(m map[string]any) (pointerRef, bool) {
	p, ok := m[pointerKey].(map[string]any)
	if !ok {
		return pointerRef{}, false
	}
	bucket, bok := p["bucket"].(string)
	key, kok := p["key"].(string)
	ref := pointerRef{bucket: bucket, key: key}
	if v, ok := p["versionId"]; ok && v != nil {
		ref.version, ok = v.(string)
		ref.badVersion = !ok
	}
	return ref, bok && kok
}

// pointerError is a failed pointer read: which pointer, and why. The evaluator turns it into an
// *Error that also names the path.
type pointerError struct {
	ref         pointerRef
	unavailable bool  // no PointerReader was configured
	err         error // the reader's error
}

// what says which pointer failed, without the reader's error (the *Error made of it holds that
// in Err).
func (e *pointerError) what() string {
	if e.unavailable {
		return fmt.Sprintf("goes through _s3_output_pointer %s, but pointer reads are unavailable", e.ref)
	}
	return "reading _s3_output_pointer " + e.ref.String()
}

// load returns the JSON ref points to, reading it at most once per Renderer.
func (r *Renderer) load(ctx context.Context, ref pointerRef) (any, *pointerError) {
	if r.pointers == nil {
		return nil, &pointerError{ref: ref, unavailable: true}
	}
	if ref.badVersion {
		return nil, &pointerError{ref: ref, err: errors.New("its versionId is not a string")}
	}
	res, ok := r.cache[ref]
	if !ok {
		res.v, res.err = r.pointers.ReadJSON(ctx, ref.bucket, ref.key, ref.version)
		r.cache[ref] = res
	}
	if res.err != nil {
		return nil, &pointerError{ref: ref, err: res.err}
	}
	return res.v, nil
}

// through returns the value a pointer object stands for, following pointers to pointers. ok is
// false when m is not a pointer.
func (r *Renderer) through(ctx context.Context, m map[string]any) (v any, ok bool, perr *pointerError) {
	ref, ok := pointerOf(m)
	if !ok {
		return nil, false, nil
	}
	for hop := 0; ; hop++ {
		v, perr = r.load(ctx, ref)
		if perr != nil {
			return nil, true, perr
		}
		next, isMap := v.(map[string]any)
		if !isMap {
			return v, true, nil
		}
		if ref, ok = pointerOf(next); !ok {
			return v, true, nil
		}
		if hop == maxPointerHops {
			return nil, true, &pointerError{ref: ref, err: fmt.Errorf("more than %d pointers in a row", maxPointerHops)}
		}
	}
}
