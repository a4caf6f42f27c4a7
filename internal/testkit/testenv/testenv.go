// Package testenv starts and stops the local stack that integration tests
// talk to: dynalite (DynamoDB), versitygw (S3) and the Lambda Runtime
// Interface Emulator running the real bootstrap binary. Everything listens
// on 127.0.0.1 only and is stopped by process group.
//
// Tests call Start from TestMain (or once per package) and Stop when done.
// When a server is missing, Require skips the test locally but fails it in
// CI (CI non-empty), so a broken CI setup can never pass by skipping.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials and region the stack uses.
const (
	Region    = "us-east-1"
	AccessKey = "AKIALOCALSTACKTEST01"
	SecretKey = "local-stack-secret-key-for-tests-only"
)

// Stack is a running dynalite and versitygw.
type Stack struct {
	Root             string // repository root
	Dir              string // scratch directory for the servers' data and logs
	DynamoDBEndpoint string
	S3Endpoint       string
	procs            []*exec.Cmd
	lambdas          int // functions started (StartLambda)
}

// ErrMissing reports a server binary that is not installed.
var ErrMissing = errors.New("not installed")

// Main runs a test binary's tests with a stack started for them: started
// gets the stack (or the error Require reports), then the tests run, then
// the stack stops. Call it from TestMain.
func Main(m *testing.M, started func(*Stack, error)) {
	s, err := Start()
	started(s, err)
	code := m.Run()
	if s != nil {
		s.Stop()
	}
	os.Exit(code)
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Binary finds a Go-installed tool on PATH or in GOPATH/bin.
func Binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s: %w (run .ci/run or make tools)", name, ErrMissing)
}

// lockPorts serialises, across the test binaries of one `go test ./...`
// (each package's runs in a process of its own), choosing free ports and
// starting the servers that listen on them: FreePort's port is free only
// until someone binds it, and without the lock two packages' stacks could
// pick the same one, one server failing to bind and its tests talking to
// the other package's server until that one stops. It returns the unlock.
// Without the lock file (a read-only temp dir) it does nothing.
func lockPorts() func() {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "ddb-query-to-s3-manifest-ports.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// Start starts dynalite and versitygw on free ports of 127.0.0.1.
func Start() (*Stack, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "manifest-stack-")
	if err != nil {
		return nil, err
	}
	s := &Stack{Root: root, Dir: dir}
	defer lockPorts()()
	if err := s.startDynalite(); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.startVersity(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Stack) startDynalite() error {
	cli := filepath.Join(s.Root, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return fmt.Errorf("dynalite: %w (run npm ci)", ErrMissing)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node: %w", ErrMissing)
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := s.spawn("dynalite", nil, node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"); err != nil {
		return err
	}
	s.DynamoDBEndpoint = "http://" + addr
	return WaitTCP(addr, 20*time.Second)
}

func (s *Stack) startVersity() error {
	bin, err := Binary("versitygw")
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	data, versions := filepath.Join(s.Dir, "s3"), filepath.Join(s.Dir, "s3versions")
	for _, d := range []string{data, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := []string{"ROOT_ACCESS_KEY=" + AccessKey, "ROOT_SECRET_KEY=" + SecretKey}
	if err := s.spawn("versitygw", env, bin, "--port", addr, "--quiet", "posix", "--versioning-dir", versions, data); err != nil {
		return err
	}
	s.S3Endpoint = "http://" + addr
	return WaitTCP(addr, 20*time.Second)
}

// spawn starts a server in its own process group, logging to Dir/name.log.
func (s *Stack) spawn(name string, env []string, bin string, args ...string) error {
	logf, err := os.Create(filepath.Join(s.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	return nil
}

// Log returns what a server wrote to its log, for failure messages.
func (s *Stack) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name+".log"))
	return string(b)
}

// Stop kills every server and removes the scratch directory.
func (s *Stack) Stop() {
	for _, c := range s.procs {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			_, _ = c.Process.Wait()
		}
	}
	s.procs = nil
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
}

// Env is the environment a function process needs to reach the stack.
func (s *Stack) Env() []string {
	return []string{
		"AWS_REGION=" + Region, "AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoDBEndpoint, "AWS_ENDPOINT_URL_S3=" + s.S3Endpoint,
	}
}

// AWSConfig is an SDK config pointed at the stack.
func (s *Stack) AWSConfig(ctx context.Context) aws.Config {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")))
	if err != nil {
		panic(err) // only bad environment can cause it; tests cannot go on
	}
	return cfg
}

// DynamoDB is a client for dynalite.
func (s *Stack) DynamoDB(ctx context.Context) *dynamodb.Client {
	return dynamodb.NewFromConfig(s.AWSConfig(ctx), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(s.DynamoDBEndpoint)
	})
}

