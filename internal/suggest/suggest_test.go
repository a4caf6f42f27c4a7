package suggest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"keyConditionExpresion", "keyConditionExpression", 1}, {"jsn", "json", 1},
		{"héllo", "hello", 1}, // runes, not bytes
		{"contxt", "context", 1},
	}
	for _, tc := range tests {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	known := []string{"query", "destination", "output", "enableItemOffloading", "context"}
	tests := []struct {
		name, want string
	}{
		{"contxt", "context"}, {"Context", "context"}, {"destinaton", "destination"}, {"QUERY", "query"},
		{"zzzzzzzzzz", ""}, {"", ""},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, Nearest(tc.name, known)); diff != "" {
			t.Errorf("Nearest(%q) (-want +got):\n%s", tc.name, diff)
		}
	}
}
