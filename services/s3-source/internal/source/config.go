package source

import (
	"log/slog"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// Config is s3-source's whole configuration, read from the environment once at start.
// services/s3-source/README.md lists every variable with its default.
type Config struct {
	server.Config
	cloudevent.SenderConfig

	// Region is the AWS region of the queue.
	Region string `env:"AWS_REGION,required"`
	// QueueURL is the SQS queue the bucket notifies.
	QueueURL string `env:"SQS_QUEUE_URL,required"`
	// WaitTime is the long-poll wait of one receive.
	WaitTime time.Duration `env:"SQS_WAIT_TIME" envDefault:"20s"`
	// Visibility is the visibility timeout held (and renewed) while delivering.
	Visibility time.Duration `env:"SQS_VISIBILITY_TIMEOUT" envDefault:"30s"`
	// BatchSize is the most messages per receive.
	BatchSize int `env:"SQS_BATCH_SIZE" envDefault:"10"`
	// Concurrency is the most messages delivered at once.
	Concurrency int `env:"CONCURRENCY" envDefault:"8"`
	// PoisonDelay is how long an undeliverable message stays invisible before the queue
	// offers it again on its way to the dead-letter queue.
	PoisonDelay time.Duration `env:"POISON_DELAY" envDefault:"10s"`
	// QueueMetricsInterval is how often the queue's message counts are read for the
	// metrics (GetQueueAttributes); 0 turns the polling off.
	QueueMetricsInterval time.Duration `env:"QUEUE_METRICS_INTERVAL" envDefault:"30s"`
}

// Options are the relay options cfg sets; deliveries in progress may run for the
// server's SHUTDOWN_TIMEOUT after SIGTERM.
func (c Config) Options(log *slog.Logger) Options {
	return Options{
		QueueURL:           c.QueueURL,
		WaitTime:           c.WaitTime,
		Visibility:         c.Visibility,
		BatchSize:          c.BatchSize,
		Concurrency:        c.Concurrency,
		PoisonDelay:        c.PoisonDelay,
		DrainTimeout:       c.ShutdownTimeout,
		Log:                log,
		AttributesInterval: c.QueueMetricsInterval,
	}
}
