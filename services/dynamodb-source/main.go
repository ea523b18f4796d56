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
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/caarlos0/env/v11"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/dynamodb-source/internal/source"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stdout); err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// run reads the configuration from environ, then follows the stream and serves the
// health endpoints until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	var cfg source.Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := logging.New(stdout, cfg.LogLevel, "dynamodb-source")
	poller, err := source.Build(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return poller.Run(gctx) })
	g.Go(func() error { return server.New(cfg.Config, log, http.NotFoundHandler()).Run(gctx) })
	return g.Wait()
}
