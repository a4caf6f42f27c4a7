package config

import "testing"

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		err  string
	}{
		{"", Plain, ""},
		{"plain", Plain, ""},
		{"dynamodb", DynamoDB, ""},
		{"DynamoDB", Plain, `unknown format "DynamoDB": expected "plain" or "dynamodb"`},
		{"json", Plain, `unknown format "json": expected "plain" or "dynamodb"`},
	}
	for _, tc := range tests {
		got, err := ParseFormat(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("ParseFormat(%q) = %v, %q; want %v, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
	}
	for f, want := range map[Format]string{Plain: "plain", DynamoDB: "dynamodb", 7: "Format(7)"} {
		if got := f.String(); got != want {
			t.Errorf("Format(%d).String() = %q, want %q", f, got, want)
		}
	}
}
