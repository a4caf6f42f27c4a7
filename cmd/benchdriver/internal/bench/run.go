package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/allma/ddb-query-to-s3-manifest/internal/awsenv"
	"github.com/allma/ddb-query-to-s3-manifest/internal/query"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// Bucket is the bucket the benchmarks write to; the fake S3 accepts any.
const Bucket = "bench-bucket"

// Fakes is a running fake DynamoDB and fake S3. Close stops both.
type Fakes struct {
	DynamoDB *DynamoDB
	S3       *S3
	caFile   string // PEM of the fakes' certificate, when over TLS
}

// StartFakes starts both fakes, over TLS when useTLS. Over TLS it writes the
// servers' certificate to a file in dir for AWS_CA_BUNDLE.
func StartFakes(useTLS bool, dir string) (*Fakes, error) {
	f := &Fakes{DynamoDB: NewDynamoDB(useTLS, 0), S3: NewS3(useTLS, 0)}
	if useTLS {
		f.caFile = filepath.Join(dir, "bench-ca.pem")
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.DynamoDB.srv.Certificate().Raw})
		if err := os.WriteFile(f.caFile, cert, 0o600); err != nil {
			f.Close()
			return nil, fmt.Errorf("write CA bundle: %w", err)
		}
	}
	return f, nil
}

// Close stops the fakes.
func (f *Fakes) Close() {
	f.DynamoDB.Close()
	f.S3.Close()
}

// Env is the environment under which awsenv.Deps builds clients that talk
// to the fakes, with the MANIFEST_* settings left at their defaults unless
// the caller's environment sets them.
func (f *Fakes) Env() []string {
	env := []string{
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIABENCHBENCHBENCH0", "AWS_SECRET_ACCESS_KEY=bench-secret",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_DYNAMODB=" + f.DynamoDB.URL(), "AWS_ENDPOINT_URL_S3=" + f.S3.URL(),
	}
	if f.caFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+f.caFile)
	}
	return env
}

// Setenv applies env (KEY=value pairs) with set, such as os.Setenv or a
// testing.TB's Setenv.
func Setenv(env []string, set func(k, v string)) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
}

// Deps builds the handler's dependencies exactly as the function does
// (awsenv.Deps), from the process environment, without logs.
func Deps(ctx context.Context) (step.Deps, error) {
	return awsenv.Deps(ctx, nil)
}

// Event is a direct-shape event exporting table's partition TENANT#bench to
// Bucket/key, with query.parallelism set to parallelism (an integer or
// "auto") unless it is empty.
func Event(table, key, parallelism string) []byte {
	q := map[string]any{
		"tableName":                 table,
		"keyConditionExpression":    "PK = :pk",
		"expressionAttributeValues": map[string]any{":pk": "TENANT#{{tenant}}"},
	}
	if n, err := strconv.Atoi(parallelism); err == nil {
		q["parallelism"] = n
	} else if parallelism != "" {
		q["parallelism"] = parallelism
	}
	ev := map[string]any{
		"customConfig": map[string]any{
			"query":       q,
			"destination": map[string]any{"bucketName": Bucket, "key": key, "overwrite": true},
		},
		"context": map[string]any{"tenant": "bench"},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // a literal map of strings always marshals
	}
	return b
}

// Reply is the part of the handler's reply the benchmarks check.
type Reply struct {
	ItemCount int64 `json:"itemCount"`
	SizeBytes int64 `json:"sizeBytes"`
}

// Export invokes h with Event(table, key, parallelism) and returns its reply.
func Export(ctx context.Context, h *step.Handler, table, key, parallelism string) (Reply, error) {
	out, err := h.Invoke(ctx, Event(table, key, parallelism))
	if err != nil {
		return Reply{}, fmt.Errorf("export %s: %w", table, err)
	}
	var r Reply
	if err := json.Unmarshal(out, &r); err != nil {
		return Reply{}, fmt.Errorf("export %s: reply %s: %w", table, out, err)
	}
	return r, nil
}

// FloorResult is what the floor read.
type FloorResult struct {
	Pages int
	Bytes int64 // response bytes checked with json.Valid
}

// Floor pages through table's partition TENANT#bench with db (the
// handler's own client), paging on LastEvaluatedKey, and does the least any export must
// do with each response: the SDK signs, sends, retries and checks the
// CRC32, then a deserialize middleware reads the whole body, runs
// json.Valid over it and hands the SDK only the LastEvaluatedKey, so no
// item is decoded.
func Floor(ctx context.Context, db query.API, table string) (FloorResult, error) {
	return floor(ctx, db, table, true)
}

// floor is Floor, validating each body with json.Valid when validate.
func floor(ctx context.Context, db query.API, table string, validate bool) (FloorResult, error) {
	var res FloorResult
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "TENANT#bench"}},
	}
	api := floorAPI{db, &res.Bytes, validate}
	for {
		out, err := api.Query(ctx, in)
		if err != nil {
			return res, fmt.Errorf("floor: page %d: %w", res.Pages+1, err)
		}
		res.Pages++
		if len(out.LastEvaluatedKey) == 0 {
			return res, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// floorAPI adds floorMiddleware to every Query.
type floorAPI struct {
	api      query.API
	bytes    *int64
	validate bool
}

func (f floorAPI) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	add := func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			// Just inside the operation deserializer: the body we read is
			// already wrapped by the CRC32 check, which runs on Close.
			return s.Deserialize.Insert(&floorMiddleware{bytes: f.bytes, validate: f.validate}, "OperationDeserializer", middleware.After)
		})
	}
	return f.api.Query(ctx, in, append(optFns, add)...)
}

// floorMiddleware reads a Query response body whole, validates it and
// replaces it with just its LastEvaluatedKey.
type floorMiddleware struct {
	bytes    *int64
	validate bool
}

func (*floorMiddleware) ID() string { return "BenchFloor" }

func (m *floorMiddleware) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode != 200 {
		return out, md, err // errors go to the SDK's own deserializer
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr // the CRC32 check
	}
	if err != nil {
		return out, md, fmt.Errorf("floor: read Query response: %w", err)
	}
	if m.validate && !json.Valid(body) {
		return out, md, errors.New("floor: Query response is not valid JSON")
	}
	*m.bytes += int64(len(body))
	resp.Body = io.NopCloser(bytes.NewReader(lastKeyOnly(body)))
	return out, md, nil
}

// lastKeyOnly returns {"LastEvaluatedKey":...} cut from a valid Query
// response, or {} when it has none.
func lastKeyOnly(body []byte) []byte {
	const name = `"LastEvaluatedKey":`
	i := bytes.LastIndex(body, []byte(name))
	if i < 0 {
		return []byte("{}")
	}
	var key json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body[i+len(name):])).Decode(&key); err != nil {
		return []byte("{}")
	}
	return append(append([]byte(`{"LastEvaluatedKey":`), key...), '}')
}

// newHandler is step.New, kept in one place so every caller builds it alike.
func newHandler(d step.Deps) *step.Handler { return step.New(d) }
