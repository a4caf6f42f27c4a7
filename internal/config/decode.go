package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/suggest"
)

// Known keys, in the order they are documented. A test keeps README's
// reference in sync with these lists.
var (
	TopKeys         = []string{"query", "destination", "output", "enableItemOffloading", "resumable"}
	QueryKeys       = []string{"tableName", "indexName", "keyConditionExpression", "expressionAttributeValues", "expressionAttributeNames", "filterExpression", "projectionExpression", "scanIndexForward", "consistentRead", "limit", "pageSize", "exclusiveStartKey", "parallelism"}
	DestinationKeys = []string{"bucketName", "key", "contentType", "overwrite", "serverSideEncryption", "kmsKeyId", "expectedBucketOwner"}
	OutputKeys      = []string{"format", "container"}
)

var (
	tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	tableARNRE  = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}$`)
	bucketRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{1,253}[a-zA-Z0-9]$`)
	sseValues   = []string{"AES256", "aws:kms", "aws:kms:dsse"}
	// Expression placeholders as DynamoDB accepts them.
	valuePlaceholderRE = regexp.MustCompile(`^:[A-Za-z0-9_]+$`)
	namePlaceholderRE  = regexp.MustCompile(`^#[A-Za-z0-9_]+$`)
)

// Decode validates a rendered config tree and returns the typed Config.
// Every problem is reported, one per field, as an Errors; an unknown key is
// an error that suggests the nearest valid key.
//
// raw is the config as written, before its templates were rendered. A string
// field takes a number or a boolean (as its text) only where raw holds a
// string, a template such as "{{userId}}" that produced one; a number or
// boolean written as such in a string field (contentType: true) is an error.
func Decode(tree, raw map[string]any) (*Config, error) {
	d := &decoder{raw: raw}
	cfg := &Config{Destination: Destination{ContentType: DefaultContentType, Overwrite: true}}
	d.unknown("", tree, TopKeys, nil)

	if q, ok := d.object("query", tree["query"], true); ok {
		d.query(&cfg.Query, q)
	}
	if dst, ok := d.object("destination", tree["destination"], true); ok {
		d.destination(&cfg.Destination, dst)
	}
	if out, ok := d.object("output", tree["output"], false); ok {
		d.unknown("output.", out, OutputKeys, nil)
		if s, ok := d.str("output.format", out["format"], false); ok {
			f, err := ParseFormat(s)
			if err != nil {
				d.errs.add("output.format", "%v", err)
			}
			cfg.Output.Format = f
		}
		if s, ok := d.str("output.container", out["container"], false); ok {
			c, err := ParseContainer(s)
			if err != nil {
				d.errs.add("output.container", "%v", err)
			}
			cfg.Output.Container = c
		}
	}
	if cfg.Output.Container == Array && !d.contentTypeSet {
		cfg.Destination.ContentType = ArrayContentType
	}
	if b, ok := d.boolean("enableItemOffloading", tree["enableItemOffloading"]); ok {
		cfg.EnableItemOffloading = b
	}
	if b, ok := d.boolean("resumable", tree["resumable"]); ok {
		cfg.Resumable = b
	}
	if len(d.errs) == 0 {
		d.placeholders(&cfg.Query)
	}
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return cfg, nil
}

var placeholderRE = regexp.MustCompile(`[:#][A-Za-z0-9_]+`)

