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
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

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
