package source

import (
	"errors"
	"fmt"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// Config is dynamodb-source's whole configuration, read from the environment once at
// start. services/dynamodb-source/README.md lists every variable with its default.
type Config struct {
	server.Config
	Sink cloudevent.SenderConfig

	// Region is the AWS region of the table.
	Region string `env:"AWS_REGION,required"`
	// Table is the table whose latest stream is followed; StreamARN, when set, names
	// the stream directly instead.
	Table     string `env:"TABLE_NAME"`
	StreamARN string `env:"STREAM_ARN"`
	// CheckpointTable holds the per-shard checkpoints and leases.
	CheckpointTable string `env:"CHECKPOINT_TABLE,required"`
	// DeadLetterQueueURL is the SQS queue for records the sink refuses with 4xx.
	DeadLetterQueueURL string `env:"DEAD_LETTER_QUEUE_URL,required"`
	// WorkerID names this replica in leases; default: the host name plus a random
	// suffix (K_SERVICE's pods have unique host names).
	WorkerID string `env:"WORKER_ID"`
	// LeaseDuration is how long a shard lease lasts without renewal; a replica that
	// dies holds its shards this long.
	LeaseDuration time.Duration `env:"LEASE_DURATION" envDefault:"10s"`
	// PollInterval is the pause after an empty read of an open shard.
	PollInterval time.Duration `env:"POLL_INTERVAL" envDefault:"500ms"`
	// DiscoveryInterval is how often the stream's shards are listed again.
	DiscoveryInterval time.Duration `env:"SHARD_DISCOVERY_INTERVAL" envDefault:"30s"`
	// BatchSize is the most records read per GetRecords (1..1000).
	BatchSize int32 `env:"BATCH_SIZE" envDefault:"100"`
	// RetryBase and RetryMax bound the backoff between redelivery rounds and after
	// AWS errors.
	RetryBase time.Duration `env:"RETRY_BACKOFF_BASE" envDefault:"500ms"`
	RetryMax  time.Duration `env:"RETRY_BACKOFF_MAX" envDefault:"30s"`
	// DeliveryRounds is how many send rounds (each up to SEND_MAX_ATTEMPTS attempts) a
	// record gets while the sink answers it with failures, before it is dead-lettered
	// and the shard moves on.
	DeliveryRounds int `env:"DELIVERY_ROUNDS" envDefault:"3"`
}

// Validate reports every setting out of its range, each naming its variable, in one
// error (svcmain lists them all before the source starts).
func (c Config) Validate() error {
	var errs []error
	if c.Table == "" && c.StreamARN == "" {
		errs = append(errs, errors.New("set TABLE_NAME (or STREAM_ARN)"))
	}
	if c.StreamARN != "" {
		if _, _, err := cloudevent.TableFromStreamARN(c.StreamARN); err != nil {
			errs = append(errs, fmt.Errorf("STREAM_ARN: %w", err))
		}
	}
	if c.BatchSize < 1 || c.BatchSize > 1000 {
		errs = append(errs, fmt.Errorf("BATCH_SIZE is %d; it must be 1..1000", c.BatchSize))
	}
	if c.DeliveryRounds < 1 {
		errs = append(errs, fmt.Errorf("DELIVERY_ROUNDS is %d; it must be at least 1", c.DeliveryRounds))
	}
	if c.LeaseDuration < time.Second {
		errs = append(errs, fmt.Errorf("LEASE_DURATION is %s; it must be at least 1s", c.LeaseDuration))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"POLL_INTERVAL", c.PollInterval}, {"SHARD_DISCOVERY_INTERVAL", c.DiscoveryInterval}, {"RETRY_BACKOFF_BASE", c.RetryBase}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s is %s; it must be positive", d.name, d.v))
		}
	}
	if c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("RETRY_BACKOFF_MAX (%s) must be at least RETRY_BACKOFF_BASE (%s)", c.RetryMax, c.RetryBase))
	}
	return errors.Join(errs...)
}
