// Package cli is the terminal front end of the manifest step: it reads an
// event (any of the three shapes) from a file or stdin, runs the same engine
// as the Lambda function (step.Handler with awsenv's clients) under a
// deadline, prints the step's output JSON on stdout and shows progress on
// stderr. --dry-run renders and validates the config and prints the Query it
// would run without making any AWS call.
//
// Exit codes: ExitOK, ExitPermanent (a PermanentStepError: fix the event,
// config or permissions), ExitTransient (a TransientStepError, an interrupt,
// or a usage error: retrying or fixing the command line may help),
// ExitNoAWS (--dry-run could not read an _s3_output_pointer its templates go
// through, for want of AWS credentials or a region).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/allma/ddb-query-to-s3-manifest/cmd/manifest-cli/internal/progress"
	"github.com/allma/ddb-query-to-s3-manifest/internal/export"
	"github.com/allma/ddb-query-to-s3-manifest/internal/metrics"
	"github.com/allma/ddb-query-to-s3-manifest/internal/step"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitPermanent = 1
	ExitTransient = 2 // also usage errors
	ExitNoAWS     = 3 // --dry-run: cannot validate without AWS access
)

// Defaults.
const (
	DefaultTimeout = 15 * time.Minute
	// MaxEventBytes is Lambda's limit on a synchronous invocation's payload.
	MaxEventBytes = 6 << 20
)

// Env is what the CLI takes from its process. main fills it from os and
// awsenv; tests fill it with buffers and fakes.
type Env struct {
	Args           []string // without the program name
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	StdinIsTTY     bool
	StderrIsTTY    bool
	// Deps builds the AWS clients. It is not called for --dry-run.
	Deps func(ctx context.Context, log *slog.Logger) (step.Deps, error)
	// Setenv sets a process environment variable (--profile, --region)
	// before Deps reads the environment.
	Setenv func(key, value string) error
}

// options are the parsed command line.
type options struct {
	dryRun   bool
	timeout  time.Duration
	progress progress.Mode
	logLevel slog.Level
	profile  string
	region   string
	event    string // a path, or "-" for stdin
	// continuation and cancel go into the event, as a state machine sends
	// them: go on from a resumable export's continuation, or give it up.
	continuation string
	cancel       bool
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

const usageText = `Usage: manifest-cli [flags] [EVENT.json | -]

Runs a DynamoDB Query into a JSON Lines manifest in S3, like the Lambda
function, with your AWS profile or the endpoints in AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_S3. The event (orchestrator
envelope, {"customConfig": ..., "context": ...}, or the bare config) is read
from the file, or from stdin when the argument is "-" or missing. The output
JSON goes to stdout; progress and errors go to stderr.

Exit status: 0 done; 1 PermanentStepError (fix the event, config or access);
2 TransientStepError, interrupted, or a usage error (retrying may help);
3 --dry-run cannot validate without AWS access (its templates read an
_s3_output_pointer from S3, and there are no credentials or no region).
A resumable export ("resumable": true) stopped by -timeout exits 0: its output
has "complete": false and a continuation, which -continue takes.

Flags:
`

// Run runs the CLI and returns the exit code. ctx ends the run early (main
// cancels it on SIGINT/SIGTERM): the export stops and its upload is aborted.
func Run(ctx context.Context, env Env) int {
	opts, err := parseArgs(env.Args, env.Stderr, env.StderrIsTTY)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		var ue *usageError
		if errors.As(err, &ue) { // the flag package has printed its own errors
			fmt.Fprintf(env.Stderr, "manifest-cli: %v\nRun manifest-cli -h for usage.\n", err)
		}
		return ExitTransient
	}
	payload, err := readEvent(opts.event, env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "manifest-cli: %v\n", err)
		return ExitTransient
	}
	ev, err := step.ParseEvent(payload)
	if err != nil {
		return fail(env.Stderr, err)
	}
	if opts.continuation != "" {
		ev.Continuation = opts.continuation
	}
	ev.Cancel = ev.Cancel || opts.cancel
	if opts.dryRun {
		return dryRun(ctx, env, opts, ev)
	}
	return run(ctx, env, opts, ev)
}

// withTimeout returns parent with the --timeout deadline, if one was given.
func withTimeout(parent context.Context, opts *options) (context.Context, context.CancelFunc) {
	if opts.timeout > 0 {
		return context.WithTimeout(parent, opts.timeout)
	}
	return context.WithCancel(parent)
}

// failRun is fail for an error of a run whose parent context may have been
// cancelled (Ctrl-C): that makes it an interrupt, whatever failed.
func failRun(parent context.Context, w io.Writer, err error) int {
	if parent.Err() != nil {
		err = &step.TransientStepError{Message: "interrupted: " + err.Error()}
	}
	return fail(w, err)
}

