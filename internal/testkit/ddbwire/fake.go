package ddbwire

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Reply answers the n-th Query call (1-based) for in with a response body;
// an error is returned from Query as it is, without a request. It runs on
// the caller's goroutine, so a panic in it is the caller's.
type Reply func(ctx context.Context, n int, in *dynamodb.QueryInput) ([]byte, error)

// Fake is a DynamoDB Query API whose answers come from a Reply and go
// through a real dynamodb.Client: its middleware stack (the capture
// middleware among the options Query is given) reads them from an HTTP
// response with their X-Amz-Crc32, as it reads DynamoDB's. The client does
// not retry. A Fake is safe for concurrent use if its Reply is.
type Fake struct {
	reply  Reply
	calls  atomic.Int32
	client *dynamodb.Client
}

// NewFake returns a Fake answering with reply.
func NewFake(reply Reply) *Fake {
	return &Fake{reply: reply, client: Client(func(r *http.Request) []byte {
		b, _ := r.Context().Value(bodyKey{}).([]byte)
		return b
	})}
}

type bodyKey struct{}

// Query asks the Reply for a body and has the client read it.
func (f *Fake) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	n := int(f.calls.Add(1))
	body, err := f.reply(ctx, n, in)
	if err != nil {
		return nil, err
	}
	return f.client.Query(context.WithValue(ctx, bodyKey{}, body), in, optFns...)
}

// Calls returns how many times Query was called.
func (f *Fake) Calls() int { return int(f.calls.Load()) }

// Client returns a dynamodb.Client, without retries, whose every request
// is answered in memory with status 200 and the body that body returns for
// it, with its X-Amz-Crc32.
func Client(body func(*http.Request) []byte) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:      "us-east-1",
		Credentials: aws.AnonymousCredentials{},
		HTTPClient: doerFunc(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				_, _ = io.Copy(io.Discard, r.Body)
			}
			b := body(r)
			return &http.Response{
				StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{
					"Content-Type": {"application/x-amz-json-1.0"},
					"X-Amz-Crc32":  {strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10)},
				},
				Body:          io.NopCloser(bytes.NewReader(b)),
				ContentLength: int64(len(b)),
				Request:       r,
			}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
