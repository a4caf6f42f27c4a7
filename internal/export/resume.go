package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/allma/ddb-query-to-s3-manifest/internal/attr"
	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/resume"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// S3 is the S3 calls an export makes for its manifest: the writer's, and
// the tags that say what a completed manifest holds, which a retried last
// invocation reads back.
type S3 interface {
	upload.API
	upload.CopyAPI
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	PutObjectTagging(ctx context.Context, in *s3.PutObjectTaggingInput, optFns ...func(*s3.Options)) (*s3.PutObjectTaggingOutput, error)
	GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, optFns ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
}

var _ S3 = (*s3.Client)(nil)

// The tags a completed manifest carries.
const (
	tagItems     = "itemCount"
	tagOffloaded = "itemsOffloaded"
	tagTruncated = "truncated"
)

// ErrBadContinuation is a continuation that cannot be used with this
// config or this state of S3; nothing was touched.
var ErrBadContinuation = errors.New("continuation")

// resume sets the pipeline up to go on from p.opts.From: the counts, the
// query's position (or its end), and the writer, read back from S3.
func (p *pipeline) resume(target upload.Target, uopts upload.Options) (*upload.Writer, error) {
	from := p.opts.From
	var st upload.State
	if err := json.Unmarshal(from.Upload, &st); err != nil {
		return nil, fmt.Errorf("%w: its upload state: %v", ErrBadContinuation, err)
	}
	p.st.items, p.st.offloaded, p.st.pages, p.pagesBefore = from.Items, from.Offloaded, from.Pages, from.Pages
	// The query goes on after the last page written; the config is the
	// caller's, so it is copied before it changes.
	cfg := *p.cfg
	p.cfg = &cfg
	if len(from.Ranges) > 0 {
		rs, err := p.restoreRanges(from.Ranges)
		if err != nil {
			return nil, err
		}
		head := rs.order[0]
		p.position, p.headEnd = head.pos, head.done
		p.st.items -= rs.items.Load() // the pipeline counts the head's lines; each segment its own
		p.par.Store(rs)
	}
	switch {
	case len(from.Key) > 0:
		key, err := positionKey(from.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: its query position: %v", ErrBadContinuation, err)
		}
		cfg.Query.ExclusiveStartKey = key
	case from.Pages > 0:
		p.queryDone = true // an earlier invocation read the last page
	}
	if cfg.Query.Limit > 0 {
		if cfg.Query.Limit -= from.Items; cfg.Query.Limit <= 0 {
			// The limit was reached in an earlier invocation: the reply
			// says so as one invocation's would.
			p.queryDone = true
			p.qres.Truncated = cfg.Query.ExclusiveStartKey != nil
			p.qres.LastEvaluatedKey = cfg.Query.ExclusiveStartKey
		}
	}
	uopts.PartSize = 0 // the state's: a deployment may have changed the setting meanwhile
	// An uncertain Complete keeps an upload the continuation names, for
	// its retry; one created since is settled (aborted, or found complete).
	p.fromUpload, uopts.KeepOpen = st.UploadID, st.UploadID != ""
	return upload.Resume(p.upload, p.s3, target, st, uopts)
}

