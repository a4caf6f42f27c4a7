package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/allma/ddb-query-to-s3-manifest/internal/render"
)

// decode decodes JSON the way the handler does: numbers stay json.Number.
func decode(s string) map[string]any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		panic(err)
	}
	return m
}

func ExampleRenderer_Config() {
	cfg := decode(`{
		"query": {
			"tableName": "orders",
			"keyConditionExpression": "pk = :pk",
			"expressionAttributeValues": {":pk": "USER#{{initialContextData.userId}}", ":since": "{{since}}"},
			"limit": "$.flow_variables.limit"
		},
		"destination": {"bucketName": "manifests", "key": "{{initialContextData.userId}}/{{flowExecutionId}}.jsonl"}
	}`)
	data := decode(`{"initialContextData": {"userId": "u-42"}, "flowExecutionId": "ex-1",
		"since": 1700000000123456789, "flow_variables": {"limit": 500}}`)

	out, err := render.New(render.Options{}).Config(context.Background(), cfg, data)
	if err != nil {
		fmt.Println(err)
		return
	}
	q := out["query"].(map[string]any)
	values := q["expressionAttributeValues"].(map[string]any)
	fmt.Printf("%q\n", out["destination"].(map[string]any)["key"])
	fmt.Printf("%q\n", values[":pk"])
	fmt.Printf("%T %v\n", values[":since"], values[":since"])
	fmt.Printf("%T %v\n", q["limit"], q["limit"])
	// Output:
	// "u-42/ex-1.jsonl"
	// "USER#u-42"
	// json.Number 1700000000123456789
	// json.Number 500
}

func ExampleRenderer_Config_errors() {
	cfg := decode(`{
		"query": {"tableName": "{{lenght name}}"},
		"destination": {"key": "{{initialContextData.userId}}/out.jsonl"}
	}`)
	_, err := render.New(render.Options{}).Config(context.Background(), cfg, decode(`{"name": "x"}`))
	for _, e := range err.(render.Errors) {
		fmt.Println(e)
	}
	// Output:
	// destination.key: template line 1: path "initialContextData.userId" not found in the context
	// query.tableName: template line 1: unknown helper "lenght"
}
