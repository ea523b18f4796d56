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
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/caarlos0/env/v11"

	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/gateway"
)

// memoryHeadroom is what the process may use beyond CACHE_MAX_BYTES before the Go
// runtime collects harder: the cache's fixed overhead, buffers, TLS and the runtime.
const memoryHeadroom = 64 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stdout); err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// gcPercent is the GOGC the gateway runs with unless GOGC is set.
const gcPercent = 400

// run reads the configuration from environ, builds the gateway and serves until ctx
// ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	vars := env.ToMap(environ)
	var cfg gateway.Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := logging.New(stdout, cfg.LogLevel, "gateway")
	if _, set := vars["GOMEMLIMIT"]; !set {
		// Without a soft limit the Go heap may grow to twice the live cache before a
		// collection; with it the process stays near the cache bound (README).
		debug.SetMemoryLimit(cfg.CacheMaxBytes + memoryHeadroom)
	}
	if _, set := vars["GOGC"]; !set {
		// The soft limit above bounds the heap; below it, collecting at 5× the live heap
		// rather than 2× spends less CPU per proxied request (README, "Configuration").
		debug.SetGCPercent(gcPercent)
	}
	g, err := gateway.Build(ctx, cfg, gateway.LookupEnv(vars), log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	defer g.Close()
	return gateway.Run(ctx, cfg, g, log)
}
