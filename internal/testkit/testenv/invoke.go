package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Handler is what Invoke calls: the function's handler, as aws-lambda-go
// calls it (lambda.Handler).
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Invoke calls h with event (bytes as they are, anything else marshalled)
// as aws-lambda-go would, and returns the reply decoded with exact numbers,
// or the error it reports to Lambda.
func Invoke(t testing.TB, ctx context.Context, h Handler, event any) (map[string]any, *messages.InvokeResponse_Error) {
	t.Helper()
	payload, ok := event.([]byte)
	if !ok {
		var err error
		if payload, err = json.Marshal(event); err != nil {
			t.Fatal(err)
		}
	}
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		var ie messages.InvokeResponse_Error
		if !errors.As(err, &ie) {
			t.Fatalf("Invoke returned %T (%v), want messages.InvokeResponse_Error", err, err)
		}
		return nil, &ie
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("reply is not a JSON object: %v: %s", err, out)
	}
	return m, nil
}
