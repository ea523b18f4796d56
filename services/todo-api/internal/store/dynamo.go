// Package store holds todo-api's AWS adapters. Store keeps to-dos in DynamoDB, directly
// or through a DAX cluster, for the todo package; Bucket (S3) and Vendor (STS), in
// s3files.go, implement the files package's ports.
//
// Table design (one table, no indexes, no scans): partition key `pk` is the owner's
// Cognito sub, sort key `sk` is `TODO#<ULID>`; ULIDs sort by creation time, so a
// descending Query on one partition lists a user's to-dos newest first, one page at a
// time. Each user also has one `META` item holding `lastWriteAt`, the write watermark
// that gives read-your-writes (below).
//
// The store talks to an API interface that both *dynamodb.Client and *dax.Dax satisfy,
// so the code path is the same with or without DAX; only the client differs.
//
// Read-your-writes, also through DAX. DAX answers eventually consistent reads from
// caches that writes do not make fresh everywhere: its query cache is not invalidated
// by writes, its item cache is written through on the primary node only and reaches
// the other nodes eventually, and both caches remember misses. A strongly consistent
// read (ConsistentRead) is passed to DynamoDB and not cached. So:
//
//   - every write first stamps the owner's META item with the time;
//   - the stamp is always read with ConsistentRead, so no node can hide a write;
//   - a list whose owner wrote within the query-cache TTL runs its Query with
//     ConsistentRead; otherwise the Query is eventually consistent and DAX may answer
//     it from its query cache;
//   - a single to-do is always read with ConsistentRead: knowing whether a cached copy
//     is fresh would take the consistent stamp read, which costs as much as reading the
//     item itself.
//
// The price is one small write per change and one small consistent read per list;
// lists by owners who are only reading stay cached. services/todo-api/README.md
// explains the design against AWS's DAX consistency documentation.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/ddbitem"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

// API is the part of the DynamoDB API the store uses; *dynamodb.Client and *dax.Dax
// both implement it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

const (
	todoPrefix = "TODO#"
	metaKey    = "META"
)

// Store is a todo.Store over DynamoDB or DAX.
type Store struct {
	db    API
	table string
	// recentWrite is how long after a write lists are strongly consistent: the DAX
	// query-cache TTL.
	recentWrite time.Duration
	now         func() time.Time
}

var _ todo.Store = (*Store)(nil)

// Options configure a Store.
type Options struct {
	Table string
	// RecentWrite is the window after a write in which lists use strong consistency:
	// at least the DAX cluster's query-cache TTL (query-ttl-millis).
	RecentWrite time.Duration
}

// New returns a store over db, a DynamoDB or a DAX client: the reads are the same.
func New(db API, o Options) *Store {
	return &Store{db: db, table: o.Table, recentWrite: o.RecentWrite, now: time.Now}
}

type item struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	ID        string `dynamodbav:"id"`
	Title     string `dynamodbav:"title"`
	Notes     string `dynamodbav:"notes,omitempty"`
	Done      bool   `dynamodbav:"done"`
	DueAt     string `dynamodbav:"dueAt,omitempty"`
	CreatedAt string `dynamodbav:"createdAt"`
	UpdatedAt string `dynamodbav:"updatedAt"`
	Version   int64  `dynamodbav:"version"`
}

func toItem(owner string, t todo.Todo) item {
	it := item{
		PK: owner, SK: todoPrefix + t.ID, ID: t.ID, Title: t.Title, Notes: t.Notes, Done: t.Done,
		CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339Nano), UpdatedAt: t.UpdatedAt.UTC().Format(time.RFC3339Nano),
		Version: t.Version,
	}
	if t.DueAt != nil {
		it.DueAt = t.DueAt.UTC().Format(time.RFC3339Nano)
	}
	return it
}

// fromItem decodes a stored to-do. An item that does not decode, or decodes into a
// to-do that todo.CheckStored refuses, is an error wrapping todo.ErrUnreadable.
func fromItem(av map[string]types.AttributeValue) (todo.Todo, error) {
	t, err := decodeItem(av)
	if err == nil {
		err = todo.CheckStored(t)
	}
	if err != nil {
		return todo.Todo{}, fmt.Errorf("%w: %w", todo.ErrUnreadable, err)
	}
	return t, nil
}

func decodeItem(av map[string]types.AttributeValue) (todo.Todo, error) {
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return todo.Todo{}, fmt.Errorf("decode item: %w", err)
	}
	t := todo.Todo{ID: it.ID, Title: it.Title, Notes: it.Notes, Done: it.Done, Version: it.Version}
	var err error
	if t.CreatedAt, err = time.Parse(time.RFC3339Nano, it.CreatedAt); err != nil {
		return todo.Todo{}, fmt.Errorf("createdAt: %w", err)
	}
	if t.UpdatedAt, err = time.Parse(time.RFC3339Nano, it.UpdatedAt); err != nil {
		return todo.Todo{}, fmt.Errorf("updatedAt: %w", err)
	}
	if it.DueAt != "" {
		due, err := time.Parse(time.RFC3339Nano, it.DueAt)
		if err != nil {
			return todo.Todo{}, fmt.Errorf("dueAt: %w", err)
		}
		t.DueAt = &due
	}
	return t, nil
}

