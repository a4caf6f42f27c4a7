package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
)

// Offloading defaults (CONTRACT.md section 5).
const (
	DefaultOffloadThreshold   = 10240
	DefaultOffloadConcurrency = 8
)

// OffloadAPI is the S3 calls item offloading makes.
type OffloadAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ OffloadAPI = (*s3.Client)(nil)

// Offload writes items whose line is larger than Threshold bytes to objects
// of their own, and puts a pointer line in the manifest instead.
type Offload struct {
	API         OffloadAPI
	Bucket      string // empty: the destination bucket
	Prefix      string // key prefix, e.g. manifest_items/<flow>/<step>/<run>/
	Threshold   int    // bytes of the encoded line without its newline; 0: default
	Concurrency int    // uploads in flight; 0: default
}

// offloader uploads offloaded items concurrently (bounded) and remembers
// what it wrote, so a failed run can delete it.
type offloader struct {
	o    Offload
	dest *config.Destination
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	// attempted lists every key an upload was started for: an upload that
	// failed on our side may still have landed, so cleanup deletes them all.
	attempted []string
	written   int
	err       error
}

func newOffloader(o Offload, dest *config.Destination) *offloader {
	if o.Bucket == "" {
		o.Bucket = dest.BucketName
	}
	if o.Threshold <= 0 {
		o.Threshold = DefaultOffloadThreshold
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultOffloadConcurrency
	}
	return &offloader{o: o, dest: dest, sem: make(chan struct{}, o.Concurrency)}
}

// maybe returns line itself, or, when line is over the threshold, starts
// uploading it as object n and returns the pointer line. It returns the
// first upload error seen so far, so a failing run stops early.
func (f *offloader) maybe(ctx context.Context, line []byte, n int64) ([]byte, bool, error) {
	if len(line) <= f.o.Threshold {
		return line, false, nil
	}
	if err := f.firstErr(); err != nil {
		return nil, false, err
	}
	key := f.o.Prefix + strconv.FormatInt(n, 10) + ".json"
	body := bytes.Clone(line)
	in := objectOptions(f.dest, f.o.Bucket).put(f.o.Bucket, key, body)
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	}
	f.mu.Lock()
	f.attempted = append(f.attempted, key)
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		defer func() {
			if p := recover(); p != nil {
				f.fail(fmt.Errorf("offload goroutine panicked: %v", p))
			}
		}()
		if _, err := f.o.API.PutObject(ctx, in); err != nil {
			f.fail(fmt.Errorf("offload item %d to s3://%s/%s: %w", n, f.o.Bucket, key, err))
			return
		}
		f.mu.Lock()
		f.written++
		f.mu.Unlock()
	}()
	ptr := fmt.Appendf(nil, `{"_s3_output_pointer":{"bucket":%s,"key":%s}}`, strconv.Quote(f.o.Bucket), strconv.Quote(key))
	return ptr, true, nil
}

func (f *offloader) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *offloader) firstErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// wait waits for every upload and returns the first error.
func (f *offloader) wait() error {
	f.wg.Wait()
	return f.firstErr()
}

// deleteBatch is the most keys one DeleteObjects request takes.
const deleteBatch = 1000

// cleanup deletes what this run offloaded (every key it started an upload
// for; deleting a key that is not there succeeds), within ctx (the cleanup
// budget), and says how many objects it deleted and how many it could not.
// It deletes up to deleteBatch keys a request, so that thousands of
// objects take a few requests, not thousands.
func (f *offloader) cleanup(ctx context.Context) (deleted, failed int) {
	f.wg.Wait()
	return deleteKeys(ctx, f.o.API, f.dest, f.o.Bucket, f.attempted)
}

// cleanupAll deletes every object under the run's prefix: what this
// invocation and earlier ones of the same export offloaded.
func (f *offloader) cleanupAll(ctx context.Context) (deleted, failed int) {
	f.wg.Wait()
	return deletePrefix(ctx, f.o.API, f.dest, f.o.Bucket, f.o.Prefix)
}

// deleteKeys deletes keys from bucket, deleteBatch keys a request, and says
// how many it deleted and how many it could not.
func deleteKeys(ctx context.Context, api OffloadAPI, d *config.Destination, bucket string, keys []string) (deleted, failed int) {
	for batch := range slices.Chunk(keys, deleteBatch) {
		in := &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Quiet: aws.Bool(true)}}
		for _, k := range batch {
			in.Delete.Objects = append(in.Delete.Objects, s3types.ObjectIdentifier{Key: aws.String(k)})
		}
		if o := objectOptions(d, bucket); o.owner != "" {
			in.ExpectedBucketOwner = aws.String(o.owner)
		}
		out, err := api.DeleteObjects(ctx, in)
		if err != nil {
			failed += len(batch)
			continue
		}
		failed += len(out.Errors)
		deleted += len(batch) - len(out.Errors)
	}
	return deleted, failed
}

// errOffloadUnavailable is returned when offloading is asked for but the
// handler was built without an offload client.
var errOffloadUnavailable = errors.New("enableItemOffloading: item offloading is not configured in this deployment")