func parseArgs(args []string, stderr io.Writer, tty bool) (*options, error) {
	fs := flag.NewFlagSet("manifest-cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	o := &options{}
	fs.BoolVar(&o.dryRun, "dry-run", false, "render and validate the config and print the Query it would run; no AWS calls but GETs of the _s3_output_pointer objects its templates read")
	fs.DurationVar(&o.timeout, "timeout", DefaultTimeout, "deadline for the whole run (0: none): rendering stops at it, the export a margin before it, aborting the upload")
	mode := fs.String("progress", "auto", "progress on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	level := fs.String("log-level", "warn", "log level of the engine's JSON logs on stderr: debug, info, warn or error")
	fs.StringVar(&o.continuation, "continue", "", `go on from the continuation a resumable export ("resumable": true) printed when its -timeout struck`)
	fs.BoolVar(&o.cancel, "cancel", false, "with -continue: give that export up (abort its upload, delete what it wrote)")
	fs.StringVar(&o.profile, "profile", "", "AWS profile (default: AWS_PROFILE or the default profile)")
	fs.StringVar(&o.region, "region", "", "AWS region (default: AWS_REGION or the profile's)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.progress, err = progress.ParseMode(*mode, tty); err != nil {
		return nil, &usageError{"-progress: " + err.Error()}
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, &usageError{fmt.Sprintf("-log-level %q: expected debug, info, warn or error", *level)}
	}
	if o.timeout < 0 {
		return nil, &usageError{fmt.Sprintf("-timeout %s: must not be negative", o.timeout)}
	}
	switch fs.NArg() {
	case 0:
		o.event = "-"
	case 1:
		o.event = fs.Arg(0)
	default:
		msg := fmt.Sprintf("expected one event file, got %d arguments: %s", fs.NArg(), strings.Join(fs.Args(), " "))
		if slices.ContainsFunc(fs.Args()[1:], func(a string) bool { return strings.HasPrefix(a, "-") && a != "-" }) {
			msg += " (flags go before the event file)"
		}
		return nil, &usageError{msg}
	}
	return o, nil
}

// readEvent reads the event from a file or stdin, at most MaxEventBytes.
func readEvent(name string, env Env) ([]byte, error) {
	var r io.Reader
	what := name
	if name == "-" {
		if env.StdinIsTTY {
			return nil, &usageError{"no event: give an event file, or pipe the event JSON into stdin"}
		}
		r, what = env.Stdin, "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read event: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxEventBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read event from %s: %w", what, err)
	}
	if len(b) > MaxEventBytes {
		return nil, fmt.Errorf("event in %s is larger than %d bytes, Lambda's payload limit", what, MaxEventBytes)
	}
	return b, nil
}

// setAWSEnv applies --profile and --region to the environment Deps reads.
func setAWSEnv(env Env, opts *options) error {
	if opts.profile != "" {
		if err := env.Setenv("AWS_PROFILE", opts.profile); err != nil {
			return err
		}
	}
	if opts.region != "" {
		if err := env.Setenv("AWS_REGION", opts.region); err != nil {
			return err
		}
	}
	return nil
}

func run(parent context.Context, env Env, opts *options, ev *step.Event) int {
	if err := setAWSEnv(env, opts); err != nil {
		return fail(env.Stderr, err)
	}
	ctx, cancel := withTimeout(parent, opts)
	defer cancel()
	// The run id names offloaded items' objects where the Lambda function
	// uses its request id (CONTRACT.md section 5); it also tags the logs.
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: export.NewRunID()})

	log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: opts.logLevel}))
	deps, err := env.Deps(ctx, log)
	if err != nil {
		return fail(env.Stderr, &step.PermanentStepError{Message: "AWS setup: " + err.Error()})
	}
	h := step.New(deps)
	policy := h.Policy(ctx) // as in Lambda: rendering and the export stop at its margin
	wctx, stopWork := policy.Work(ctx)
	defer stopWork()
	cfg, err := h.Plan(wctx, ev)
	if err != nil {
		return failRun(parent, env.Stderr, err)
	}
	where := cfg.Query.TableName
	if cfg.Query.IndexName != "" {
		where += " index " + cfg.Query.IndexName
	}
	fmt.Fprintf(env.Stderr, "manifest-cli: query %s -> s3://%s/%s\n", where, cfg.Destination.BucketName, cfg.Destination.Key)

	rep := progress.Start(env.Stderr, progress.Options{Mode: opts.progress, Total: cfg.Query.Limit})
	deps.Export.Progress = func(p export.Progress) {
		rep.Update(progress.Stats{Items: p.Items, Bytes: p.Bytes, Pages: p.Pages, Readers: p.Readers})
	}
	// cfg is already rendered, so pointers are read once.
	start := time.Now()
	var fig metrics.Invocation
	out, err := step.New(deps).Export(ctx, policy, ev, cfg, &fig)
	if err == nil { // the final totals, whatever the last callback said
		rep.Update(progress.Stats{Items: out.ItemCount, Bytes: out.SizeBytes, Pages: rep.Stats().Pages})
		fig.Continuation = out.Continuation != ""
	}
	rep.Stop(err == nil)
	fig.Failed, fig.Duration = err != nil, time.Since(start)
	fmt.Fprintln(env.Stderr, summary(fig))
	if err != nil {
		return failRun(parent, env.Stderr, err)
	}
	if err := printJSON(env.Stdout, step.Reply(ev, out)); err != nil { // as the Lambda function replies
		fmt.Fprintf(env.Stderr, "manifest-cli: write output: %v\n", err)
		return ExitTransient
	}
	if out.Continuation != "" {
		fmt.Fprintf(env.Stderr, "manifest-cli: not complete (%d items so far); go on with: manifest-cli -continue %s %s\n",
			out.ItemCount, out.Continuation, opts.event)
	}
	return ExitOK
}

// summary is the line that ends a run on stderr: the figures the Lambda
// function publishes as metrics, by the same names (this run's share of a
// resumable export).
func summary(fig metrics.Invocation) string {
	var b strings.Builder
	b.WriteString("manifest-cli: summary:")
	for _, m := range fig.Metrics() {
		fmt.Fprintf(&b, " %s=%d", m.Name, m.Value)
	}
	return b.String()
}

// fail prints err as "Type: message" and returns its exit code.
func fail(w io.Writer, err error) int {
	err = step.Classify(err)
	var te *step.TransientStepError
	if errors.As(err, &te) {
		fmt.Fprintf(w, "TransientStepError: %s\n", te.Message)
		return ExitTransient
	}
	fmt.Fprintf(w, "PermanentStepError: %s\n", err.Error())
	return ExitPermanent
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
