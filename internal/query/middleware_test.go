package query_test

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/jsonlex"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/ddbwire"
)

// reply is how the fake answers one request.
type reply int

const (
	good      reply = iota // the body with its CRC32
	badCRC                 // the body with a wrong CRC32
	truncated              // half the body, then the connection is closed
	throttled              // a 400 ThrottlingException
	invalid                // a 400 ValidationException
)

// fakeDynamoDB serves one Query response body on 127.0.0.1, answering the
// n-th request as replies[n] (the last one repeats), and counts requests.
type fakeDynamoDB struct {
	srv      *httptest.Server
	body     []byte
	replies  []reply
	requests atomic.Int32
}

func newFake(t *testing.T, body []byte, replies ...reply) *fakeDynamoDB {
	f := &fakeDynamoDB{body: body, replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDynamoDB) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body) // the whole request first, like a real endpoint
	// And answer a little later, like a real endpoint: an answer within
	// microseconds can arrive while the SDK's transport is still finishing
	// the request, which drops the connection and retries the page (the
	// loopback artefact of issue 7), and these tests count attempts.
	time.Sleep(2 * time.Millisecond)
	n := int(f.requests.Add(1)) - 1
	rep := f.replies[min(n, len(f.replies)-1)]
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	crc := crc32.ChecksumIEEE(f.body)
	switch rep {
	case throttled, invalid:
		code := "ThrottlingException"
		if rep == invalid {
			code = "ValidationException"
		}
		b := []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"no"}`)
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
		w.WriteHeader(400)
		_, _ = w.Write(b)
		return
	case badCRC:
		crc++
	}
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc), 10))
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(200)
	if rep == truncated {
		_, _ = w.Write(f.body[:len(f.body)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	_, _ = w.Write(f.body)
}

// client returns a client of f with the standard retryer (3 attempts, no
// backoff delay) and the capture middleware.
func (f *fakeDynamoDB) client(opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	}, opts...)
}

func queryInput() *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                 aws.String("t"),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "p"}},
	}
}

// testPage returns a response body of random items and a LastEvaluatedKey.
func testPage(t *testing.T) ([]byte, []map[string]types.AttributeValue, map[string]types.AttributeValue) {
	r := rand.New(rand.NewPCG(7, 7))
	items := make([]map[string]types.AttributeValue, 50)
	for i := range items {
		items[i] = attrtest.RandomItem(r, attrtest.Options{})
	}
	lek := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "p\u00e9"}, "sk": &types.AttributeValueMemberN{Value: "42"}}
	return ddbwire.Writer{R: r}.Body(items, lek), items, lek
}

func TestMiddleware(t *testing.T) {
	body, items, lek := testPage(t)
	tests := []struct {
		name     string
		replies  []reply
		requests int32 // HTTP requests the fake answered: the SDK's attempts
		// throttles is how many of them were throttled (query.Attempts
		// must count requests-1 retries of one Query, and these).
		throttles int64
		wantErr   func(error) bool
	}{
		{name: "good", replies: []reply{good}, requests: 1},
		{name: "bad CRC once", replies: []reply{badCRC, good}, requests: 2},
		{name: "truncated once", replies: []reply{truncated, good}, requests: 2},
		{name: "throttled once", replies: []reply{throttled, good}, requests: 2, throttles: 1},
		{name: "throttled twice", replies: []reply{throttled, throttled, good}, requests: 3, throttles: 2},
		{name: "throttled, then a bad CRC", replies: []reply{throttled, badCRC, good}, requests: 3, throttles: 1},
		{name: "bad CRC always", replies: []reply{badCRC}, requests: 3, wantErr: func(err error) bool {
			var ce *query.ChecksumError
			return errors.As(err, &ce)
		}},
		{name: "truncated always", replies: []reply{truncated}, requests: 3, wantErr: func(err error) bool {
			var re *query.RetryableError
			return errors.As(err, &re)
		}},
		{name: "throttled always", replies: []reply{throttled}, requests: 3, throttles: 3, wantErr: query.IsThrottle},
		{name: "validation error untouched", replies: []reply{invalid}, requests: 1, wantErr: func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, body, tc.replies...)
			c := f.client(query.WithRawItems)
			var capt query.Capture
			var att query.Attempts
			ctx := query.WithAttempts(query.WithCapture(context.Background(), &capt), &att)
			out, err := c.Query(ctx, queryInput())
			if got := f.requests.Load(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			got := [3]int64{att.Requests(), att.Retries(), att.Throttles()}
			if want := [3]int64{1, int64(tc.requests) - 1, tc.throttles}; got != want {
				t.Errorf("Attempts counted {requests, retries, throttles} %v, want %v", got, want)
			}
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("error %v (%T), want another", err, err)
				}
				t.Logf("error, as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(capt.Body, body) {
				t.Fatalf("captured %d bytes, want the %d of the body", len(capt.Body), len(body))
			}
			if out.Count != int32(len(items)) || len(out.Items) != 0 {
				t.Errorf("Count %d and %d items decoded by the SDK, want %d and none", out.Count, len(out.Items), len(items))
			}
			if d := attrtest.ExactDiff(lek, out.LastEvaluatedKey); d != "" {
				t.Errorf("LastEvaluatedKey (-want +got):\n%s", d)
			}
			for _, fm := range []config.Format{config.Plain, config.DynamoDB} {
				var p lines.Page
				if err := lines.NewTranscoder(fm).Items(&p, capt.Response.Items); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(encodeLines(t, fm, items), string(p.Lines)); diff != "" {
					t.Fatalf("%v: lines differ (-encoder +transcoder):\n%s", fm, diff)
				}
			}
		})
	}
}

// TestMiddlewareWithoutCapture: a Query whose context carries no Capture is
// decoded by the SDK as usual, middleware installed or not.
func TestMiddlewareWithoutCapture(t *testing.T) {
	body, items, _ := testPage(t)
	f := newFake(t, body, good)
	out, err := f.client(query.WithRawItems).Query(context.Background(), queryInput())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != len(items) {
		t.Fatalf("%d items, want %d", len(out.Items), len(items))
	}
}

// TestMiddlewareOrder: the capture middleware sits just inside the SDK's
// CRC32 check, so it sees the response before the check wraps the body.
func TestMiddlewareOrder(t *testing.T) {
	body, _, _ := testPage(t)
	f := newFake(t, body, good)
	var ids []string
	record := func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			ids = s.Deserialize.List()
			return nil
		})
	}
	if _, err := f.client(query.WithRawItems, record).Query(context.Background(), queryInput()); err != nil {
		t.Fatal(err)
	}
	i := slices.Index(ids, "DynamoDB:ResponseChecksumValidation")
	if i < 0 || i+1 >= len(ids) || ids[i+1] != query.MiddlewareID {
		t.Fatalf("deserialize step %v: want %s right after the checksum validation", ids, query.MiddlewareID)
	}
	t.Logf("deserialize step, outermost first: %v", ids)
}

// TestSDKChecksumAlone pins the reason the capture middleware checks the
// CRC32 itself: with the SDK as pinned in go.mod, its own check fails only
// on Close, and the operation deserializer only logs a Close error, so a
// damaged body that still parses is returned without an error and is not
// retried. If an SDK upgrade makes this fail, the SDK now catches it: the
// middleware's own check may then go.
func TestSDKChecksumAlone(t *testing.T) {
	body, items, _ := testPage(t)
	f := newFake(t, body, badCRC)
	out, err := f.client().Query(context.Background(), queryInput())
	if err != nil || len(out.Items) != len(items) || f.requests.Load() != 1 {
		t.Errorf("without the middleware, a bad CRC32 gave %d requests, error %v: the SDK now checks it", f.requests.Load(), err)
	}
}

// TestMiddlewareMalformed: a body malformed outside Items fails the Query
// (not retried: its CRC32 matched); malformed inside Items, the Query
// succeeds (the middleware only delimits Items) and Transcoder.Items fails
// with a *SyntaxError, so the page still fails as a whole.
func TestMiddlewareMalformed(t *testing.T) {
	for _, tc := range []struct {
		body       string
		queryFails bool
	}{
		{body: `{"Items":[{"a":{"S":"x"}}],"Count":1,"LastEvaluatedKey":{"pk":{"S":"p"}} x`, queryFails: true},
		{body: `{"Items":[{"a":{"S":"x"}}],"Count":1x}`, queryFails: true},
		{body: `{"Items":[{"a":{"S":"x"}} 1],"Count":1,"LastEvaluatedKey":{"pk":{"S":"p"}}}`},
		{body: `{"Items":[{"a":{"S":"\q"}}],"Count":1,"LastEvaluatedKey":{"pk":{"S":"p"}}}`},
		{body: `{"Items":[{"a":{"N":1}}],"Count":1,"LastEvaluatedKey":{"pk":{"S":"p"}}}`},
	} {
		f := newFake(t, []byte(tc.body), good)
		var capt query.Capture
		out, err := f.client(query.WithRawItems).Query(query.WithCapture(context.Background(), &capt), queryInput())
		if got := f.requests.Load(); got != 1 {
			t.Errorf("%s: %d requests, want 1", tc.body, got)
		}
		if tc.queryFails {
			if err == nil {
				t.Errorf("%s: Query succeeded", tc.body)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if len(out.LastEvaluatedKey) != 1 {
			t.Errorf("%s: LastEvaluatedKey %v", tc.body, out.LastEvaluatedKey)
		}
		var p lines.Page
		var se *jsonlex.SyntaxError
		if err := lines.NewTranscoder(config.Plain).Items(&p, capt.Response.Items); !errors.As(err, &se) {
			t.Errorf("%s: Items: %v, want a *SyntaxError", tc.body, err)
		}
	}
}

// TestMiddlewareOnce: the option given both on the client and per call
// installs the middleware once (twice, the outer one would capture the
// small body the inner one hands the SDK).
func TestMiddlewareOnce(t *testing.T) {
	body, items, _ := testPage(t)
	f := newFake(t, body, good)
	var c query.Capture
	out, err := f.client(query.WithRawItems).Query(query.WithCapture(context.Background(), &c), queryInput(), query.WithRawItems)
	if err != nil {
		t.Fatal(err)
	}
	if c.Attempts != 1 || int(out.Count) != len(items) || c.Response.Items == nil {
		t.Fatalf("attempts %d, Count %d, items captured %v; want 1, %d, true", c.Attempts, out.Count, c.Response.Items != nil, len(items))
	}
}

// encodeLines is the Encoder's lines for items.
func encodeLines(t *testing.T, f config.Format, items []map[string]types.AttributeValue) string {
	t.Helper()
	enc := lines.NewEncoder(f)
	var out []byte
	for _, it := range items {
		var err error
		if out, err = enc.AppendItem(out, it); err != nil {
			t.Fatal(err)
		}
		out = append(out, '\n')
	}
	return string(out)
}
