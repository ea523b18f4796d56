// Package source is dynamodb-source's logic: it follows a DynamoDB table's stream,
// shard by shard, and delivers one CloudEvent per record to a sink, with a checkpoint
// and a lease per shard in a DynamoDB table so that replicas share the work without
// processing a shard twice at once and a restart resumes where the last one stopped.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
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

// streamARN is the stream to follow.
func (p *Poller) streamARN(ctx context.Context) (string, error) {
	if p.StreamARN != "" {
		return p.StreamARN, nil
	}
	out, err := p.Tables.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(p.Table)})
	if err != nil {
		return "", fmt.Errorf("describe table %s: %w", p.Table, err)
	}
	arn := aws.ToString(out.Table.LatestStreamArn)
	if arn == "" || out.Table.StreamSpecification == nil || !aws.ToBool(out.Table.StreamSpecification.StreamEnabled) {
		return "", fmt.Errorf("table %s has no stream enabled (provision it with a NEW_IMAGE stream)", p.Table)
	}
	return arn, nil
}

// Shards lists every shard of a stream, open and closed, following pagination.
func Shards(ctx context.Context, api StreamsAPI, arn string) ([]types.Shard, error) {
	var shards []types.Shard
	var start *string
	for {
		out, err := api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return nil, fmt.Errorf("describe stream %s: %w", arn, err)
		}
		if out.StreamDescription == nil {
			return shards, nil
		}
		shards = append(shards, out.StreamDescription.Shards...)
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return shards, nil
		}
	}
}

// Ready returns the shards that may be processed now: not ended, and whose parent
// (after a split) is either gone from the stream (trimmed) or ended. ended reports
// whether a shard's checkpoint says it has ended.
func Ready(shards []types.Shard, ended func(shardID string) (bool, error)) ([]string, error) {
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[aws.ToString(s.ShardId)] = true
	}
	var ready []string
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		done, err := ended(id)
		if err != nil {
			return nil, err
		}
		if done {
			continue
		}
		if parent := aws.ToString(s.ParentShardId); parent != "" && listed[parent] {
			pdone, err := ended(parent)
			if err != nil {
				return nil, err
			}
			if !pdone {
				continue // records of a key must be delivered parent first
			}
		}
		ready = append(ready, id)
	}
	return ready, nil
}

// NextDiscovery is the wait before the next shard discovery: the interval, or less
// when a ready shard is held by another worker's lease that expires sooner (retryAt),
// so that a crashed replica's shards are taken over as soon as its lease ends rather
// than at the next periodic listing. The wait is at least 50ms.
func NextDiscovery(interval time.Duration, retryAt, now time.Time) time.Duration {
	if retryAt.IsZero() {
		return interval
	}
	return max(min(interval, retryAt.Sub(now)+50*time.Millisecond), 50*time.Millisecond)
}

// discover lists the shards and starts a worker on each ready shard this worker can
// lease. retryAt is when the earliest lease it could not take expires (zero when
// there is none).
func (p *Poller) discover(ctx context.Context, active map[string]bool, start func(arn, shardID string, cp Checkpoint)) (retryAt time.Time, err error) {
	arn, err := p.streamARN(ctx)
	if err != nil {
		return time.Time{}, err
	}
	shards, err := Shards(ctx, p.Streams, arn)
	if err != nil {
		return time.Time{}, err
	}
	later := func(t time.Time) {
		if retryAt.IsZero() || t.Before(retryAt) {
			retryAt = t
		}
	}
	cps := map[string]Checkpoint{}
	ready, err := Ready(shards, func(id string) (bool, error) {
		if active[id] {
			return false, nil
		}
		cp, ok := cps[id]
		if !ok {
			if cp, err = p.Leases.Get(ctx, arn, id); err != nil {
				return false, err
			}
			cps[id] = cp
		}
		return cp.Ended, nil
	})
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	for _, id := range ready {
		if active[id] {
			continue
		}
		if cp := cps[id]; cp.Owner != "" && cp.Expires.After(now) {
			later(cp.Expires) // someone else's live lease (ours would be active)
			continue
		}
		cp, ok, err := p.Leases.Acquire(ctx, arn, id)
		if err != nil {
			return retryAt, err
		}
		if !ok {
			later(now.Add(p.Leases.TTL())) // taken meanwhile
			continue
		}
		p.Log.Info("leased shard", "stream", arn, "shard", id, "resumeAfter", cp.Sequence)
		start(arn, id, cp)
	}
	return retryAt, nil
}

