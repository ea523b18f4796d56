package source

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
)

// Build makes the relay cfg describes: the CloudEvents sender to K_SINK and the SQS
// client of the queue. A configuration error names its variable.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (*Relay, error) {
	// An https K_SINK is verified against the system roots (SSL_CERT_FILE adds a CA).
	sender, err := cloudevent.NewSender(cfg.SenderConfig, &http.Client{})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region})
	if err != nil {
		return nil, err
	}
	// A long poll holds the response for up to SQS_WAIT_TIME: allow for it.
	queue := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = cfg.WaitTime + 10*time.Second
		})
	})
	o := cfg.Options(log)
	o.Metrics, o.Attributes = NewMetrics(metrics.FromContext(ctx)), queue
	r, err := New(queue, sender, o)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	log.Info("relaying", "queue", cfg.QueueURL, "sink", sender.Sink())
	return r, nil
}
