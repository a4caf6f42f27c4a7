package attr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
)

// Configuration values are decoded with UseNumber, converted with
// ItemFromJSON, and errors are reported under the field's name.
func ExampleItemFromJSON() {
	const values = `{
		":pk": "USER#1",
		":min": 12345678901234567890.5,
		":b": {"B": "AQID"},
		":tags": {"SS": ["a", "b"]},
		":any": [true, null, {"n": 1}]
	}`
	d := json.NewDecoder(strings.NewReader(values))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic(err)
	}
	item, err := attr.ItemFromJSON(m)
	if err != nil {
		panic(err)
	}
	line, _ := lines.AppendDynamoJSON(nil, item)
	fmt.Println(string(line))

	_, err = attr.ItemFromJSON(map[string]any{":n": map[string]any{"N": true}})
	var ae *attr.Error
	if errors.As(err, &ae) {
		fmt.Println(ae.In("query.expressionAttributeValues"))
	}
	// Output:
	// {":any":{"L":[{"BOOL":true},{"NULL":true},{"M":{"n":{"N":"1"}}}]},":b":{"B":"AQID"},":min":{"N":"12345678901234567890.5"},":pk":{"S":"USER#1"},":tags":{"SS":["a","b"]}}
	// query.expressionAttributeValues.:n.N: expected a string holding a number, got a boolean
}
