package lines_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
)

// defaultSeed makes the property tests reproducible by default; -seed 0
// explores new items.
const defaultSeed = 20240517

var (
	seedFlag  = flag.Uint64("seed", defaultSeed, "seed of the property tests' random items (0: a time-based seed, logged)")
	itemsFlag = flag.Int("items", 2000, "random items per property test")
)

func decodeUseNumber(t *testing.T, line []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %.200s: %v", line, err)
	}
	if d.More() {
		t.Fatalf("more than one JSON value in %.200s", line)
	}
	return v
}

// treeDiff is cmp.Diff for JSON value trees, skipping cmp when they are
// reflect.DeepEqual: cmp's time grows exponentially with list nesting.
func treeDiff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got)
}

// checkLine checks what every manifest line must be: one valid compact JSON
// object, without a newline or BOM.
func checkLine(t *testing.T, line []byte) {
	t.Helper()
	if !json.Valid(line) {
		t.Fatalf("invalid JSON: %.300s", line)
	}
	if bytes.ContainsAny(line, "\n\r") || bytes.HasPrefix(line, []byte("\uFEFF")) {
		t.Fatalf("line holds a newline or starts with a BOM: %.300s", line)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, line); err != nil || !bytes.Equal(compact.Bytes(), line) {
		t.Fatalf("line is not compact: %.300s", line)
	}
}

// TestPropertyPlain: random items encoded in plain format decode, with
// encoding/json, to attr.PlainItem's projection.
func TestPropertyPlain(t *testing.T) {
	r := attrtest.SeededRand(t, *seedFlag)
	e := lines.NewEncoder(config.Plain)
	var buf []byte
	for i := range *itemsFlag {
		it := attrtest.RandomItem(r, attrtest.VariedOptions(r, 300_000))
		var err error
		buf, err = e.AppendItem(buf[:0], it)
		if err != nil {
			t.Fatalf("item %d: AppendItem: %v", i, err)
		}
		checkLine(t, buf)
		got := decodeUseNumber(t, buf)
		want := any(attr.PlainItem(it))
		if diff := treeDiff(want, got); diff != "" {
			t.Fatalf("item %d: decoded line differs from attr.PlainItem (-want +got):\n%s", i, diff)
		}
	}
}

// TestPropertyDynamoDB: random items encoded in dynamodb format read back, with
// encoding/json and attr.ItemFromJSON, to the same item, exactly.
func TestPropertyDynamoDB(t *testing.T) {
	r := attrtest.SeededRand(t, *seedFlag)
	e := lines.NewEncoder(config.DynamoDB)
	var buf []byte
	for i := range *itemsFlag {
		it := attrtest.RandomItem(r, attrtest.VariedOptions(r, 300_000))
		var err error
		buf, err = e.AppendItem(buf[:0], it)
		if err != nil {
			t.Fatalf("item %d: AppendItem: %v", i, err)
		}
		checkLine(t, buf)
		m, ok := decodeUseNumber(t, buf).(map[string]any)
		if !ok {
			t.Fatalf("item %d: line is not an object: %.200s", i, buf)
		}
		got, err := attr.ItemFromJSON(m)
		if err != nil {
			t.Fatalf("item %d: ItemFromJSON: %v\nline: %.500s", i, err, buf)
		}
		// Also through FromJSON on {"M": line}, as the contract states it.
		gotM, err := attr.FromJSON(map[string]any{"M": m})
		if err != nil {
			t.Fatalf("item %d: FromJSON: %v", i, err)
		}
		if diff := attrtest.ExactDiff(it, got); diff != "" {
			t.Fatalf("item %d: round trip differs (-want +got):\n%s", i, diff)
		}
		if diff := attrtest.ExactDiff(&types.AttributeValueMemberM{Value: it}, gotM); diff != "" {
			t.Fatalf("item %d: round trip through {\"M\": ...} differs (-want +got):\n%s", i, diff)
		}
	}
}

