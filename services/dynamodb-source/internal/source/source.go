// Package source is dynamodb-source's logic: it follows a DynamoDB table's stream,
// shard by shard, and delivers one CloudEvent per record to a sink, with a checkpoint
// and a lease per shard in a DynamoDB table so that replicas share the work without
// processing a shard twice at once and a restart resumes where the last one stopped.
package source

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// StreamsAPI is the part of the DynamoDB Streams client the poller uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// TableAPI finds a table's latest stream.
type TableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Sender delivers one event (cloudevent.Sender).
type Sender interface {
	Send(ctx context.Context, e cloudevents.Event) error
	Sink() string
}

// Leases keeps per-shard checkpoints and leases (LeaseStore).
type Leases interface {
	Get(ctx context.Context, streamARN, shardID string) (Checkpoint, error)
	Acquire(ctx context.Context, streamARN, shardID string) (Checkpoint, bool, error)
	Renew(ctx context.Context, streamARN, shardID string) error
	Checkpoint(ctx context.Context, streamARN, shardID, seq string) error
	Finish(ctx context.Context, streamARN, shardID string) error
	Release(ctx context.Context, streamARN, shardID string) error
	TTL() time.Duration
}

var _ Leases = (*LeaseStore)(nil)

// Poller follows one stream.
type Poller struct {
	Streams StreamsAPI
	Tables  TableAPI
	Leases  Leases
	Sender  Sender
	Dead    DeadLetter
	Log     *slog.Logger
	// Metrics counts deliveries and shows each shard's lag; nil counts nothing.
	Metrics *Metrics

	// Table is the table whose latest stream is followed, unless StreamARN is set.
	Table     string
	StreamARN string
	// PollInterval is the pause after an empty GetRecords (no busy loop on a quiet
	// stream).
	PollInterval time.Duration
	// DiscoveryInterval is how often shards are listed again (new and split shards).
	DiscoveryInterval time.Duration
	// BatchSize is GetRecords' Limit.
	BatchSize int32
	// RetryBase and RetryMax bound the backoff between rounds of redelivery when the
	// sink keeps failing, and after throttling or AWS errors.
	RetryBase, RetryMax time.Duration
	// DeliveryRounds is how many send rounds (each up to the Sender's own attempts) a
	// record gets while the sink answers it with a failure; then it is dead-lettered and
	// the shard moves on. Rounds in which the sink gave no answer at all (it is down or
	// unreachable) do not count: such a record is not poison, and waits.
	DeliveryRounds int
}

// Run follows the stream until ctx ends, then stops every shard worker, releasing its
// lease, and returns nil. AWS errors are logged and retried, never fatal: a table that
// does not exist yet is waited for.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	active := map[string]bool{}
	finished := make(chan string)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Log.Info("stopping: waiting for shard workers to release their leases")
			return nil
		case id := <-finished:
			delete(active, id)
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
		retryAt, err := p.discover(ctx, active, func(arn, shardID string, cp Checkpoint) {
			active[shardID] = true
			wg.Go(func() {
				p.work(ctx, arn, shardID, cp)
				select {
				case finished <- shardID:
				case <-ctx.Done():
				}
			})
		})
		if err != nil && ctx.Err() == nil {
			p.Log.Error("shard discovery failed; retrying", "err", err, "retryIn", p.DiscoveryInterval.String())
		}
		timer.Reset(NextDiscovery(p.DiscoveryInterval, retryAt, time.Now()))
	}
}
