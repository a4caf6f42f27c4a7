package lines

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
)

// The transcoder writes strings and numbers with the Encoder's primitives,
// and reports the Encoder's errors, with dst unchanged on error.

func TestAppendString(t *testing.T) {
	tr := NewTranscoder(config.Plain)
	got, err := tr.appendString([]byte("x"), []byte("a\"\n\u2028é"), false)
	if err != nil || string(got) != `x"a\"\n\u2028é"` {
		t.Errorf(`appendString = %s, %v; want x"a\"\n\u2028é"`, got, err)
	}
	got, err = tr.appendString([]byte("x"), []byte("ok\xff"), false)
	if string(got) != "x" {
		t.Errorf("appendString returned %q on error, want dst unchanged", got)
	}
	var want error = &Error{Msg: "expected valid UTF-8, got byte 0xff at offset 2 of the string"}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("appendString error (-want +got):\n%s", diff)
	}
}

func TestAppendNumber(t *testing.T) {
	tests := []struct {
		f    config.Format
		in   string
		want string
	}{
		{config.Plain, "1.50", "1.50"},
		{config.Plain, "+.5", "0.5"},
		{config.DynamoDB, "+.5", `"+.5"`},
		{config.DynamoDB, "1E+125", `"1E+125"`},
	}
	for _, tc := range tests {
		got, err := NewEncoder(tc.f).appendNumberErr(nil, tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("%v: appendNumberErr(%q) = %s, %v; want %s", tc.f, tc.in, got, err, tc.want)
		}
	}
	for _, f := range []config.Format{config.Plain, config.DynamoDB} {
		got, err := NewEncoder(f).appendNumberErr([]byte("x"), "NaN")
		var want error = &Error{Msg: `expected a number such as 12, -0.5 or 1.5e3, got N "NaN"`}
		if diff := cmp.Diff(want, err); diff != "" || string(got) != "x" {
			t.Errorf("%v: appendNumberErr(NaN) = %q; error (-want +got):\n%s", f, got, diff)
		}
	}
}

func TestErrorConstructors(t *testing.T) {
	if got, want := nilValue(nil).Msg, "expected an attribute value, got nil (<nil>)"; got != want {
		t.Errorf("nilValue(nil).Msg = %q, want %q", got, want)
	}
	if got, want := tooDeep().Msg, "expected lists and maps nested at most 32 levels deep"; got != want {
		t.Errorf("tooDeep().Msg = %q, want %q", got, want)
	}
}
