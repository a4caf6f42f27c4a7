package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/attrtest"
	"github.com/allma/ddb-query-to-s3-manifest/internal/testkit/testenv"
)

// driveE2E exports o.E2EItems items from dynalite to versitygw with the
// whole handler in a child process. dynalite serves about 50 MB/s at best,
// so this figure says little about our own cost: it is reported apart.
func driveE2E(ctx context.Context, o DriveOptions, w io.Writer) error {
	stack, err := testenv.Start()
	if err != nil {
		return err
	}
	defer stack.Stop()
	table := testenv.Name("bench")
	if err := stack.CreateTable(ctx, testenv.Table{Name: table, HashKey: "PK", RangeKey: "SK"}); err != nil {
		return err
	}
	if err := stack.CreateBucket(ctx, Bucket, false); err != nil {
		return err
	}
	items, err := Items(o.E2EItems)
	if err != nil {
		return err
	}
	seedStart := time.Now()
	if err := stack.PutItems(ctx, table, items); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nEnd to end, dynalite + versitygw (seeded %d items in %s):\n", len(items), time.Since(seedStart).Round(time.Millisecond))
	env := append(stack.Env(), "AWS_PROFILE=", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_EC2_METADATA_DISABLED=true")
	fig, err := o.Spawner.Run(ctx, Job{Mode: "export", Table: table, Key: "e2e.jsonl"}, env)
	if err != nil {
		return err
	}
	WriteHeader(w)
	WriteRow(w, Row{Name: "export dynalite+versitygw", Items: fig.Items, Out: fig.Out, Wall: fig.Wall, CPU: fig.CPU, Mallocs: fig.Mallocs, PeakRSS: fig.PeakRSS})
	fmt.Fprintf(w, "  (out MB/s %.1f; in MB/s and CPU s/GB need the fake's byte count and are left blank)\n", float64(fig.Out)/1e6/fig.Wall.Seconds())
	return nil
}

// Items returns n of the fakes' items, with distinct sort keys, as
// AttributeValues for seeding a real table.
func Items(n int) ([]map[string]types.AttributeValue, error) {
	r := rand.New(rand.NewPCG(1, 42))
	items := make([]map[string]types.AttributeValue, n)
	var buf []byte
	for i := range items {
		buf = attrtest.AppendItem(buf[:0], i, 400+r.IntN(601), r)
		var m map[string]any
		err := json.Unmarshal(buf, &m)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if items[i], err = attributes(m); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return items, nil
}

// attributes converts an item (or an M's value) in DynamoDB JSON, as far as
// the types appendItem writes.
func attributes(v map[string]any) (map[string]types.AttributeValue, error) {
	m := make(map[string]types.AttributeValue, len(v))
	for k, x := range v {
		o, ok := x.(map[string]any)
		if !ok || len(o) != 1 {
			return nil, fmt.Errorf("%s: not an attribute value", k)
		}
		av, err := value(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		m[k] = av
	}
	return m, nil
}

// value converts one attribute value {"<type>": ...}.
func value(v map[string]any) (types.AttributeValue, error) {
	for t, x := range v {
		switch t {
		case "S":
			return &types.AttributeValueMemberS{Value: x.(string)}, nil
		case "N":
			return &types.AttributeValueMemberN{Value: x.(string)}, nil
		case "BOOL":
			return &types.AttributeValueMemberBOOL{Value: x.(bool)}, nil
		case "NULL":
			return &types.AttributeValueMemberNULL{Value: true}, nil
		case "SS":
			var ss []string
			for _, s := range x.([]any) {
				ss = append(ss, s.(string))
			}
			return &types.AttributeValueMemberSS{Value: ss}, nil
		case "L":
			var l []types.AttributeValue
			for _, e := range x.([]any) {
				av, err := value(e.(map[string]any))
				if err != nil {
					return nil, err
				}
				l = append(l, av)
			}
			return &types.AttributeValueMemberL{Value: l}, nil
		case "M":
			m, err := attributes(x.(map[string]any))
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberM{Value: m}, nil
		default:
			return nil, fmt.Errorf("type %s not handled", t)
		}
	}
	return nil, fmt.Errorf("empty attribute value")
}

// coldStart builds bootstrap as the Makefile does and reports its size and,
// for the host architecture, its init time.
// env is the environment the function's init reads (the fakes' endpoints:
// no call is made before the first invocation).
func coldStart(ctx context.Context, o DriveOptions, env []string, w io.Writer) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	for _, arch := range []string{"arm64", "amd64"} {
		out := filepath.Join(o.Dir, "bootstrap-"+arch)
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/manifest")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, b)
		}
		st, err := os.Stat(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nbootstrap linux/%s (CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags '-s -w'): %.1f MiB (%d bytes)", arch, float64(st.Size())/(1<<20), st.Size())
		if arch != runtime.GOARCH || runtime.GOOS != "linux" {
			continue
		}
		var times []time.Duration
		for range 7 {
			d, err := initTime(ctx, out, env)
			if err != nil {
				return err
			}
			times = append(times, d)
		}
		slices.Sort(times)
		fmt.Fprintf(w, "; init (exec to first Runtime API poll, 7 runs): median %s, min %s, max %s",
			times[len(times)/2].Round(10*time.Microsecond), times[0].Round(10*time.Microsecond), times[len(times)-1].Round(10*time.Microsecond))
	}
	fmt.Fprintln(w)
	return nil
}

// initTime runs bootstrap against a minimal Lambda Runtime API, as the
// emulator serves it, and returns how long the process took from exec to
// its first GET .../invocation/next: Go's start-up, awsenv.Deps (clients,
// environment) and lambda.Start. The emulator's own "Init Duration" is not
// measured from exec and reads near zero, so this is what we report.
func initTime(ctx context.Context, bootstrap string, env []string) (time.Duration, error) {
	ready := make(chan time.Time, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			select {
			case ready <- time.Now():
			default:
			}
			<-r.Context().Done() // no invocation: hold the poll until the process is stopped
		}
	}))
	defer api.Close()
	cmd := exec.CommandContext(ctx, bootstrap)
	cmd.Env = append(append(os.Environ(), env...), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_NAME=bench", "_HANDLER=bootstrap")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	select {
	case t := <-ready:
		return t.Sub(start), nil
	case <-time.After(30 * time.Second):
		return 0, errors.New("bootstrap did not poll the Runtime API within 30s")
	}
}
