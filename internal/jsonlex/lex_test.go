package jsonlex

import (
	"bytes"
	"strconv"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// scanStringRef is ScanString one byte at a time, as it was written before
// its word-at-a-time scan: the reference the fast one must agree with.
func scanStringRef(b []byte, i int) (String, int, error) {
	s := String{Start: i + 1}
	i++
	for {
		if i >= len(b) {
			return s, i, Syntax(s.Start-1, "unterminated string")
		}
		c := b[i]
		switch {
		case c == '"':
			s.End = i
			return s, i + 1, nil
		case c == '\\':
			s.Escaped = true
			if i+1 >= len(b) {
				return s, i, Syntax(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return s, i, Syntax(i, "incomplete unicode escape")
				}
				for _, h := range b[i+2 : i+6] {
					if hexVal(h) < 0 {
						return s, i, Syntax(i, "invalid unicode escape")
					}
				}
				i += 6
			default:
				return s, i, Syntax(i, "invalid escape "+strconv.Quote(string(b[i:i+2])))
			}
		case c < 0x20:
			return s, i, Syntax(i, "invalid control character in string")
		case c >= utf8.RuneSelf:
			s.NonASCII = true
			i++
		default:
			i++
		}
	}
}

// unquoteRef is Unquote one rune at a time, as it was written before it
// copied runs in bulk.
func unquoteRef(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != utf8.RuneError {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default:
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

var stringSeeds = []string{
	`"plain ascii that runs past a word or two"`,
	`""`,
	`"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\ud800x\udc00"`,
	`"東京都 Zoë 🎉 \u2028 naïve"`,
	"\"ctl \x01 inside\"",
	"\"tab\tinside\"",
	`"unterminated`,
	`"bad \x escape"`,
	`"short \u12"`,
	`"bad hex \u12g4"`,
	"\"\xff\xfe invalid \xc0\xaf utf-8\"",
	`"ends in a backslash\`,
	"\"non-ASCII at the end é\"",
	"\"é\"" + `,"next"`,
	"\"a long run of plain ASCII, then é\x01 in one word\"",
	"\"a long run of plain ASCII, then a quote \\\" and more, then \\\" more and more\"",
	"\"a long run of plain ASCII that never ends",
}

// FuzzScanString checks ScanString against scanStringRef at every offset
// of the input that holds a quote, and Unquote against unquoteRef on every
// string it accepts.
func FuzzScanString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := range b {
			if b[i] != '"' {
				continue
			}
			ws, wj, werr := scanStringRef(b, i)
			gs, gj, gerr := ScanString(b, i)
			if ws != gs || wj != gj || errString(werr) != errString(gerr) {
				t.Fatalf("ScanString(%q, %d) = %+v, %d, %v; want %+v, %d, %v", b, i, gs, gj, gerr, ws, wj, werr)
			}
			if werr != nil {
				continue
			}
			content := b[ws.Start:ws.End]
			want := unquoteRef([]byte("x"), content)
			if got := Unquote([]byte("x"), content); !bytes.Equal(got, want) {
				t.Fatalf("Unquote(%q) = %q, want %q", content, got, want)
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestScanString(t *testing.T) {
	for _, s := range stringSeeds {
		t.Run(s, func(t *testing.T) {
			// Every alignment of the string against the 8-byte words.
			for pad := range 9 {
				b := append(bytes.Repeat([]byte{' '}, pad), s...)
				ws, wj, werr := scanStringRef(b, pad)
				gs, gj, gerr := ScanString(b, pad)
				if ws != gs || wj != gj || errString(werr) != errString(gerr) {
					t.Fatalf("pad %d: got %+v, %d, %v; want %+v, %d, %v", pad, gs, gj, gerr, ws, wj, werr)
				}
			}
		})
	}
}
