package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/crc64nvme"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/s3mem"
)

// segment writes b to key with its own Writer and returns it as a Source.
func segment(t testing.TB, api API, bucket, key string, b []byte) Source {
	t.Helper()
	ctx := context.Background()
	w, err := New(ctx, api, Target{Bucket: bucket, Key: key, Overwrite: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, b)
	obj, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Bucket: bucket, Key: key, VersionID: obj.VersionID, Size: obj.Size, ChecksumCRC64NVME: obj.ChecksumCRC64NVME}
}

// checkParts fails t unless the upload's parts are 1..N, consecutive, and
// all but the last at least MinPartSize.
func checkParts(t testing.TB, api API, bucket, key, uploadID string) {
	t.Helper()
	out, err := api.ListParts(context.Background(), &s3.ListPartsInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
	})
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	var sizes []int64
	for i, p := range out.Parts {
		sizes = append(sizes, aws.ToInt64(p.Size))
		if aws.ToInt32(p.PartNumber) != int32(i+1) {
			t.Errorf("part %d at place %d", aws.ToInt32(p.PartNumber), i+1)
		}
		if i < len(out.Parts)-1 && aws.ToInt64(p.Size) < MinPartSize {
			t.Errorf("part %d of %d has %d bytes", i+1, len(out.Parts), aws.ToInt64(p.Size))
		}
	}
	t.Logf("part sizes before the last %v", sizes)
}

type appendCase struct {
	name     string
	head     int
	segments []int
	between  int  // bytes written after each Append
	ranged   bool // a stretch is copied from inside a segment (topped-up part)
}

var appendCases = []appendCase{
	{"no head, small segments", 0, []int{0, 1, 1000}, 0, false},
	{"whole segments copied", 2 * ps, []int{ps, 12 << 20, 6<<20 + 1, 3}, 0, false},
	{"exact parts", ps, []int{ps, ps}, 0, false},
	{"short head topped up", 100, []int{ps, 12 << 20, 3}, 0, true},
	{"head of a part and more", ps + 7, []int{ps, 1, ps - 1, 12 << 20}, 0, true},
	{"writes between", 10, []int{2 * ps, 0, ps + 1}, 4099, true},
}

// runAppend writes tc through api: a head, then segments written by other
// Writers and appended. It returns what the object must hold, and Append's
// first error.
func runAppend(t *testing.T, api API, bucket, key string, tc appendCase) (*Writer, []byte, error) {
	ctx := context.Background()
	rec := &recorder{API: api}
	// The parts are looked at when they have all landed: at Complete.
	rec.complete = func(ctx context.Context, in *s3.CompleteMultipartUploadInput) (*s3.CompleteMultipartUploadOutput, error) {
		checkParts(t, api, bucket, key, aws.ToString(in.UploadId))
		return api.CompleteMultipartUpload(ctx, in)
	}
	w, err := New(ctx, rec, Target{Bucket: bucket, Key: key}, Options{PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	head := data(tc.head, 1)
	writeAll(t, w, head)
	want.Write(head)
	for i, n := range tc.segments {
		b := data(n, byte(10+i))
		src := segment(t, api, bucket, fmt.Sprintf("seg/%s/%d", tc.name, i), b)
		gets := rec.count("GetObject")
		if err := w.Append(ctx, src); err != nil {
			return w, nil, err
		}
		// At most a top-up and a short rest are read.
		if g := rec.count("GetObject") - gets; g > 2 {
			t.Errorf("Append of %d bytes made %d GetObject calls", n, g)
		}
		want.Write(b)
		more := data(tc.between, byte(50+i))
		writeAll(t, w, more)
		want.Write(more)
	}
	t.Logf("%d UploadPart, %d UploadPartCopy, %d GetObject", rec.count("UploadPart"), rec.count("UploadPartCopy"), rec.count("GetObject"))
	return w, want.Bytes(), nil
}

// checkAppended fails t unless key holds want, with the CRC S3 accepted.
func checkAppended(t *testing.T, api API, bucket, key string, obj *Object, want []byte) {
	ctx := context.Background()
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("object of %d bytes differs from the concatenation of %d from byte %d", len(got), len(want), i)
	}
	crc := crc64nvme.Encode(crc64nvme.Checksum(want))
	if obj.ChecksumCRC64NVME != crc || obj.Size != int64(len(want)) {
		t.Errorf("Close = %+v, want %d bytes with CRC %s", obj, len(want), crc)
	}
	head, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC64NVME) != crc {
		t.Errorf("HeadObject CRC = %v, %v; want %s", head, err, crc)
	}
}

// TestAppend (versitygw): the object is the head and the segments
// concatenated, byte for byte, as parts 1..N of at least MinPartSize but
// the last, with the full-object CRC S3 checked at Complete. versitygw
// answers a ranged UploadPartCopy with the whole source's CRC (and keeps
// it for the part): Append then reads those bytes and sends them itself,
// and the object still reads back with its checksum checked.
func TestAppend(t *testing.T) {
	t.Parallel()
	bucket := newBucket(t)
	c := s3Client(t)
	for _, tc := range appendCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			key := "m/" + tc.name
			w, want, err := runAppend(t, c, bucket, key, tc)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := w.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
			checkAppended(t, c, bucket, key, obj, want)
		})
	}
	checkNoUploads(t, bucket)
}

// TestAppendMem: every case, ranged copies included, against s3mem, which
// computes a copied range's CRC as S3 does and checks the whole object's at
// Complete.
func TestAppendMem(t *testing.T) {
	t.Parallel()
	for _, tc := range appendCases {
		t.Run(tc.name, func(t *testing.T) {
			mem := &s3mem.S3{}
			w, want, err := runAppend(t, mem, "b", "m", tc)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := w.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			checkAppended(t, mem, "b", "m", obj, want)
			if len(mem.Uploads()) > 0 {
				t.Errorf("uploads left: %v", mem.Uploads())
			}
		})
	}
}

// TestAppendResumed: Append goes on after Suspend and Resume (the State
// carries parts of any size), and refuses a Writer with Options.Hash.
func TestAppendResumed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := &s3mem.S3{}
	tg := Target{Bucket: "b", Key: "m", SideKey: "m.side"}
	w, err := New(ctx, mem, tg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i, n := range []int{100, 7 << 20, 3} {
		b := data(n, byte(i))
		if err := w.Append(ctx, segment(t, mem, "b", fmt.Sprint("seg", i), b)); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
		st, err := w.Suspend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if w, err = Resume(ctx, mem, tg, st, Options{}); err != nil {
			t.Fatalf("Resume from %+v: %v", st, err)
		}
	}
	obj, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkAppended(t, mem, "b", "m", obj, want)

	h, err := New(ctx, mem, Target{Bucket: "b", Key: "h", Overwrite: true}, Options{Hash: crc64nvme.New()})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Append(ctx, Source{Bucket: "b", Key: "seg0", Size: 100})
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("Append with Options.Hash = %v, want an *Error", err)
	}
	mentions(t, err, "Options.Hash")
}
