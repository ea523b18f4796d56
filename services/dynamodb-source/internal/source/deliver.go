package source

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"go.opentelemetry.io/otel/attribute"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

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
