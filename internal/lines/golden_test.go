package lines_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.jsonl from the encoder's output")

// TestGolden encodes the items of testdata/items.ddb.jsonl (DynamoDB JSON, one
// per line, read with attr.ItemFromJSON) as a manifest in each format and
// compares it with testdata/<format>.golden.jsonl, a sample manifest a reader
// can open. Run with -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "items.ddb.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("items.ddb.jsonl line %d: %v", len(items)+1, err)
		}
		items = append(items, m)
	}
	for _, f := range []config.Format{config.Plain, config.DynamoDB} {
		t.Run(f.String(), func(t *testing.T) {
			e := lines.NewEncoder(f)
			var manifest []byte
			for i, m := range items {
				it, err := attr.ItemFromJSON(m)
				if err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
				if manifest, err = e.AppendItem(manifest, it); err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
				manifest = append(manifest, '\n')
			}
			golden := filepath.Join("testdata", f.String()+".golden.jsonl")
			if *update {
				if err := os.WriteFile(golden, manifest, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(manifest)); diff != "" {
				t.Errorf("manifest differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
