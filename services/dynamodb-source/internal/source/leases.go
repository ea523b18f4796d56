package source

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrLeaseLost means another worker owns the shard now: stop processing it.
var ErrLeaseLost = errors.New("shard lease lost to another worker")

// Checkpoint is the stored progress of one shard.
type Checkpoint struct {
	// Sequence is the sequence number of the last record delivered (or dead-lettered);
	// empty when none was.
	Sequence string
	// Ended is true once the shard is closed and every record in it was delivered.
	Ended bool
	// Owner and Expires describe the lease, when someone holds one.
	Owner   string
	Expires time.Time
}

// LeaseStore keeps a checkpoint and a lease per shard in a DynamoDB table whose
// partition key is the string attribute "pk" (provisioned as the checkpoint table). One
// item per shard: pk = "<stream ARN>|<shard id>", owner, leaseExpiresAt (Unix ms),
// sequenceNumber, ended. Every change is a conditional write, so a worker that lost its
// lease can neither renew it nor move the checkpoint.
type LeaseStore struct {
	db    DynamoDBAPI
	table string
	owner string
	ttl   time.Duration
	now   func() time.Time
}

// DynamoDBAPI is the part of the DynamoDB client the lease store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// NewLeaseStore returns a store on table for the worker owner, whose leases last ttl.
func NewLeaseStore(db DynamoDBAPI, table, owner string, ttl time.Duration, now func() time.Time) *LeaseStore {
	if now == nil {
		now = time.Now
	}
	return &LeaseStore{db: db, table: table, owner: owner, ttl: ttl, now: now}
}

// Owner is the worker id the store writes into leases.
func (s *LeaseStore) Owner() string { return s.owner }

// TTL is how long a lease lasts without renewal.
func (s *LeaseStore) TTL() time.Duration { return s.ttl }

func shardKey(streamARN, shardID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: streamARN + "|" + shardID}}
}

func ms(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

func readCheckpoint(item map[string]types.AttributeValue) Checkpoint {
	var cp Checkpoint
	if v, ok := item["sequenceNumber"].(*types.AttributeValueMemberS); ok {
		cp.Sequence = v.Value
	}
	if v, ok := item["ended"].(*types.AttributeValueMemberBOOL); ok {
		cp.Ended = v.Value
	}
	if v, ok := item["owner"].(*types.AttributeValueMemberS); ok {
		cp.Owner = v.Value
	}
	if v, ok := item["leaseExpiresAt"].(*types.AttributeValueMemberN); ok {
		if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			cp.Expires = time.UnixMilli(n)
		}
	}
	return cp
}

// Get reads a shard's checkpoint (strongly consistent); a shard never seen has the
// zero Checkpoint.
func (s *LeaseStore) Get(ctx context.Context, streamARN, shardID string) (Checkpoint, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            shardKey(streamARN, shardID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint of shard %s: %w", shardID, err)
	}
	return readCheckpoint(out.Item), nil
}

// Acquire takes the lease of a shard that is not ended and whose lease is free, expired
// or already this worker's. ok is false when another worker holds a live lease (or the
// shard has ended). The checkpoint returned is the one to resume from.
func (s *LeaseStore) Acquire(ctx context.Context, streamARN, shardID string) (cp Checkpoint, ok bool, err error) {
	now := s.now()
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      shardKey(streamARN, shardID),
		UpdateExpression:         aws.String("SET #owner = :me, leaseExpiresAt = :exp, streamArn = :stream, shardId = :shard"),
		ConditionExpression:      aws.String("(attribute_not_exists(pk) OR attribute_not_exists(#owner) OR #owner = :me OR leaseExpiresAt < :now) AND (attribute_not_exists(ended) OR ended = :false)"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me":     &types.AttributeValueMemberS{Value: s.owner},
			":exp":    ms(now.Add(s.ttl)),
			":now":    ms(now),
			":false":  &types.AttributeValueMemberBOOL{Value: false},
			":stream": &types.AttributeValueMemberS{Value: streamARN},
			":shard":  &types.AttributeValueMemberS{Value: shardID},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("acquire lease of shard %s: %w", shardID, err)
	}
	return readCheckpoint(out.Attributes), true, nil
}

// ownerUpdate runs a conditional update that only the lease's owner may make.
func (s *LeaseStore) ownerUpdate(ctx context.Context, what, streamARN, shardID, update string, values map[string]types.AttributeValue) error {
	values[":me"] = &types.AttributeValueMemberS{Value: s.owner}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       shardKey(streamARN, shardID),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%s of shard %s: %w", what, shardID, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("%s of shard %s: %w", what, shardID, err)
	}
	return nil
}

// Renew extends this worker's lease; ErrLeaseLost when it is no longer this worker's.
func (s *LeaseStore) Renew(ctx context.Context, streamARN, shardID string) error {
	return s.ownerUpdate(ctx, "renew lease", streamARN, shardID, "SET leaseExpiresAt = :exp",
		map[string]types.AttributeValue{":exp": ms(s.now().Add(s.ttl))})
}

// Checkpoint records seq as the shard's last delivered record and renews the lease.
func (s *LeaseStore) Checkpoint(ctx context.Context, streamARN, shardID, seq string) error {
	return s.ownerUpdate(ctx, "checkpoint", streamARN, shardID, "SET sequenceNumber = :seq, leaseExpiresAt = :exp",
		map[string]types.AttributeValue{":seq": &types.AttributeValueMemberS{Value: seq}, ":exp": ms(s.now().Add(s.ttl))})
}

// Finish marks a closed shard as fully processed and gives up its lease, so that its
// children may start.
func (s *LeaseStore) Finish(ctx context.Context, streamARN, shardID string) error {
	return s.ownerUpdate(ctx, "finish", streamARN, shardID, "SET ended = :true, leaseExpiresAt = :zero REMOVE #owner",
		map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true}, ":zero": ms(time.UnixMilli(0))})
}

// Release gives up this worker's lease at once (on shutdown), so another worker can
// take the shard without waiting for expiry.
func (s *LeaseStore) Release(ctx context.Context, streamARN, shardID string) error {
	return s.ownerUpdate(ctx, "release lease", streamARN, shardID, "SET leaseExpiresAt = :zero REMOVE #owner",
		map[string]types.AttributeValue{":zero": ms(time.UnixMilli(0))})
}
