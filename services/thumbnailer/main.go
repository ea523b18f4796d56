// Command thumbnailer receives S3 ObjectCreated CloudEvents for blog photo uploads and
// writes their thumbnails, marking each photo ready or failed. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/api"
)

func main() { svcmain.Main(run) }

// run reads the configuration from environ, builds the service and serves until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return svcmain.Run(ctx, "thumbnailer", environ, stdout, func(ctx context.Context, cfg api.Config, log *slog.Logger) error {
		h, err := api.Build(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		log.Info("thumbnailer starting", cfg.Describe()...)
		return svcmain.Serve(ctx, cfg.Config, log, h)
	})
}
