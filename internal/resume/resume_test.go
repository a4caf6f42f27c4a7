package resume

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  Token
	}{
		{"first stop", Token{Export: "3f1c0e6a-1b2c-4d5e-8f90-0123456789ab", Config: "abc", Seq: 1,
			Upload: json.RawMessage(`{"id":"upload-1","parts":3,"size":15728640,"tail":"k.resume/x/tail-1","tailSize":123}`),
			Key:    json.RawMessage(`{"PK":{"S":"USER#1"},"SK":{"S":"ORDER#000123"}}`), Items: 30000, Offloaded: 12, Pages: 57}},
		{"query done", Token{Export: "e", Config: "c", Seq: 9, Items: 1}},
		{"in an object", Token{Export: "e", Config: "c", StateKey: "k.resume/e/state-9.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.tok.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(s)
			if err != nil {
				t.Fatalf("Decode(%q): %v", s, err)
			}
			if diff := cmp.Diff(&tc.tok, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if b, _ := json.Marshal(s); string(b) != `"`+s+`"` {
				t.Errorf("token %q needs escaping in JSON", s)
			}
		})
	}
}

// A token stays under MaxTokenBytes however large the export (counts are
// numbers, parts are read back from S3); keys that do not fit say so.
func TestTokenSize(t *testing.T) {
	big := Token{Export: strings.Repeat("e", 36), Config: strings.Repeat("c", 24), Seq: 1 << 20,
		Upload: json.RawMessage(`{"id":"` + strings.Repeat("u", 128) + `","parts":10000,"size":53687091200,"tail":"` + strings.Repeat("t", 1100) + `","tailSize":5242879}`),
		Key:    json.RawMessage(fmt.Sprintf(`{"PK":{"S":%q},"SK":{"S":%q}}`, strings.Repeat("p", 1024), strings.Repeat("s", 1024))),
		Items:  1 << 50, Offloaded: 1 << 40, Pages: 1 << 30}
	s, err := big.Encode()
	if err != nil {
		t.Fatalf("a 50 GiB export with 1 KiB keys: %v", err)
	}
	if len(s) > MaxTokenBytes {
		t.Fatalf("token of %d bytes", len(s))
	}
	// Random-looking keys do not compress: 5 KB of them cannot fit.
	r := rand.New(rand.NewPCG(1, 2))
	var key strings.Builder
	for range 5000 {
		key.WriteByte(byte('#' + r.IntN(57)))
	}
	b, _ := json.Marshal(key.String())
	big.Key = json.RawMessage(`{"PK":{"S":` + string(b) + `}}`)
	if _, err := big.Encode(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("5 KB of incompressible key: err = %v, want ErrTooLarge", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := (&Token{Export: "e", Config: "c"}).Encode()
	neg, _ := (&Token{Export: "e", Config: "c", Items: -1}).Encode()
	for _, s := range []string{"", "hello", "c1.!!!", "c1.AAAA", good[:len(good)-3], "c2." + good[3:], neg} {
		if _, err := Decode(s); err == nil || !strings.Contains(err.Error(), "not a continuation this function made") {
			t.Errorf("Decode(%q) = %v, want a refusal", s, err)
		}
	}
}

func TestDigest(t *testing.T) {
	a := map[string]any{"query": map[string]any{"tableName": "T", "limit": json.Number("10")}, "destination": map[string]any{"key": "k"}}
	b := map[string]any{"destination": map[string]any{"key": "k"}, "query": map[string]any{"limit": json.Number("10"), "tableName": "T"}}
	c := map[string]any{"destination": map[string]any{"key": "k"}, "query": map[string]any{"limit": json.Number("10.0"), "tableName": "T"}}
	da, _ := Digest(a)
	db, _ := Digest(b)
	dc, _ := Digest(c)
	if da != db {
		t.Errorf("key order changed the digest: %s != %s", da, db)
	}
	if da == dc {
		t.Errorf("10 and 10.0 gave the same digest %s", da)
	}
}
