package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/testenv"
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
	if o.ColdStart {
		return initUnderEmulator(ctx, stack, table, w)
	}
	return nil
}

// Items returns n of the fakes' items, with distinct sort keys, as
// AttributeValues for seeding a real table.
func Items(n int) ([]map[string]types.AttributeValue, error) {
	r := rand.New(rand.NewPCG(1, 42))
	items := make([]map[string]types.AttributeValue, n)
	var buf []byte
	for i := range items {
		buf = appendItem(buf[:0], i, 400+r.IntN(601), r)
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

// coldStart builds bootstrap as the Makefile does and reports its size.
func coldStart(ctx context.Context, o DriveOptions, w io.Writer) error {
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
	}
	fmt.Fprintln(w)
	return nil
}

var initDuration = regexp.MustCompile(`Init Duration: ([0-9.]+ ?ms)`)

// initUnderEmulator starts the bootstrap under the Runtime Interface
// Emulator, invokes it once (an export of table) and reports the Init
// Duration the emulator logs.
func initUnderEmulator(ctx context.Context, stack *testenv.Stack, table string, w io.Writer) error {
	l, err := stack.StartLambda()
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := l.Invoke(ctx, Event(table, "cold.jsonl")); err != nil {
		return err
	}
	first := time.Since(start)
	start = time.Now()
	if _, err := l.Invoke(ctx, Event(table, "warm.jsonl")); err != nil {
		return err
	}
	second := time.Since(start)
	init := "not logged"
	if m := initDuration.FindStringSubmatch(stack.Log("lambda")); m != nil {
		init = m[1]
	}
	fmt.Fprintf(w, "\nUnder the emulator (bootstrap without -s -w, as testenv builds it): Init Duration %s; first invoke %s, second %s (round trips)\n",
		init, first.Round(time.Millisecond), second.Round(time.Millisecond))
	if init == "not logged" {
		fmt.Fprintf(w, "  emulator log tail: %s\n", tail(stack.Log("lambda"), 400))
	}
	return nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
