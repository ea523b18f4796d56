// Command thumbnailer receives S3 ObjectCreated CloudEvents for blog photo uploads and
// writes their thumbnails, marking each photo ready or failed. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/caarlos0/env/v11"

	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stdout); err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// run reads the configuration from environ, builds the service and serves until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	var cfg service.Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := logging.New(stdout, cfg.LogLevel, "thumbnailer")
	h, err := service.Build(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("thumbnailer starting", cfg.Describe()...)
	return server.New(cfg.Config, log, h).Run(ctx)
}