// suspend ends this invocation's part of a resumable export at the
// deadline margin: the lines of every page written so far go to the upload
// and the offloaded items to S3, the writer keeps its tail in a side
// object, and the result carries the continuation. The pages fetched but
// not written are read again by the next invocation.
func (p *pipeline) suspend() (*Result, error) {
	p.stopFetcher(ErrDeadline)
	if err := p.bw.Flush(); err != nil {
		return p.fail(StageUpload, err)
	}
	if p.off != nil {
		if err := p.off.wait(); err != nil {
			return p.fail(StageOffload, err)
		}
	}
	rs := p.par.Load()
	if rs != nil {
		rs.wg.Wait()
		if err := rs.suspendAll(p.upload); err != nil {
			return p.fail(StageDeadline, fmt.Errorf("%w while suspending a range's segment: %w", ErrDeadline, err))
		}
	}
	st, err := p.w.Suspend(p.upload)
	if err != nil {
		return p.fail(StageDeadline, fmt.Errorf("%w while suspending the upload: %w", ErrDeadline, err))
	}
	next := &resume.Token{Export: p.opts.RunID, Config: p.cfg.Digest, Items: p.st.items, Offloaded: p.st.offloaded, Pages: p.st.pages}
	if p.opts.From != nil {
		next.Seq = p.opts.From.Seq
	}
	next.Seq++
	if next.Upload, err = json.Marshal(st); err != nil {
		return p.fail(StageInternal, err)
	}
	switch {
	case rs != nil:
		if next.Ranges, err = rs.state(p.position, p.headEnd); err != nil {
			return p.fail(StageInternal, fmt.Errorf("key ranges: %w", err))
		}
		next.Items += rs.items.Load()
		next.Pages = p.pagesBefore + int(rs.pages.Load())
	case p.position != nil:
		if next.Key, err = lines.AppendDynamoJSON(nil, p.position); err != nil {
			return p.fail(StageInternal, fmt.Errorf("query position: %w", err))
		}
	case p.opts.From != nil && p.st.pages == p.opts.From.Pages:
		next.Key = p.opts.From.Key // no page written in this invocation
	}
	d := &p.cfg.Destination
	return &Result{Next: next, Object: upload.Object{Bucket: d.BucketName, Key: d.Key, Size: st.Size},
		Items: next.Items, Pages: next.Pages, Offloaded: p.st.offloaded}, nil
}

// tag writes what the completed manifest holds into its tags, so that a
// retry of the last invocation (whose reply was lost) can say it. The
// manifest is written: a failure here is only logged.
func (p *pipeline) tag(ctx context.Context, obj *upload.Object, res *Result) {
	tags := []s3types.Tag{
		{Key: aws.String(tagItems), Value: aws.String(strconv.FormatInt(res.Items, 10))},
		{Key: aws.String(tagOffloaded), Value: aws.String(strconv.FormatInt(res.Offloaded, 10))},
	}
	if res.Truncated {
		tags = append(tags, s3types.Tag{Key: aws.String(tagTruncated), Value: aws.String("true")})
	}
	in := &s3.PutObjectTaggingInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key), Tagging: &s3types.Tagging{TagSet: tags}}
	if obj.VersionID != "" {
		in.VersionId = aws.String(obj.VersionID)
	}
	if o := objectOptions(&p.cfg.Destination, obj.Bucket); o.owner != "" {
		in.ExpectedBucketOwner = aws.String(o.owner)
	}
	if _, err := p.s3.PutObjectTagging(ctx, in); err != nil {
		p.log.Warn("could not tag the manifest with its item count", "error", err.Error())
	}
}

// completed is the result of an export whose last invocation completed the
// upload but whose reply was lost: the object is this export's, and its
// tags say what it holds.
func (p *pipeline) completed(obj upload.Object) (*Result, error) {
	res, err := readCompleted(p.upload, p.s3, obj)
	if err != nil {
		return nil, p.newError(StageUpload, err)
	}
	p.log.Info("the manifest was completed by an earlier invocation", "items", res.Items)
	return res, nil
}

// readCompleted reads what a completed manifest holds from its tags.
func readCompleted(ctx context.Context, s3c S3, obj upload.Object) (*Result, error) {
	in := &s3.GetObjectTaggingInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)}
	if obj.VersionID != "" {
		in.VersionId = aws.String(obj.VersionID)
	}
	out, err := s3c.GetObjectTagging(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("the manifest was completed by an earlier invocation; reading its tags: %w", err)
	}
	res := &Result{Object: obj, Items: -1}
	for _, t := range out.TagSet {
		n, _ := strconv.ParseInt(aws.ToString(t.Value), 10, 64)
		switch aws.ToString(t.Key) {
		case tagItems:
			res.Items = n
		case tagOffloaded:
			res.Offloaded = n
		case tagTruncated:
			res.Truncated = true
		}
	}
	if res.Items < 0 {
		return nil, errors.New("the manifest was completed by an earlier invocation, but its itemCount tag is missing")
	}
	return res, nil
}

