// Command welcome-mailer receives CloudEvents of new subscribers (DynamoDB Streams
// INSERTs) and sends each subscriber one welcome email through SES v2, exactly once per
// address under duplicate deliveries. See README.md for its configuration.
package main

import (
	"context"
	"io"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/api"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, builds the service and serves until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.RunHandler(ctx, "welcome-mailer", environ, stdout, api.Build)
}
