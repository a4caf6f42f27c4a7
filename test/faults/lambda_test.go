package faults

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	fp "github.com/allma/ddb-query-to-s3-manifest/internal/testkit/faultproxy"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// TestLambdaNeverTimesOut runs the real bootstrap under the Lambda emulator
// with a 5 s timeout, its DynamoDB endpoint at a proxy that stalls the
// second Query page. The function must stop a margin before the deadline
// and report a TransientStepError, never "Task timed out".
//
// StartLambda appends its extra environment after the stack's, and os/exec
// keeps the last value of a duplicated key, so AWS_ENDPOINT_URL_DYNAMODB
// here replaces the stack's; the Query count at the proxy proves it.
func TestLambdaNeverTimesOut(t *testing.T) {
	ready(t)
	px, err := fp.New(stack.DynamoDBEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	px.Add(fp.Rule{Op: "Query", Skip: 1, Fault: fp.Delay(stall)})
	fn, err := stack.StartLambda("AWS_LAMBDA_FUNCTION_TIMEOUT=5", "AWS_ENDPOINT_URL_DYNAMODB="+px.URL)
	testenv.Require(t, err)

	bucket := testenv.Name("lambda")
	if err := stack.CreateBucket(context.Background(), bucket, false); err != nil {
		t.Fatal(err)
	}
	key := "lambda/stalled.jsonl"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	body, err := fn.Invoke(ctx, event(bigUser, bucket, key, nil))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("invoke: %v\nlambda log:\n%s", err, stack.Log("lambda"))
	}
	var reply struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		t.Fatalf("reply %s: %v", body, err)
	}
	if reply.ErrorType != "TransientStepError" || strings.Contains(string(body), "Task timed out") {
		t.Fatalf("reply after %s = %s, want a TransientStepError\nlambda log:\n%s", took, body, stack.Log("lambda"))
	}
	checkMessage(t, reply.ErrorMessage, "deadline", "items written from 1 page;")
	if n := px.Count("Query"); n < 2 {
		t.Errorf("%d Query requests at the proxy, want 2: the function did not use AWS_ENDPOINT_URL_DYNAMODB from the extra env", n)
	}
	if took > 5*time.Second {
		t.Errorf("answered after %s, more than the 5 s timeout", took)
	}
	stack.AssertNothingLeft(t, context.Background(), bucket, key)
}
