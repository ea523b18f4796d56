// Command dynamodb-source follows a DynamoDB table's stream and sends one CloudEvent per
// record to K_SINK (a Knative ContainerSource or SinkBinding sets it), with per-shard
// checkpoints and leases in DynamoDB and a dead-letter queue for refused records. It
// also serves /healthz and /readyz. See README.md for its configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/dynamodb-source/internal/source"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, then follows the stream and serves the
// health endpoints until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.Run(ctx, "dynamodb-source", environ, stdout, func(ctx context.Context, cfg source.Config, log *slog.Logger) error {
		poller, err := source.Build(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		return svcmain.Serve(ctx, cfg.Config, log, nil, poller.Run)
	})
}
