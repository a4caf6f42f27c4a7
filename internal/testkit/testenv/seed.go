package testenv

// SeedConfig is the customConfig of the user page's "Full JSON Example"
// (the seed), reading table and writing to bucket.
func SeedConfig(table, bucket string) map[string]any {
	return map[string]any{
		"query": map[string]any{
			"tableName":                 table,
			"keyConditionExpression":    "PK = :partitionKey",
			"expressionAttributeValues": map[string]any{":partitionKey": "USER#{{initialContextData.userId}}"},
		},
		"destination": map[string]any{
			"bucketName": bucket,
			"key":        "manifests/{{initialContextData.userId}}-{{flowExecutionId}}.jsonl",
		},
	}
}

// SeedStep is the seed's whole step definition, around SeedConfig.
func SeedStep(table, bucket string) map[string]any {
	return map[string]any{
		"stepInstanceId":            "generate_user_manifest",
		"displayName":               "Generate User Data Manifest",
		"stepType":                  "DATA_LOAD",
		"moduleIdentifier":          "system/ddb-query-to-s3-manifest",
		"customConfig":              SeedConfig(table, bucket),
		"outputMappings":            map[string]any{"$.steps_output.manifest_details": "$"},
		"defaultNextStepInstanceId": "process_manifest_in_parallel",
	}
}

// SeedEnvelope is SeedStep as the orchestrator invokes it, for flow
// execution flow and user userID (its trigger payload's userId).
func SeedEnvelope(table, bucket, flow, userID string) map[string]any {
	return map[string]any{
		"stepDefinition": SeedStep(table, bucket),
		"stepInput":      map[string]any{},
		"runtimeState": map[string]any{
			"flowExecutionId": flow, "flowDefinitionId": "flow-1", "currentStepInstanceId": "generate_user_manifest",
			"currentContextData": map[string]any{"userId": userID, "steps_output": map[string]any{}, "flow_variables": map[string]any{}},
			"_internal":          map[string]any{"originalStartInput": map[string]any{"initialContextData": map[string]any{"userId": userID}}},
		},
	}
}
