package ddbwire

// FuzzBodies are seed Query response bodies for fuzzing: well-formed ones
// with every type, escapes, duplicate members and nulls, and malformed ones.
var FuzzBodies = []string{
	`{"Items":[{"a":{"S":"x"}}],"Count":1,"ScannedCount":1}`,
	`{"Count":0,"Items":[],"LastEvaluatedKey":{"pk":{"S":"\u00e9"}},"ConsumedCapacity":{"CapacityUnits":0.5}}`,
	`{"Items":[{"n":{"N":"+007.5e3"},"ns":{"NS":["1",".5"]},"b":{"B":"aGk="},"bs":{"BS":["a\/8="]}}]}`,
	`{"Items":[{"m":{"M":{"z":{"NULL":true},"a":{"BOOL":false},"a":{"L":[{"SS":["\ud83d\ude00","\u2028"]}]}}}}]}`,
	`{"Items":[{"u":{"X":1,"S":"y"},"v":{"S":null,"N":"2"},"w":null}]}`,
	`{"Items":[{"s":{"S":"a\ud800b\/\"\\\b\f\n\r\t"}}],"Count":1}`,
	"{\"Items\":[{\"s\":{\"S\":\"\xff\"}}]}",
	`{"Items":null,"LastEvaluatedKey":null,"Count":null}`,
	`{"Items":[{"l":{"L":[{"L":[{"L":[]}]}]}}]} `,
	`[]`, `{`, `{"Items":[{"a":{"N":"1"}}`, `{"Count":1e3}`,
}
