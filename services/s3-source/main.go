// Command s3-source relays the media bucket's S3 notifications from their SQS queue to
// a CloudEvents sink (K_SINK): one CloudEvent per record, the message deleted only once
// the sink accepted it. It also serves /healthz and /readyz. See README.md.
package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/s3-source/internal/source"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, then relays and serves health endpoints
// until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.Run(ctx, "s3-source", environ, stdout, func(ctx context.Context, cfg source.Config, log *slog.Logger) error {
		r, err := source.Build(ctx, cfg, log)
		if err != nil {
			return err
		}
		return svcmain.Serve(ctx, cfg.Config, log, nil, r.Run)
	})
}
