// Command todo is the MyTodoList client: it does from a terminal what the mobile app
// does (sign up, sign in with Cognito, manage to-dos through the API). See
// `todo --help`; the logic lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