// placeholders reports what DynamoDB would reject with a ValidationException
// that names no field: a placeholder used in an expression but not defined,
// or defined but used in none.
func (d *decoder) placeholders(q *Query) {
	used := map[string]bool{}
	for _, e := range []struct{ field, expr string }{
		{"query.keyConditionExpression", q.KeyConditionExpression},
		{"query.filterExpression", q.FilterExpression},
		{"query.projectionExpression", q.ProjectionExpression},
	} {
		for _, p := range placeholderRE.FindAllString(e.expr, -1) {
			used[p] = true
			_, isValue := q.ExpressionAttributeValues[p]
			_, isName := q.ExpressionAttributeNames[p]
			switch {
			case p[0] == ':' && !isValue:
				d.errs.add(e.field, "uses %s, which query.expressionAttributeValues does not define", p)
			case p[0] == '#' && !isName:
				d.errs.add(e.field, "uses %s, which query.expressionAttributeNames does not define", p)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(q.ExpressionAttributeValues)) {
		if !used[k] {
			d.errs.add("query.expressionAttributeValues."+k, "defined but used in no expression (DynamoDB rejects unused values)")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(q.ExpressionAttributeNames)) {
		if !used[k] {
			d.errs.add("query.expressionAttributeNames."+k, "defined but used in no expression (DynamoDB rejects unused names)")
		}
	}
}

type decoder struct {
	errs           Errors
	raw            map[string]any // the config before rendering
	contentTypeSet bool           // destination.contentType was given
}

// templated reports whether the config as written holds a string (a
// template) at field, a dotted path such as "destination.contentType".
func (d *decoder) templated(field string) bool {
	var v any = d.raw
	for part := range strings.SplitSeq(field, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = m[part]
	}
	_, ok := v.(string)
	return ok
}

func (d *decoder) query(q *Query, m map[string]any) {
	d.unknown("query.", m, QueryKeys, nil)
	if s, ok := d.str("query.tableName", m["tableName"], true); ok {
		if !tableNameRE.MatchString(s) && !tableARNRE.MatchString(s) {
			d.errs.add("query.tableName", "%q is not a table name (3 to 255 of a-z A-Z 0-9 _ - .) or a table ARN", s)
		}
		q.TableName = s
	}
	if s, ok := d.str("query.indexName", m["indexName"], false); ok {
		if !tableNameRE.MatchString(s) {
			d.errs.add("query.indexName", "%q is not an index name (3 to 255 of a-z A-Z 0-9 _ - .)", s)
		}
		q.IndexName = s
	}
	if s, ok := d.str("query.keyConditionExpression", m["keyConditionExpression"], true); ok {
		q.KeyConditionExpression = s
	}
	if vals, ok := d.object("query.expressionAttributeValues", m["expressionAttributeValues"], true); ok {
		if len(vals) == 0 {
			d.errs.add("query.expressionAttributeValues", "empty: the key condition needs at least one value")
		}
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			if !valuePlaceholderRE.MatchString(k) {
				d.errs.add("query.expressionAttributeValues."+k, "placeholder names are ':' then letters, digits or _ (e.g. \":pk\")")
			}
		}
		q.ExpressionAttributeValues = d.item("query.expressionAttributeValues", vals)
	}
	if names, ok := d.object("query.expressionAttributeNames", m["expressionAttributeNames"], false); ok {
		if len(names) == 0 {
			d.errs.add("query.expressionAttributeNames", "empty: leave the field out instead")
		}
		q.ExpressionAttributeNames = make(map[string]string, len(names))
		for _, k := range slices.Sorted(maps.Keys(names)) {
			field := "query.expressionAttributeNames." + k
			if !namePlaceholderRE.MatchString(k) {
				d.errs.add(field, "placeholder names are '#' then letters, digits or _ (e.g. \"#status\")")
			}
			if s, ok := d.str(field, names[k], true); ok {
				q.ExpressionAttributeNames[k] = s
			}
		}
	}
	if s, ok := d.str("query.filterExpression", m["filterExpression"], false); ok {
		q.FilterExpression = s
	}
	if s, ok := d.str("query.projectionExpression", m["projectionExpression"], false); ok {
		q.ProjectionExpression = s
	}
	if b, ok := d.boolean("query.scanIndexForward", m["scanIndexForward"]); ok {
		q.ScanIndexForward = &b
	}
	if b, ok := d.boolean("query.consistentRead", m["consistentRead"]); ok {
		q.ConsistentRead = &b
	}
	if n, ok := d.integer("query.limit", m["limit"], 1, 1<<62); ok {
		q.Limit = n
	}
	if n, ok := d.integer("query.pageSize", m["pageSize"], 1, MaxPageSize); ok {
		q.PageSize = int32(n)
	}
	q.Parallelism = d.parallelism("query.parallelism", m["parallelism"])
	if start, ok := d.object("query.exclusiveStartKey", m["exclusiveStartKey"], false); ok {
		if len(start) == 0 {
			d.errs.add("query.exclusiveStartKey", "empty: leave the field out to start at the beginning")
		} else {
			q.ExclusiveStartKey = d.item("query.exclusiveStartKey", start)
		}
	}
}

func (d *decoder) destination(dst *Destination, m map[string]any) {
	d.unknown("destination.", m, DestinationKeys, nil)
	if s, ok := d.str("destination.bucketName", m["bucketName"], true); ok {
		switch {
		case strings.HasPrefix(s, "arn:"):
			if err := checkAccessPointARN(s); err != nil {
				d.errs.add("destination.bucketName", "%q is not an S3 access point ARN (arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME): %v", s, err)
			}
		case !bucketRE.MatchString(s):
			d.errs.add("destination.bucketName", "%q is not a bucket name (3 to 255 of a-z 0-9 . - _, starting and ending with a letter or digit)", s)
		}
		dst.BucketName = s
	}
	if s, ok := d.str("destination.key", m["key"], true); ok {
		switch {
		case len(s) > MaxKeyBytes:
			d.errs.add("destination.key", "%d bytes, at most %d", len(s), MaxKeyBytes)
		case !utf8.ValidString(s):
			d.errs.add("destination.key", "not valid UTF-8")
		}
		dst.Key = s
	}
	if s, ok := d.str("destination.contentType", m["contentType"], false); ok {
		dst.ContentType = s
		d.contentTypeSet = true
	}
	if b, ok := d.boolean("destination.overwrite", m["overwrite"]); ok {
		dst.Overwrite = b
	}
	if s, ok := d.str("destination.serverSideEncryption", m["serverSideEncryption"], false); ok {
		if !slices.Contains(sseValues, s) {
			d.errs.add("destination.serverSideEncryption", "%q is not one of %s", s, strings.Join(sseValues, ", "))
		}
		dst.ServerSideEncryption = s
	}
	if s, ok := d.str("destination.kmsKeyId", m["kmsKeyId"], false); ok {
		if dst.ServerSideEncryption != "" && !strings.HasPrefix(dst.ServerSideEncryption, "aws:kms") {
			d.errs.add("destination.kmsKeyId", "given with serverSideEncryption %q; a KMS key needs \"aws:kms\" or \"aws:kms:dsse\"", dst.ServerSideEncryption)
		}
		dst.KMSKeyID = s
		if dst.ServerSideEncryption == "" {
			dst.ServerSideEncryption = "aws:kms" // a KMS key means SSE-KMS; S3 rejects the key alone
		}
	}
	if s, ok := d.str("destination.expectedBucketOwner", m["expectedBucketOwner"], false); ok {
		if len(s) != 12 || strings.Trim(s, "0123456789") != "" {
			d.errs.add("destination.expectedBucketOwner", "%q is not a 12-digit AWS account id", s)
		}
		dst.ExpectedBucketOwner = s
	}
}

// unknown reports keys of m that are neither known nor allowed.
func (d *decoder) unknown(prefix string, m map[string]any, known, allowed []string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if slices.Contains(known, k) || slices.Contains(allowed, k) {
			continue
		}
		if s := suggest.Nearest(k, known); s != "" {
			d.errs.add(prefix+k, "unknown key; did you mean %q?", s)
		} else {
			d.errs.add(prefix+k, "unknown key; expected one of %s", strings.Join(known, ", "))
		}
	}
}

// object returns v as an object. Absent (or null, when optional) gives ok false.
func (d *decoder) object(field string, v any, required bool) (map[string]any, bool) {
	switch v := v.(type) {
	case map[string]any:
		return v, true
	case nil:
		if required {
			d.errs.add(field, "required: expected an object")
		}
		return nil, false
	default:
		d.errs.add(field, "expected an object, got %s", attr.Describe(v))
		return nil, false
	}
}

// str returns v as a string. A number or boolean that a template produced
// (a whole template such as "{{userId}}") becomes its text; written as such,
// it is an error, and so is an object or array. Required strings may not be
// empty.
func (d *decoder) str(field string, v any, required bool) (string, bool) {
	var s string
	switch v := v.(type) {
	case nil:
		if required {
			d.errs.add(field, "required: expected a string")
		}
		return "", false
	case string:
		s = v
	case json.Number, bool:
		if !d.templated(field) {
			d.errs.add(field, "expected a string, got %s %s (write it in quotes if you mean the text)", attr.Describe(v), jsonText(v))
			return "", false
		}
		s = jsonText(v)
	default:
		d.errs.add(field, "expected a string, got %s", attr.Describe(v))
		return "", false
	}
	if s == "" {
		if required {
			d.errs.add(field, "required: expected a non-empty string, got \"\"")
		} else {
			d.errs.add(field, "empty string: leave the field out instead")
		}
		return "", false
	}
	return s, true
}

func (d *decoder) boolean(field string, v any) (bool, bool) {
	switch v := v.(type) {
	case nil:
		return false, false
	case bool:
		return v, true
	case string:
		// A template always yields a string unless it is one whole
		// reference; accept its two spellings.
		switch v {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		d.errs.add(field, "expected a boolean, got the string %q", v)
	default:
		d.errs.add(field, "expected a boolean, got %s", attr.Describe(v))
	}
	return false, false
}

func (d *decoder) integer(field string, v any, lo, hi int64) (int64, bool) {
	var num json.Number
	switch v := v.(type) {
	case nil:
		return 0, false
	case json.Number:
		num = v
	case string:
		num = json.Number(strings.TrimSpace(v))
	default:
		d.errs.add(field, "expected an integer, got %s", attr.Describe(v))
		return 0, false
	}
	n, err := num.Int64()
	if err != nil {
		d.errs.add(field, "expected an integer from %d to %d, got %q", lo, hi, string(num))
		return 0, false
	}
	if n < lo || n > hi {
		d.errs.add(field, "%d is out of range: expected %d to %d", n, lo, hi)
		return 0, false
	}
	return n, true
}

// parallelism reads query.parallelism: an integer from 1 to MaxParallelism,
// or "auto".
func (d *decoder) parallelism(field string, v any) Parallelism {
	if s, ok := v.(string); ok && strings.EqualFold(strings.TrimSpace(s), "auto") {
		return Parallelism{Auto: true}
	}
	if s, ok := v.(string); ok {
		if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err != nil {
			d.errs.add(field, `expected an integer from 1 to %d or "auto", got %q`, MaxParallelism, s)
			return Parallelism{}
		}
	}
	if n, ok := d.integer(field, v, 1, MaxParallelism); ok {
		return Parallelism{N: int(n)}
	}
	return Parallelism{}
}

func (d *decoder) item(field string, m map[string]any) map[string]types.AttributeValue {
	item, err := attr.ItemFromJSON(m)
	if err != nil {
		var ae *attr.Error
		if errors.As(err, &ae) {
			d.errs.add(field+ae.Path, "%s", ae.Msg)
		} else {
			d.errs.add(field, "%v", err)
		}
		return nil
	}
	return item
}

// jsonText is a number's or boolean's JSON text.
func jsonText(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return fmt.Sprint(v)
}

// accessPointRE is the resource of an access point ARN: accesspoint/NAME, or
// on Outposts outpost/ID/accesspoint/NAME.
var accessPointRE = regexp.MustCompile(`^(?:accesspoint[/:][a-zA-Z0-9.-]{1,63}|outpost[/:][a-zA-Z0-9-]{1,63}[/:]accesspoint[/:][a-zA-Z0-9-]{1,63})$`)

// checkAccessPointARN checks an ARN given as a bucket: the S3 API takes an
// access point's ARN (a multi-Region one has no region) or an Outposts
// access point's, nothing else. The SDK would only say so when the upload
// starts, after the whole query has been read.
func checkAccessPointARN(s string) error {
	a, err := arn.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case a.Service != "s3" && a.Service != "s3-outposts":
		return fmt.Errorf("service %q, want s3 or s3-outposts", a.Service)
	case len(a.AccountID) != 12 || strings.Trim(a.AccountID, "0123456789") != "":
		return fmt.Errorf("account %q, want 12 digits", a.AccountID)
	case a.Region == "" && a.Service == "s3-outposts":
		return errors.New("no region")
	case !accessPointRE.MatchString(a.Resource):
		return fmt.Errorf("resource %q, want accesspoint/NAME", a.Resource)
	}
	return nil
}
