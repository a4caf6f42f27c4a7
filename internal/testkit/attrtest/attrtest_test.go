package attrtest_test

import (
	"math/rand/v2"
	"testing"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestRandomItemDeterministic(t *testing.T) {
	a := attrtest.RandomItem(rand.New(rand.NewPCG(1, 2)), attrtest.Options{})
	b := attrtest.RandomItem(rand.New(rand.NewPCG(1, 2)), attrtest.Options{})
	if diff := attrtest.ExactDiff(a, b); diff != "" {
		t.Errorf("same seed, different items (-a +b):\n%s", diff)
	}
}

func TestRandomItemExclude(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	// One-letter names collide with excluded ones often.
	for range 2000 {
		it := attrtest.RandomItem(r, attrtest.Options{Exclude: []string{"pk", "sk", "a", "b", "x"}})
		for _, k := range []string{"pk", "sk", "a", "b", "x"} {
			if _, ok := it[k]; ok {
				t.Fatalf("item holds the excluded attribute %q", k)
			}
		}
		if len(it) == 0 {
			t.Fatal("empty item")
		}
	}
}

func TestRandomNumberValid(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		n := attrtest.RandomNumber(r)
		if err := attr.CheckNumber(n); err != nil {
			t.Fatalf("RandomNumber() = %q: %v", n, err)
		}
		digits := 0
		leading := true
		for i := 0; i < len(n) && n[i] != 'e' && n[i] != 'E'; i++ {
			if n[i] >= '1' && n[i] <= '9' {
				leading = false
			}
			if n[i] >= '0' && n[i] <= '9' && !leading {
				digits++
			}
		}
		if digits > attr.MaxNumberDigits {
			t.Fatalf("RandomNumber() = %q spells %d digits", n, digits)
		}
	}
}

func TestDiff(t *testing.T) {
	a := map[string]types.AttributeValue{
		"n":  &types.AttributeValueMemberN{Value: "1.50"},
		"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2e0"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "100"}}},
	}
	b := map[string]types.AttributeValue{
		"n":  &types.AttributeValueMemberN{Value: "1.5"},
		"ss": &types.AttributeValueMemberSS{Value: []string{"b", "a"}},
		"ns": &types.AttributeValueMemberNS{Value: []string{"2", "1"}},
		"bs": &types.AttributeValueMemberBS{Value: [][]byte{{2}, {1}}},
		"l":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberN{Value: "1E2"}}},
	}
	if diff := attrtest.Diff(a, b); diff != "" {
		t.Errorf("Diff reports what DynamoDB changes:\n%s", diff)
	}
	if attrtest.ExactDiff(a, b) == "" {
		t.Error("ExactDiff reports no difference")
	}
	b["l"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "100"}}}
	if attrtest.Diff(a, b) == "" {
		t.Error("Diff misses N 100 against S 100")
	}
}
