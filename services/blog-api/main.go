// Command blog-api serves the MyBlog REST API: posts (public reads, admin writes),
// subscribers and photos, kept in the DynamoDB replicas of its own region. See README.md
// for its configuration.
package main

import (
	"context"
	"io"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/api"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, builds the service and serves until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.RunHandler(ctx, "blog-api", environ, stdout, api.Build)
}
