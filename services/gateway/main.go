// Command gateway is the to-do API's edge, in API Gateway's place: it routes by a YAML
// route table, authorizes with Cognito, caches responses, throttles, and proxies to
// cluster-local upstreams. Given a CloudFront distribution document instead
// (DISTRIBUTION_FILE, as `sa provision` recorded it) it is MyBlog's local edge: it
// runs that distribution as CloudFront does (behaviours, policies, S3 origins, origin
// groups, compression). See README.md for its configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/caarlos0/env/v11"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/api"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, builds the gateway and serves until ctx
// ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.Run(ctx, "gateway", environ, stdout, func(ctx context.Context, cfg api.Config, log *slog.Logger) error {
		lookupEnv := api.LookupEnv(env.ToMap(environ))
		api.TuneRuntime(cfg, lookupEnv)
		g, err := api.Build(ctx, cfg, lookupEnv, log)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		defer g.Close()
		return api.Run(ctx, cfg, g, log)
	})
}
