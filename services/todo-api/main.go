// Command todo-api serves the MyTodoList REST API: each signed-in user's to-dos, kept in
// DynamoDB (through DAX when configured). See README.md for its configuration.
package main

import (
	"context"
	"io"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/api"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, builds the service and serves until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.RunHandler(ctx, "todo-api", environ, stdout, api.Build)
}
