package jsonl_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonl"
)

func TestAppendString(t *testing.T) {
	got, err := jsonl.AppendString([]byte("x"), "a\"\n\u2028é")
	if err != nil || string(got) != `x"a\"\n\u2028é"` {
		t.Errorf(`AppendString = %s, %v; want x"a\"\n\u2028é"`, got, err)
	}
	got, err = jsonl.AppendString([]byte("x"), "ok\xff")
	if string(got) != "x" {
		t.Errorf("AppendString returned %q on error, want dst unchanged", got)
	}
	want := &jsonl.Error{Msg: "expected valid UTF-8, got byte 0xff at offset 2 of the string"}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("AppendString error (-want +got):\n%s", diff)
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
		got, err := jsonl.NewEncoder(tc.f).AppendNumber(nil, tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("%v: AppendNumber(%q) = %s, %v; want %s", tc.f, tc.in, got, err, tc.want)
		}
	}
	for _, f := range []config.Format{config.Plain, config.DynamoDB} {
		got, err := jsonl.NewEncoder(f).AppendNumber([]byte("x"), "NaN")
		want := &jsonl.Error{Msg: `expected a number such as 12, -0.5 or 1.5e3, got N "NaN"`}
		if diff := cmp.Diff(want, err); diff != "" || string(got) != "x" {
			t.Errorf("%v: AppendNumber(NaN) = %q; error (-want +got):\n%s", f, got, diff)
		}
	}
}

func TestErrorConstructors(t *testing.T) {
	if got, want := jsonl.NilValueError().Msg, "expected an attribute value, got nil (<nil>)"; got != want {
		t.Errorf("NilValueError().Msg = %q, want %q", got, want)
	}
	if got, want := jsonl.TooDeepError().Msg, "expected lists and maps nested at most 32 levels deep"; got != want {
		t.Errorf("TooDeepError().Msg = %q, want %q", got, want)
	}
}
