package source

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
)

// Build checks cfg (Config.Validate) and returns the poller, with AWS clients built from the
// environment (AWS_REGION, AWS_ENDPOINT_URL*, the default credential chain).
func Build(ctx context.Context, cfg Config, log *slog.Logger) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sender, err := cloudevent.NewSender(cfg.Sink, &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()})
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region, MaxAttempts: 5})
	if err != nil {
		return nil, err
	}
	worker := cfg.WorkerID
	if worker == "" {
		worker = WorkerID()
	}
	db := dynamodb.NewFromConfig(awsCfg)
	log = log.With("worker", worker)
	log.Info("following stream", "table", cfg.Table, "stream", cfg.StreamARN, "sink", cfg.Sink.Sink, "checkpoints", cfg.CheckpointTable, "deadLetters", cfg.DeadLetterQueueURL)
	return &Poller{
		Streams:           dynamodbstreams.NewFromConfig(awsCfg),
		Tables:            db,
		Leases:            NewLeaseStore(db, cfg.CheckpointTable, worker, cfg.LeaseDuration, nil),
		Sender:            sender,
		Dead:              &SQSDeadLetter{Client: sqs.NewFromConfig(awsCfg), QueueURL: cfg.DeadLetterQueueURL},
		Log:               log,
		Metrics:           NewMetrics(metrics.FromContext(ctx)),
		Table:             cfg.Table,
		StreamARN:         cfg.StreamARN,
		PollInterval:      cfg.PollInterval,
		DiscoveryInterval: cfg.DiscoveryInterval,
		BatchSize:         cfg.BatchSize,
		RetryBase:         cfg.RetryBase,
		RetryMax:          cfg.RetryMax,
		DeliveryRounds:    cfg.DeliveryRounds,
	}, nil
}

// WorkerID is a lease owner id unique to this process: the host name (a pod's name in
// a cluster) and a random suffix.
func WorkerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