// S3 is a path-style client for versitygw.
func (s *Stack) S3(ctx context.Context) *s3.Client {
	return s3.NewFromConfig(s.AWSConfig(ctx), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.S3Endpoint)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// Require skips t when err says the stack is missing, except in CI, where
// it fails t: a CI run must never pass by skipping its integration tests.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "" && errors.Is(err, ErrMissing) {
		t.Skipf("local stack unavailable: %v", err)
	}
	t.Fatalf("local stack: %v", err)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Lambda is the Runtime Interface Emulator running the real bootstrap. It
// takes one invocation at a time (the emulator crashes on two), so Invoke
// serialises calls.
type Lambda struct {
	Endpoint string // http://127.0.0.1:P, for aws lambda invoke --endpoint-url
	cmd      *exec.Cmd
	mu       sync.Mutex
	log      string // the emulator's and the function's output
}

// Log returns what the emulator and the function (its stdout: logs and
// metrics records) have written so far.
func (l *Lambda) Log() string {
	b, _ := os.ReadFile(l.log)
	return string(b)
}

// BuildBootstrap builds cmd/manifest as a static linux binary into dir.
func BuildBootstrap(root, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./cmd/manifest")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bootstrap: %v\n%s", err, b)
	}
	return out, nil
}

// StartLambda builds the bootstrap and runs it under the emulator with the
// stack's environment plus extra (e.g. AWS_LAMBDA_FUNCTION_TIMEOUT=30).
func (s *Stack) StartLambda(extra ...string) (*Lambda, error) {
	rie, err := Binary("aws-lambda-rie")
	if err != nil {
		return nil, err
	}
	bootstrap, err := BuildBootstrap(s.Root, s.Dir)
	if err != nil {
		return nil, err
	}
	defer lockPorts()()
	p1, err := FreePort()
	if err != nil {
		return nil, err
	}
	p2, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", p1)
	env := append(s.Env(), "AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "LOG_LEVEL=warn")
	env = append(env, extra...)
	// The first function logs to "lambda" (Log("lambda")), later ones to
	// files of their own, so that each Lambda's Log is its own.
	name := "lambda"
	if s.lambdas++; s.lambdas > 1 {
		name = fmt.Sprintf("lambda-%d", s.lambdas)
	}
	if err := s.spawn(name, env, rie, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", p2), bootstrap); err != nil {
		return nil, err
	}
	l := &Lambda{Endpoint: "http://" + addr, cmd: s.procs[len(s.procs)-1], log: filepath.Join(s.Dir, name+".log")}
	return l, WaitTCP(addr, 20*time.Second)
}

// Invoke sends payload to the function over the emulator's HTTP API and
// returns the response body and whether the function reported an error
// (X-Amz-Function-Error, or an errorType in the body).
func (l *Lambda) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.Endpoint+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("invoke: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// Lock serialises other ways of invoking (aws lambda invoke) with Invoke.
func (l *Lambda) Lock() func() {
	l.mu.Lock()
	return l.mu.Unlock
}
