package lines

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
)

// The transcoder writes strings and numbers with the Encoder's primitives,
// and reports the Encoder's errors, with dst unchanged on error.

func TestAppendString(t *testing.T) {
	tr := NewTranscoder(config.Plain)
	got, err := tr.appendString([]byte("x"), []byte("a\u2028é\u2029—"), false)
	if err != nil || string(got) != `x"a\u2028é\u2029—"` {
		t.Errorf(`appendString = %s, %v; want x"a\u2028é\u2029—"`, got, err)
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

// appendStringRef is appendString one byte or rune at a time, as it was
// written before its word-at-a-time scan: the reference it must agree with.
func appendStringRef(dst []byte, s string) ([]byte, *Error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return dst, errorf("expected valid UTF-8, got byte %#02x at offset %d of the string", c, i)
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

var stringSeeds = []string{
	"",
	"plain ascii, long enough to take a few words",
	"q\"b\\n\nr\rt\tb\bf\f\x00\x01\x1f\x7f end",
	"東京都 Zoë 🎉 — ☕ ✨ \u2028 \u2029 \u2027 \u202a naïve",
	"\xe2\x80\xa8\xe2\x80\xa9\xe2\x80",
	"ok\xff",
	"\xc0\xaf overlong, \xed\xa0\x80 surrogate",
	"<b>&amp;</b> \U0010FFFF",
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	want, werr := appendStringRef([]byte("x"), s)
	got, gerr := appendString([]byte("x"), s)
	if werr != nil || gerr != nil {
		if werr == nil || gerr == nil || werr.Error() != gerr.Error() {
			t.Fatalf("appendString(%q): error %v, want %v", s, gerr, werr)
		}
		return
	}
	if string(got) != string(want) {
		t.Fatalf("appendString(%q) = %q, want %q", s, got, want)
	}
	// The transcoder's, on what ScanString lets through unescaped.
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) {
		return
	}
	tgot, terr := NewTranscoder(config.Plain).appendString([]byte("x"), []byte(s), false)
	if terr != nil || string(tgot) != string(want) {
		t.Fatalf("Transcoder.appendString(%q) = %q, %v; want %q", s, tgot, terr, want)
	}
}

// TestAppendStringAlignments checks appendString against appendStringRef
// with the seeds at every alignment against its 8-byte words.
func TestAppendStringAlignments(t *testing.T) {
	for _, s := range stringSeeds {
		for pad := range 9 {
			checkAppendString(t, strings.Repeat("a", pad)+s)
			checkAppendString(t, s+strings.Repeat("a", pad))
		}
	}
}

// FuzzAppendString checks appendString against appendStringRef.
func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}