// sortKey is an item's sort key, readable whatever the rest of the item holds.
func sortKey(av map[string]types.AttributeValue) string {
	if s, ok := av["sk"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func key(owner, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: owner},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

// stamp records that owner is writing now (the read-your-writes watermark). It fails
// with Forbidden when the owner's account was closed (Close): every write stamps
// first, so no write reaches a closed account.
func (s *Store) stamp(ctx context.Context, owner string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(owner, metaKey),
		UpdateExpression:          aws.String("SET lastWriteAt = :t"),
		ConditionExpression:       aws.String("attribute_not_exists(closedAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().UnixMilli(), 10)}},
	})
	if isConditionFailed(err) {
		return apperr.New(apperr.Forbidden, todo.ClosedMessage)
	}
	return awsconf.DependencyError("stamp write watermark", err)
}

// meta reads owner's META item with ConsistentRead (through DAX an eventually
// consistent read could come from a node the stamp has not reached yet, or from a
// cached miss): whether the owner wrote within the recent-write window, and whether
// the account was closed.
func (s *Store) meta(ctx context.Context, owner string) (recent, closed bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                &s.table,
		Key:                      key(owner, metaKey),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("lastWriteAt, #c"),
		ExpressionAttributeNames: map[string]string{"#c": "closedAt"},
	})
	if err != nil {
		return false, false, awsconf.DependencyError("read write watermark", err)
	}
	_, closed = out.Item["closedAt"]
	if s.recentWrite <= 0 {
		return true, closed, nil
	}
	n, ok := out.Item["lastWriteAt"].(*types.AttributeValueMemberN)
	if !ok {
		return false, closed, nil
	}
	ms, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return true, closed, nil
	}
	return s.now().Sub(time.UnixMilli(ms)) < s.recentWrite, closed, nil
}

// Create implements todo.Store.
func (s *Store) Create(ctx context.Context, owner string, t todo.Todo) error {
	av, err := attributevalue.MarshalMap(toItem(owner, t))
	if err != nil {
		return fmt.Errorf("encode todo: %w", err)
	}
	if err := s.stamp(ctx, owner); err != nil {
		return err
	}
	// A retried put that had succeeded is no conflict (ddbitem.PutNew).
	err = ddbitem.PutNew(ctx, s.db, s.table, av, "pk", "sk")
	if isConditionFailed(err) {
		return apperr.New(apperr.Conflict, "a to-do with this id exists")
	}
	return awsconf.DependencyError("put todo", err)
}

// Get implements todo.Store. The read is strongly consistent, so the caller sees their
// own create or change at once, whichever DAX node would have answered (and a patch's
// read-modify-write starts from the stored version).
func (s *Store) Get(ctx context.Context, owner, id string) (todo.Todo, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(owner, todoPrefix+id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return todo.Todo{}, awsconf.DependencyError("get todo", err)
	}
	if out.Item == nil {
		return todo.Todo{}, apperr.New(apperr.NotFound, "no such to-do")
	}
	t, err := fromItem(out.Item)
	if err != nil {
		return todo.Todo{}, fmt.Errorf("get todo %s: %w", id, err)
	}
	return t, nil
}

// List implements todo.Store. The cursor is the sort key of the last item returned.
func (s *Store) List(ctx context.Context, owner string, limit int, cursor string) (todo.Page, error) {
	if cursor != "" && (!strings.HasPrefix(cursor, todoPrefix) || !todo.ValidID(strings.TrimPrefix(cursor, todoPrefix))) {
		return todo.Page{}, apperr.Field("nextToken", "is not a valid page token")
	}
	consistent, closed, err := s.meta(ctx, owner)
	if err != nil {
		return todo.Page{}, err
	}
	if closed {
		return todo.Page{}, nil
	}
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: owner},
			":p":  &types.AttributeValueMemberS{Value: todoPrefix},
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(consistent),
		// One more than asked: its presence says whether another page exists.
		Limit: aws.Int32(int32(limit + 1)),
	}
	if cursor != "" {
		in.ExclusiveStartKey = key(owner, cursor)
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return todo.Page{}, awsconf.DependencyError("query todos", err)
	}
	page := todo.Page{Items: make([]todo.Todo, 0, min(len(out.Items), limit))}
	for i, av := range out.Items {
		if i == limit {
			// The key of the last item on the page, read or not.
			page.Cursor = sortKey(out.Items[limit-1])
			break
		}
		t, err := fromItem(av)
		if err != nil {
			page.Unreadable = append(page.Unreadable, todo.Unreadable{ID: strings.TrimPrefix(sortKey(av), todoPrefix), Err: err})
			continue
		}
		page.Items = append(page.Items, t)
	}
	return page, nil
}

