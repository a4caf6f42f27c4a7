package config

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestReadmeReference keeps README's configuration table in sync with the
// keys Decode accepts: every key is documented and every documented key exists.
func TestReadmeReference(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile("(?s)\n## Configuration[^\n]*\n(.*?)\n## ").FindSubmatch(b)
	if section == nil {
		t.Fatal("README has no \"## Configuration\" section")
	}
	rows := regexp.MustCompile("(?m)^\\| `([a-zA-Z.]+)` \\|").FindAllStringSubmatch(string(section[1]), -1)
	var documented []string
	for _, r := range rows {
		documented = append(documented, r[1])
	}
	var known []string
	for _, k := range QueryKeys {
		known = append(known, "query."+k)
	}
	for _, k := range DestinationKeys {
		known = append(known, "destination."+k)
	}
	for _, k := range OutputKeys {
		known = append(known, "output."+k)
	}
	known = append(known, "enableItemOffloading", "resumable")
	for _, k := range known {
		if !slices.Contains(documented, k) {
			t.Errorf("README's configuration table does not document %s", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(known, k) {
			t.Errorf("README documents %s, which Decode does not accept", k)
		}
	}
}