// lease is a worker's own view of its shard's lease: the time it lapses unless renewed.
// Every conditional write that extends the lease (acquire, renew, checkpoint) advances
// it, counting from just before that write was sent, so the view is never later than
// the stored expiry. A worker consults it before each send.
type lease struct {
	mu    sync.Mutex
	until time.Time
}

// extend records a successful extension sent at from, for ttl.
func (l *lease) extend(from time.Time, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := from.Add(ttl); t.After(l.until) {
		l.until = t
	}
}

// left is how long the lease still runs at now (negative once it has lapsed).
func (l *lease) left(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until.Sub(now)
}

// worker is what one shard's worker carries.
type worker struct {
	arn, shardID string
	log          *slog.Logger
	lease        *lease
	progress     *shardProgress
}

// work processes one leased shard until it ends, the lease is lost or ctx ends. cp is
// what Acquire returned: where to resume, and the lease's expiry.
func (p *Poller) work(ctx context.Context, arn, shardID string, cp Checkpoint) {
	log := p.Log.With("shard", shardID)
	progress, endSeries := p.Metrics.shard(shardID)
	defer endSeries()
	w := &worker{arn: arn, shardID: shardID, log: log, lease: &lease{until: cp.Expires}, progress: progress}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lost sync.Once
	lostLease := false
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		p.renew(wctx, w, func() {
			lost.Do(func() { lostLease = true; cancel() })
		})
	}()
	finished, err := p.process(wctx, w, cp.Sequence)
	cancel()
	<-renewDone
	switch {
	case finished:
		log.Info("shard ended: every record delivered")
	case lostLease || errors.Is(err, ErrLeaseLost):
		log.Warn("lost the shard's lease; another worker continues it")
	default:
		if err != nil && ctx.Err() == nil {
			log.Error("shard worker stopped", "err", err)
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer rcancel()
		if err := p.Leases.Release(rctx, arn, shardID); err != nil {
			log.Warn("could not release the lease; it expires by itself", "err", err)
		} else {
			log.Info("released the shard's lease")
		}
	}
}

// renew extends the lease every third of its TTL until ctx ends; onLost is called when
// the lease is lost, or could not be renewed for a whole TTL.
func (p *Poller) renew(ctx context.Context, w *worker, onLost func()) {
	ttl := p.Leases.TTL()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	lastOK := time.Now()
	log := w.log
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		err := p.Leases.Renew(ctx, w.arn, w.shardID)
		switch {
		case err == nil:
			w.lease.extend(sent, ttl)
			lastOK = time.Now()
		case errors.Is(err, ErrLeaseLost):
			onLost()
			return
		case ctx.Err() != nil:
			return
		default:
			log.Warn("lease renewal failed", "err", err)
			if time.Since(lastOK) > ttl*2/3 {
				log.Error("cannot renew the lease before it expires: stopping this shard")
				onLost()
				return
			}
		}
	}
}

// process reads the shard from after seq (from its trim horizon when seq is empty)
// and delivers every record. finished is true when the shard was closed and fully
// delivered.
func (p *Poller) process(ctx context.Context, w *worker, seq string) (finished bool, err error) {
	arn, shardID, log := w.arn, w.shardID, w.log
	iter, err := p.iterator(ctx, arn, shardID, seq, log)
	if err != nil {
		return false, err
	}
	failures := 0
	for ctx.Err() == nil {
		out, err := p.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(p.BatchSize)})
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			var expired *types.ExpiredIteratorException
			var trimmed *types.TrimmedDataAccessException
			var gone *types.ResourceNotFoundException
			switch {
			case errors.As(err, &expired):
				log.Info("shard iterator expired; getting a new one", "after", seq)
			case errors.As(err, &trimmed):
				log.Error("records past the checkpoint were trimmed from the stream before they were read; resuming at the trim horizon", "after", seq)
				seq = ""
			case errors.As(err, &gone):
				return false, fmt.Errorf("get records: %w", err)
			default:
				failures++
				d := cloudevent.Backoff(p.RetryBase, p.RetryMax, failures, rand.Float64())
				if awsconf.Throttled(err) {
					log.Warn("throttled by DynamoDB Streams; backing off", "err", err, "delay", d.String())
				} else {
					log.Error("get records failed; retrying", "err", err, "delay", d.String())
				}
				if cloudevent.Sleep(ctx, d) != nil {
					return false, nil
				}
			}
			if iter, err = p.iterator(ctx, arn, shardID, seq, log); err != nil {
				return false, err
			}
			continue
		}
		failures = 0
		w.progress.read(out.Records)
		for _, rec := range out.Records {
			if err := p.deliver(ctx, w, rec); err != nil {
				if errors.Is(err, ErrLeaseLost) {
					return false, err
				}
				return false, nil // ctx ended
			}
			recSeq := ""
			if rec.Dynamodb != nil {
				recSeq = aws.ToString(rec.Dynamodb.SequenceNumber)
			}
			// The record is delivered: record it even if shutdown has begun, so a
			// graceful stop causes no redelivery.
			cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), p.Leases.TTL())
			err := p.checkpoint(cctx, w, recSeq)
			ccancel()
			if err != nil {
				return false, err
			}
			w.progress.done()
			seq = recSeq
		}
		if out.NextShardIterator == nil {
			if err := p.Leases.Finish(ctx, arn, shardID); err != nil {
				return false, err
			}
			return true, nil
		}
		iter = aws.ToString(out.NextShardIterator)
		if len(out.Records) == 0 && cloudevent.Sleep(ctx, p.PollInterval) != nil {
			return false, nil
		}
	}
	return false, nil
}

