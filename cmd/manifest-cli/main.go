// Command manifest-cli runs the manifest step from a terminal: the same
// engine as the Lambda function, with the user's AWS profile or the
// AWS_ENDPOINT_URL* endpoints, progress on stderr and the output JSON on
// stdout. See package cli for flags and exit codes; run it with -h.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/allma/ddb-query-to-s3-manifest/cmd/manifest-cli/internal/cli"
	"github.com/allma/ddb-query-to-s3-manifest/internal/awsenv"
)

func main() {
	// The first SIGINT/SIGTERM cancels the run (the export aborts its
	// upload); stopping the notification then lets a second one kill.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := cli.Run(ctx, cli.Env{
		Args:        os.Args[1:],
		Stdin:       os.Stdin,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		StdinIsTTY:  isTerminal(os.Stdin),
		StderrIsTTY: isTerminal(os.Stderr),
		Deps:        awsenv.Deps,
		Setenv:      os.Setenv,
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
