package upload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// One invocation of a resumable export: start or resume, write what time
// allows, then complete, or suspend and hand the State back.
func Example() {
	var (
		ctx        context.Context // the invocation's
		client     *s3.Client
		previous   []byte // the last invocation's State, or nil to start
		lines      [][]byte
		outOfTime  func() bool
		cleanupCtx = func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		}
	)
	t := upload.Target{Bucket: "b", Key: "exports/run.jsonl", SideKey: "exports/.run.tail", ExportID: "run-1"}
	var w *upload.Writer
	var err error
	if previous == nil {
		w, err = upload.New(ctx, client, t, upload.Options{})
	} else {
		var st upload.State
		if err = json.Unmarshal(previous, &st); err == nil {
			w, err = upload.Resume(ctx, client, t, st, upload.Options{})
		}
	}
	if err != nil {
		return // ErrExists, ErrUploadGone, *AlreadyCompleteError, ...
	}
	for _, l := range lines {
		if outOfTime() {
			st, err := w.Suspend(ctx)
			if err != nil {
				return // transient: the retry resumes from previous
			}
			next, _ := json.Marshal(st)
			fmt.Printf("continuation: %s\n", next)
			return
		}
		if _, err := w.Write(l); err != nil {
			cctx, cancel := cleanupCtx()
			defer cancel()
			_ = w.Abort(cctx)
			return
		}
	}
	obj, err := w.Close(ctx)
	if err != nil {
		cctx, cancel := cleanupCtx()
		defer cancel()
		_ = w.Abort(cctx)
		return
	}
	fmt.Println(obj.Key, obj.Size)
}