// iterator returns a shard iterator after seq, or at the trim horizon when seq is "".
func (p *Poller) iterator(ctx context.Context, arn, shardID, seq string, log *slog.Logger) (string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn), ShardId: aws.String(shardID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	if seq != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = aws.String(seq)
	}
	for attempt := 1; ; attempt++ {
		out, err := p.Streams.GetShardIterator(ctx, in)
		if err == nil {
			return aws.ToString(out.ShardIterator), nil
		}
		var trimmed *types.TrimmedDataAccessException
		var gone *types.ResourceNotFoundException
		switch {
		case errors.As(err, &gone):
			return "", fmt.Errorf("get shard iterator: %w", err)
		case errors.As(err, &trimmed) && seq != "":
			log.Error("the checkpoint is older than the stream's trim horizon; records in between are lost; resuming at the trim horizon", "after", seq)
			in.ShardIteratorType, in.SequenceNumber, seq = types.ShardIteratorTypeTrimHorizon, nil, ""
			continue
		}
		d := cloudevent.Backoff(p.RetryBase, p.RetryMax, attempt, rand.Float64())
		log.Warn("get shard iterator failed; retrying", "err", err, "delay", d.String())
		if err := cloudevent.Sleep(ctx, d); err != nil {
			return "", err
		}
	}
}