// sidePrefix is where an export's side objects live, beside its manifest:
// the writer's tails, and a continuation's state when it does not fit in
// a token.
func sidePrefix(d *config.Destination, exportID string) string {
	return d.Key + ".resume/" + exportID + "/"
}

// HandOn returns the continuation to hand on for next: its token, or, when
// the state does not fit in one (long keys), a token naming an object
// beside the upload that holds it.
func HandOn(ctx context.Context, s3c S3, cfg *config.Config, next *resume.Token) (string, error) {
	tok, err := next.Encode()
	if !errors.Is(err, resume.ErrTooLarge) {
		return tok, err
	}
	b, err := next.Marshal()
	if err != nil {
		return "", err
	}
	d := &cfg.Destination
	key := fmt.Sprintf("%sstate.%d.json", sidePrefix(d, next.Export), next.Seq)
	in := objectOptions(d, d.BucketName).put(d.BucketName, key, b)
	in.Tagging = aws.String(upload.SideObjectTag)
	if _, err := s3c.PutObject(ctx, in); err != nil {
		return "", fmt.Errorf("writing the continuation's state to s3://%s/%s: %w", d.BucketName, key, err)
	}
	return (&resume.Token{Export: next.Export, Config: next.Config, StateKey: key}).Encode()
}

// CompletedError is what LoadState returns when the continuation's state
// is gone because the export was completed (the last reply was lost).
type CompletedError struct{ Result *Result }

func (e *CompletedError) Error() string { return "the export was already completed" }

// LoadState returns the continuation tok stands for: tok itself, or the
// state held in the object it names. A state object that is gone is an
// export completed before (*CompletedError) or given up (ErrUploadGone).
func LoadState(ctx context.Context, s3c S3, cfg *config.Config, tok *resume.Token) (*resume.Token, error) {
	if tok.StateKey == "" {
		return tok, nil
	}
	d := &cfg.Destination
	if !strings.HasPrefix(tok.StateKey, sidePrefix(d, tok.Export)) {
		return nil, fmt.Errorf("%w: it names a state object that is not this export's", ErrBadContinuation)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(d.BucketName), Key: aws.String(tok.StateKey)}
	if o := objectOptions(d, d.BucketName); o.owner != "" {
		in.ExpectedBucketOwner = aws.String(o.owner)
	}
	out, err := s3c.GetObject(ctx, in)
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) || isCode(err, "NoSuchKey") {
		return nil, gone(ctx, s3c, d, tok.Export)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the continuation's state from s3://%s/%s: %w", d.BucketName, tok.StateKey, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the continuation's state from s3://%s/%s: %w", d.BucketName, tok.StateKey, err)
	}
	full, err := resume.Unmarshal(b)
	if err != nil || full.Export != tok.Export || full.Config != tok.Config || full.StateKey != "" {
		return nil, fmt.Errorf("%w: its state object s3://%s/%s does not match it", ErrBadContinuation, d.BucketName, tok.StateKey)
	}
	return full, nil
}

// gone explains a continuation whose state object is gone: the manifest
// at the key is this export's (completed), or the export was given up.
func gone(ctx context.Context, s3c S3, d *config.Destination, exportID string) error {
	obj, ours, err := upload.Lookup(ctx, s3c, manifestTarget(d, exportID), exportID)
	switch {
	case err != nil:
		return fmt.Errorf("checking whether the export was completed: %w", err)
	case ours:
		res, err := readCompleted(ctx, s3c, *obj)
		if err != nil {
			return err
		}
		return &CompletedError{Result: res}
	}
	return fmt.Errorf("%w (its state object is gone)", upload.ErrUploadGone)
}

