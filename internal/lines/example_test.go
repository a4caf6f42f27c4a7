package lines_test

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
)

// One encoder and one buffer serve every item; each line ends in '\n'.
func ExampleEncoder_AppendItem() {
	items := []map[string]types.AttributeValue{
		{
			"pk":    &types.AttributeValueMemberS{Value: "USER#1"},
			"total": &types.AttributeValueMemberN{Value: "1249.990"},
			"tags":  &types.AttributeValueMemberSS{Value: []string{"vip", "beta"}},
		},
		{
			"pk":   &types.AttributeValueMemberS{Value: "USER#2"},
			"note": &types.AttributeValueMemberNULL{Value: true},
		},
	}
	for _, f := range []config.Format{config.Plain, config.DynamoDB} {
		e := lines.NewEncoder(f)
		var line []byte
		for _, item := range items {
			var err error
			line, err = e.AppendItem(line[:0], item)
			if err != nil {
				fmt.Println(err)
				return
			}
			line = append(line, '\n')
			os.Stdout.Write(line)
		}
	}
	// Output:
	// {"pk":"USER#1","tags":["vip","beta"],"total":1249.990}
	// {"note":null,"pk":"USER#2"}
	// {"pk":{"S":"USER#1"},"tags":{"SS":["vip","beta"]},"total":{"N":"1249.990"}}
	// {"note":{"NULL":true},"pk":{"S":"USER#2"}}
}

func ExampleAppendDynamoJSON() {
	key := map[string]types.AttributeValue{
		"sk": &types.AttributeValueMemberN{Value: "42"},
		"pk": &types.AttributeValueMemberS{Value: "USER#1"},
	}
	out, err := lines.AppendDynamoJSON(nil, key)
	fmt.Println(string(out), err)
	// Output: {"pk":{"S":"USER#1"},"sk":{"N":"42"}} <nil>
}