// deliver sends the event of rec until the sink accepts it, and dead-letters it when
// the sink refuses it for good (a 4xx) or keeps failing it for DeliveryRounds rounds.
// While the sink gives no answer at all the record waits (the sink is down; nothing is
// skipped). Before each round the lease is confirmed (holdLease), so a worker that was
// paused past its lease sends nothing its successor may have sent. The error is
// ErrLeaseLost, or ctx's when it ends.
func (p *Poller) deliver(ctx context.Context, w *worker, rec types.Record) error {
	arn, shardID, log := w.arn, w.shardID, w.log
	seq := ""
	if rec.Dynamodb != nil {
		seq = aws.ToString(rec.Dynamodb.SequenceNumber)
	}
	letter := Letter{Sink: p.Sender.Sink(), StreamARN: arn, ShardID: shardID, SequenceNumber: seq}
	e, err := Event(rec, arn)
	if err != nil {
		region, _, _ := cloudevent.TableFromStreamARN(arn)
		r := Record(rec, arn, region)
		letter.Record, letter.Reason = &r, err.Error()
		return p.deadLetterFor(ctx, w, letter, "undecodable")
	}
	// One span per record, over every round of its delivery: the event carries it
	// (the distributed-tracing extension), so the subscribers' work joins its trace.
	ctx, span := cloudevent.StartProducer(ctx, &e)
	span.SetAttributes(attribute.String("aws.dynamodb.shard_id", shardID), attribute.String("aws.dynamodb.sequence_number", seq))
	defer span.End()
	answered := 0 // rounds the sink answered with a failure
	for attempt := 1; ; attempt++ {
		if err := p.holdLease(ctx, w); err != nil {
			return err
		}
		err := p.Sender.Send(ctx, e)
		if err == nil {
			log.Debug("delivered", "ceId", e.ID(), "ceType", e.Type(), "sequenceNumber", seq)
			p.Metrics.delivered()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cloudevent.IsPermanent(err) {
			letter.Event, letter.Reason, letter.SinkStatus = &e, err.Error(), cloudevent.SinkStatus(err)
			return p.deadLetterFor(ctx, w, letter, "refused")
		}
		if status := cloudevent.SinkStatus(err); status != 0 {
			if answered++; answered >= p.DeliveryRounds {
				letter.Event, letter.SinkStatus = &e, status
				letter.Reason = fmt.Sprintf("the sink failed this event in %d delivery rounds (DELIVERY_ROUNDS); last: %v", answered, err)
				return p.deadLetterFor(ctx, w, letter, "rounds")
			}
		}
		p.Metrics.failed(cloudevent.SinkStatus(err) != 0)
		d := cloudevent.Backoff(p.RetryBase, p.RetryMax, attempt, rand.Float64())
		log.Error("sink keeps failing; the shard waits and the record is sent again", "ceId", e.ID(), "err", err,
			"failedRounds", answered, "deadLetterAfter", p.DeliveryRounds, "retryIn", d.String())
		if err := cloudevent.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// deadLetterFor is deadLetter, counted under reason once the letter is stored.
func (p *Poller) deadLetterFor(ctx context.Context, w *worker, l Letter, reason string) error {
	if err := p.deadLetter(ctx, w, l); err != nil {
		return err
	}
	p.Metrics.deadLettered(reason)
	return nil
}

// holdLease makes sure the worker still holds its lease before it sends: with at
// least a third of the TTL left (the renewer keeps it near full) nothing is asked;
// with less — the worker was paused, or renewals failed — the lease is renewed first,
// a conditional write that fails once another worker has taken the shard. Without that
// check a worker stopped past its lease (a long GC pause, SIGSTOP, a frozen VM) would
// wake up and send records its successor had already sent. The alternative ordering,
// checkpoint-then-deliver, would make a crash between the two lose the record: at most
// once instead of at least once.
func (p *Poller) holdLease(ctx context.Context, w *worker) error {
	ttl := p.Leases.TTL()
	if w.lease.left(time.Now()) >= ttl/3 {
		return nil
	}
	sent := time.Now()
	err := p.Leases.Renew(ctx, w.arn, w.shardID)
	switch {
	case err == nil:
		w.lease.extend(sent, ttl)
		return nil
	case errors.Is(err, ErrLeaseLost), ctx.Err() != nil:
		return err
	case w.lease.left(time.Now()) > 0:
		w.log.Warn("could not renew the lease before a send; it still runs, sending", "err", err)
		return nil
	default:
		return fmt.Errorf("%w: the lease lapsed and could not be renewed: %w", ErrLeaseLost, err)
	}
}

// deadLetter stores a letter, retrying until it is stored or ctx ends. The lease is
// confirmed first: a letter is a delivery too.
func (p *Poller) deadLetter(ctx context.Context, w *worker, l Letter) error {
	log := w.log
	l.At = time.Now().UTC()
	for attempt := 1; ; attempt++ {
		if err := p.holdLease(ctx, w); err != nil {
			return err
		}
		err := p.Dead.Put(ctx, l)
		if err == nil {
			log.Warn("record dead-lettered", "sequenceNumber", l.SequenceNumber, "reason", l.Reason, "sinkStatus", l.SinkStatus)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := cloudevent.Backoff(p.RetryBase, p.RetryMax, attempt, rand.Float64())
		log.Error("cannot store a dead letter; retrying (the shard waits)", "err", err, "retryIn", d.String())
		if err := cloudevent.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// checkpoint stores seq (which also renews the lease), retrying transient errors for
// up to one lease TTL.
func (p *Poller) checkpoint(ctx context.Context, w *worker, seq string) error {
	log := w.log
	deadline := time.Now().Add(p.Leases.TTL())
	for attempt := 1; ; attempt++ {
		sent := time.Now()
		err := p.Leases.Checkpoint(ctx, w.arn, w.shardID, seq)
		if err == nil {
			w.lease.extend(sent, p.Leases.TTL())
		}
		if err == nil || errors.Is(err, ErrLeaseLost) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		d := cloudevent.Backoff(p.RetryBase, p.RetryMax, attempt, rand.Float64())
		log.Warn("checkpoint failed; retrying", "err", err, "retryIn", d.String())
		if err := cloudevent.Sleep(ctx, d); err != nil {
			return err
		}
	}
}
