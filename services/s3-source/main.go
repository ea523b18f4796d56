// Command s3-source relays the media bucket's S3 notifications from their SQS queue to
// a CloudEvents sink (K_SINK): one CloudEvent per record, the message deleted only once
// the sink accepted it. It also serves /healthz and /readyz. See README.md.
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
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/caarlos0/env/v11"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/s3-source/internal/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stdout); err != nil {
		slog.Error("exit", "err", err)
		os.Exit(1)
	}
}

// run reads the configuration from environ, then relays and serves health endpoints
// until ctx ends.
func run(ctx context.Context, environ []string, stdout io.Writer) error {
	var cfg relay.Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := logging.New(stdout, cfg.LogLevel, "s3-source")
	// An https K_SINK is verified against the system roots (SSL_CERT_FILE adds a CA).
	sender, err := cloudevent.NewSender(cfg.SenderConfig, &http.Client{})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region})
	if err != nil {
		return err
	}
	// A long poll holds the response for up to SQS_WAIT_TIME: allow for it.
	queue := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = cfg.WaitTime + 10*time.Second
		})
	})
	r, err := relay.New(queue, sender, cfg.Options(log))
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("relaying", "queue", cfg.QueueURL, "sink", sender.Sink())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Run(gctx) })
	g.Go(func() error { return server.New(cfg.Config, log, http.NotFoundHandler()).Run(gctx) })
	return g.Wait()
}