// Replace implements todo.Store.
func (s *Store) Replace(ctx context.Context, owner string, t todo.Todo, prev int64) error {
	av, err := attributevalue.MarshalMap(toItem(owner, t))
	if err != nil {
		return fmt.Errorf("encode todo: %w", err)
	}
	if err := s.stamp(ctx, owner); err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &s.table,
		Item:                                av,
		ConditionExpression:                 aws.String("attribute_exists(pk) AND version = :v"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(prev, 10)}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return conditionError(err, "replace todo")
}

// Delete implements todo.Store.
func (s *Store) Delete(ctx context.Context, owner, id string, version int64) error {
	if err := s.stamp(ctx, owner); err != nil {
		return err
	}
	in := &dynamodb.DeleteItemInput{
		TableName:                           &s.table,
		Key:                                 key(owner, todoPrefix+id),
		ConditionExpression:                 aws.String("attribute_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if version > 0 {
		in.ConditionExpression = aws.String("attribute_exists(pk) AND version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)}}
	}
	_, err := s.db.DeleteItem(ctx, in)
	return conditionError(err, "delete todo")
}

// ttlAttribute is the table's TTL attribute (epoch seconds): only a closed account's
// META item carries it (provision.TodosTable enables it).
const ttlAttribute = "expiresAt"

// Close implements todo.Store: it marks the owner's META item with closedAt (kept
// from the first call) and the TTL attribute, so DynamoDB removes the mark once no
// token of the account can be valid any more.
func (s *Store) Close(ctx context.Context, owner string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      key(owner, metaKey),
		UpdateExpression:         aws.String("SET closedAt = if_not_exists(closedAt, :c), #ttl = if_not_exists(#ttl, :e)"),
		ExpressionAttributeNames: map[string]string{"#ttl": ttlAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":c": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			":e": &types.AttributeValueMemberN{Value: strconv.FormatInt(at.Add(todo.ClosedRetention).Unix(), 10)},
		},
	})
	return awsconf.DependencyError("close account", err)
}

// Closed implements todo.Store with the consistent read of the META item.
func (s *Store) Closed(ctx context.Context, owner string) (bool, error) {
	_, closed, err := s.meta(ctx, owner)
	return closed, err
}

// batchLimit is the most requests one BatchWriteItem takes.
const batchLimit = 25

// purgeAttempts bounds the retries of a batch's unprocessed items (throttling).
const purgeAttempts = 8

// Purge implements todo.Store: it queries the owner's to-do keys with ConsistentRead
// (through DAX too, so no cached page hides one) and deletes them 25 at a time with
// BatchWriteItem, retrying unprocessed items with a growing pause.
func (s *Store) Purge(ctx context.Context, owner string) (int, error) {
	deleted := 0
	var start map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              &s.table,
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: owner},
				":p":  &types.AttributeValueMemberS{Value: todoPrefix},
			},
			ProjectionExpression: aws.String("pk, sk"),
			ConsistentRead:       aws.Bool(true),
			ExclusiveStartKey:    start,
		})
		if err != nil {
			return deleted, awsconf.DependencyError("query todos to purge", err)
		}
		for batch := range slices.Chunk(out.Items, batchLimit) {
			if err := s.deleteBatch(ctx, batch); err != nil {
				return deleted, err
			}
			deleted += len(batch)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return deleted, nil
		}
		start = out.LastEvaluatedKey
	}
}

// deleteBatch deletes up to 25 items by key with BatchWriteItem until none is left
// unprocessed.
func (s *Store) deleteBatch(ctx context.Context, keys []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, 0, len(keys))
	for _, k := range keys {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"pk": k["pk"], "sk": k["sk"]}}})
	}
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}})
		if err != nil {
			return awsconf.DependencyError("delete todos", err)
		}
		reqs = out.UnprocessedItems[s.table]
		if len(reqs) == 0 {
			return nil
		}
		if attempt == purgeAttempts {
			return apperr.New(apperr.Unavailable, "DynamoDB left %d deletions unprocessed after %d attempts (throttled); retry", len(reqs), attempt)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// conditionError tells "not there" from "changed since" using the old item DynamoDB
// returns with a failed condition.
func conditionError(err error, what string) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) == 0 {
			return apperr.New(apperr.NotFound, "no such to-do")
		}
		v := ""
		if n, ok := ccf.Item["version"].(*types.AttributeValueMemberN); ok {
			v = n.Value
		}
		return apperr.New(apperr.PreconditionFailed, "the to-do changed meanwhile (now at version %s): fetch it again and reapply your change", v)
	}
	return awsconf.DependencyError(what, err)
}