// referencePlain is the plain format written with encoding/json, as simply as
// possible, to check the hand-written encoder against.
func referencePlain(av types.AttributeValue) any {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return json.Number(v.Value)
	case *types.AttributeValueMemberB:
		return v.Value // encoding/json writes []byte as standard base64
	case *types.AttributeValueMemberBOOL:
		return v.Value
	case *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = referencePlain(e)
		}
		return l
	case *types.AttributeValueMemberM:
		return referenceItem(v.Value)
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberNS:
		l := make([]json.Number, len(v.Value))
		for i, e := range v.Value {
			l[i] = json.Number(e)
		}
		return l
	case *types.AttributeValueMemberBS:
		return v.Value
	}
	panic("unexpected attribute value")
}

func referenceItem(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = referencePlain(v)
	}
	return m
}

// marshalReference encodes item with encoding/json: keys sorted, no HTML
// escaping, no trailing newline.
func marshalReference(t *testing.T, item map[string]types.AttributeValue) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(referenceItem(item)); err != nil {
		t.Fatalf("reference encoder: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// TestPropertyPlainMatchesEncodingJSON: on random items (whose numbers are all
// spelt as valid JSON), the plain format is semantically equal to, and in fact
// byte for byte the same as, what encoding/json writes.
func TestPropertyPlainMatchesEncodingJSON(t *testing.T) {
	r := attrtest.SeededRand(t, *seedFlag)
	e := lines.NewEncoder(config.Plain)
	var buf []byte
	for i := range *itemsFlag {
		it := attrtest.RandomItem(r, attrtest.VariedOptions(r, 300_000))
		var err error
		buf, err = e.AppendItem(buf[:0], it)
		if err != nil {
			t.Fatalf("item %d: AppendItem: %v", i, err)
		}
		ref := marshalReference(t, it)
		if diff := treeDiff(decodeUseNumber(t, ref), decodeUseNumber(t, buf)); diff != "" {
			t.Fatalf("item %d: plain line differs from encoding/json's (-ref +got):\n%s", i, diff)
		}
		if !bytes.Equal(ref, buf) {
			t.Fatalf("item %d: plain line is not byte-identical to encoding/json's:\nref %.500s\ngot %.500s", i, ref, buf)
		}
	}
}

// TestAppendItemAllocations checks that a warmed-up encoder allocates nothing
// per item, in both formats.
func TestAppendItemAllocations(t *testing.T) {
	it := benchItem()
	for _, f := range []config.Format{config.Plain, config.DynamoDB} {
		e := lines.NewEncoder(f)
		buf, err := e.AppendItem(nil, it)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(200, func() {
			buf, _ = e.AppendItem(buf[:0], it)
		})
		if allocs != 0 {
			t.Errorf("%v: AppendItem allocates %v times per item, want 0", f, allocs)
		}
	}
}

// TestRandomItemsAreValid checks that attrtest's items are what DynamoDB
// accepts: numbers within its limits, sets non-empty with distinct members,
// and a size within the item limit.
func TestRandomItemsAreValid(t *testing.T) {
	r := attrtest.SeededRand(t, *seedFlag)
	for i := range *itemsFlag {
		o := attrtest.VariedOptions(r, 300_000)
		it := attrtest.RandomItem(r, o)
		if size := attrtest.Size(it); size > max(o.MaxSize, attrtest.DefaultMaxSize)+1024 || size > attrtest.MaxItemSize {
			t.Fatalf("item %d: size %d over the budget %d", i, size, o.MaxSize)
		}
		// Reading the item's DynamoDB JSON with attr.ItemFromJSON applies
		// DynamoDB's rules: number limits, empty and duplicate sets, depth.
		line, err := lines.AppendDynamoJSON(nil, it)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if _, err := attr.ItemFromJSON(decodeUseNumber(t, line).(map[string]any)); err != nil {
			t.Fatalf("item %d is not valid for DynamoDB: %v\n%.500s", i, err, line)
		}
	}
}