// dropStates deletes the continuation state objects of the export, if
// any were written; a failure is only logged by the caller.
func dropStates(ctx context.Context, s3c S3, d *config.Destination, exportID string) error {
	prefix := sidePrefix(d, exportID) + "state."
	in := &s3.ListObjectsV2Input{Bucket: aws.String(d.BucketName), Prefix: aws.String(prefix)}
	if o := objectOptions(d, d.BucketName); o.owner != "" {
		in.ExpectedBucketOwner = aws.String(o.owner)
	}
	out, err := s3c.ListObjectsV2(ctx, in)
	if err != nil || len(out.Contents) == 0 {
		return err
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	if _, failed := deleteKeys(ctx, s3c, d, d.BucketName, keys); failed > 0 {
		return fmt.Errorf("%d continuation state objects under s3://%s/%s could not be deleted", failed, d.BucketName, prefix)
	}
	return nil
}

func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// Cancelled is what Cancel removed.
type Cancelled struct {
	Items                       int64 // lines the export had written
	OffloadDeleted, OffloadLeft int
	// Completed, when set, is an export its last invocation completed
	// (its reply was lost): nothing was removed.
	Completed *Result
}

// Cancel gives up the resumable export from describes: it aborts the
// upload, deletes the writer's side objects and every item the export
// offloaded (under off.Prefix). A second Cancel of the same continuation
// finds nothing left and succeeds. An object the export already completed
// is left alone. ctx is a cleanup context.
func Cancel(ctx context.Context, s3c S3, off Offload, cfg *config.Config, from *resume.Token) (*Cancelled, error) {
	var st upload.State
	if err := json.Unmarshal(from.Upload, &st); err != nil {
		return nil, fmt.Errorf("%w: its upload state: %v", ErrBadContinuation, err)
	}
	// A manifest the export completed stays, with what it points to.
	var done *CompletedError
	switch err := gone(ctx, s3c, &cfg.Destination, from.Export); {
	case errors.As(err, &done):
		return &Cancelled{Completed: done.Result}, nil
	case !errors.Is(err, upload.ErrUploadGone):
		return nil, err
	}
	if err := upload.Cancel(ctx, s3c, manifestTarget(&cfg.Destination, from.Export), st); err != nil {
		return nil, err
	}
	if err := cancelSegments(ctx, s3c, cfg, from.Export, from.Ranges); err != nil {
		return nil, err
	}
	c := &Cancelled{Items: from.Items}
	if cfg.EnableItemOffloading && off.API != nil {
		if off.Bucket == "" {
			off.Bucket = cfg.Destination.BucketName
		}
		c.OffloadDeleted, c.OffloadLeft = deletePrefix(ctx, off.API, &cfg.Destination, off.Bucket, off.Prefix)
	}
	if c.OffloadLeft == 0 {
		// Last: a cancel that must be sent again still finds its state.
		if err := dropStates(ctx, s3c, &cfg.Destination, from.Export); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// deletePrefix deletes every object under prefix in bucket, a page of keys
// (at most 1,000) a request, and says how many it deleted and could not.
func deletePrefix(ctx context.Context, api OffloadAPI, d *config.Destination, bucket, prefix string) (deleted, failed int) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if o := objectOptions(d, bucket); o.owner != "" {
		in.ExpectedBucketOwner = aws.String(o.owner)
	}
	for {
		out, err := api.ListObjectsV2(ctx, in)
		if err != nil {
			return deleted, failed + 1
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		dn, fn := deleteKeys(ctx, api, d, bucket, keys)
		deleted, failed = deleted+dn, failed+fn
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return deleted, failed
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// positionKey decodes a continuation's query position (DynamoDB JSON).
func positionKey(b json.RawMessage) (map[string]types.AttributeValue, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return attr.ItemFromJSON(m)
}
