package source

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

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
