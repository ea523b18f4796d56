// Command sa is the operator CLI: `sa provision` creates the project's AWS resources
// (in an account, or in moto through AWS_ENDPOINT_URL), and `sa dev` runs the whole
// local stack (what `make dev` does). See `sa --help`.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default action: a second Ctrl-C ends sa
		// at once (the children of `sa dev` die with it: internal/childproc).
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sa:", err)
		os.Exit(1)
	}
}

// run executes the command line args, writing results to stdout and diagnostics to
// stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
