package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

// daxModel is a model, in front of a real DynamoDB (moto), of the DAX behaviour AWS's
// page "DAX and DynamoDB consistency models" describes; moto has no DAX data plane, and
// this is how the store's reads are checked against that behaviour:
//
//   - a cluster of nodes, each with an item cache and a query cache; reads are spread
//     round robin over the nodes, writes go to the primary (node 0);
//   - an eventually consistent GetItem or Query is answered from the node's cache when
//     it holds the key, a remembered miss included (negative caching), else read from
//     DynamoDB and cached there for ttl;
//   - a strongly consistent read goes to DynamoDB and is cached nowhere;
//   - a write goes to DynamoDB; the primary then holds the new item in its item cache,
//     and the other nodes get it only when the test calls replicate (in AWS, usually
//     within a second); no write touches a query cache.
//
// It is a model, not DAX: what it proves is that the store's reads do not depend on
// any cache being fresh.
type daxModel struct {
	db    API
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	nodes []*daxNode
	next  int
	// pending are the primary's item-cache writes the replicas have not had yet.
	pending []func(*daxNode)
}

type daxNode struct {
	items   map[string]cached[map[string]types.AttributeValue] // pk|sk -> item, nil for a miss
	queries map[string]cached[*dynamodb.QueryOutput]
}

type cached[T any] struct {
	v  T
	at time.Time
}

var _ API = (*daxModel)(nil)

func newDAXModel(db API, nodes int, ttl time.Duration, now func() time.Time) *daxModel {
	m := &daxModel{db: db, ttl: ttl, now: now}
	for range nodes {
		m.nodes = append(m.nodes, &daxNode{items: map[string]cached[map[string]types.AttributeValue]{}, queries: map[string]cached[*dynamodb.QueryOutput]{}})
	}
	return m
}

// reader is the node the next read goes to.
func (m *daxModel) reader() *daxNode {
	n := m.nodes[m.next%len(m.nodes)]
	m.next++
	return n
}

// replicate delivers the primary's item-cache writes to every other node.
func (m *daxModel) replicate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, apply := range m.pending {
		for _, n := range m.nodes[1:] {
			apply(n)
		}
	}
	m.pending = nil
}

func itemKey(k map[string]types.AttributeValue) string {
	return avString(k["pk"]) + "|" + avString(k["sk"])
}

func avString(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + v.Value
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case nil:
		return "-"
	}
	return fmt.Sprintf("%T", v)
}

func queryKey(in *dynamodb.QueryInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%v|%d|", aws.ToString(in.TableName), aws.ToString(in.KeyConditionExpression), aws.ToBool(in.ScanIndexForward), aws.ToInt32(in.Limit))
	for _, m := range []map[string]types.AttributeValue{in.ExpressionAttributeValues, in.ExclusiveStartKey} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(k + "=" + avString(m[k]) + ";")
		}
		b.WriteString("|")
	}
	return b.String()
}

func (m *daxModel) fresh(at time.Time) bool { return m.now().Sub(at) < m.ttl }

// GetItem implements API.
func (m *daxModel) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if aws.ToBool(in.ConsistentRead) {
		return m.db.GetItem(ctx, in, opts...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, k := m.reader(), itemKey(in.Key)
	if c, ok := n.items[k]; ok && m.fresh(c.at) {
		return &dynamodb.GetItemOutput{Item: c.v}, nil
	}
	out, err := m.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: in.Key}, opts...)
	if err != nil {
		return nil, err
	}
	n.items[k] = cached[map[string]types.AttributeValue]{out.Item, m.now()}
	return out, nil
}

// Query implements API.
func (m *daxModel) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if aws.ToBool(in.ConsistentRead) {
		return m.db.Query(ctx, in, opts...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, k := m.reader(), queryKey(in)
	if c, ok := n.queries[k]; ok && m.fresh(c.at) {
		return c.v, nil
	}
	out, err := m.db.Query(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	n.queries[k] = cached[*dynamodb.QueryOutput]{out, m.now()}
	return out, nil
}

// wrote writes the item at key through to the primary's item cache (as DynamoDB now
// holds it) and queues it for the replicas.
func (m *daxModel) wrote(ctx context.Context, table *string, key map[string]types.AttributeValue) error {
	out, err := m.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, item, at := itemKey(key), out.Item, m.now()
	apply := func(n *daxNode) { n.items[k] = cached[map[string]types.AttributeValue]{item, at} }
	apply(m.nodes[0])
	m.pending = append(m.pending, apply)
	return nil
}

// PutItem implements API.
func (m *daxModel) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := m.db.PutItem(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return out, m.wrote(ctx, in.TableName, map[string]types.AttributeValue{"pk": in.Item["pk"], "sk": in.Item["sk"]})
}

// UpdateItem implements API.
func (m *daxModel) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := m.db.UpdateItem(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return out, m.wrote(ctx, in.TableName, in.Key)
}

// DeleteItem implements API.
func (m *daxModel) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	out, err := m.db.DeleteItem(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	return out, m.wrote(ctx, in.TableName, in.Key)
}

// BatchWriteItem implements API: every written key is written through as above.
func (m *daxModel) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	out, err := m.db.BatchWriteItem(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	for table, reqs := range in.RequestItems {
		for _, r := range reqs {
			k := map[string]types.AttributeValue{}
			if r.DeleteRequest != nil {
				k = r.DeleteRequest.Key
			} else if r.PutRequest != nil {
				k = map[string]types.AttributeValue{"pk": r.PutRequest.Item["pk"], "sk": r.PutRequest.Item["sk"]}
			}
			if err := m.wrote(ctx, aws.String(table), k); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// TestReadYourWritesThroughDAXModel: through a three-node cluster whose caches were
// warmed before the write (a list, and a read of the id before it existed, on every
// node), the owner sees their create in every list and every Get, then their change,
// on whichever node answers; after the window the lists are served from the cache
// again and are still right. The subtests show the model does serve stale data to
// eventually consistent reads, and that a window shorter than the cluster's query TTL
// (a misconfiguration) shows a stale list.
func TestReadYourWritesThroughDAXModel(t *testing.T) {
	ep := mototest.Endpoint(t)
	db := dynamodb.NewFromConfig(mototest.AWSConfig(t, ep))
	table := newTable(t, db)
	ctx := context.Background()
	const nodes = 3
	start := time.Now()

	// setup returns a store through a fresh model whose TTL is ttl and whose clock the
	// returned function moves.
	setup := func(window, ttl time.Duration) (*Store, *daxModel, func(time.Duration)) {
		now := start
		clock := func() time.Time { return now }
		m := newDAXModel(db, nodes, ttl, clock)
		s := New(m, Options{Table: table, RecentWrite: window})
		s.now = clock
		return s, m, func(d time.Duration) { now = now.Add(d) }
	}
	ids := func(p todo.Page) []string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.ID)
		}
		return out
	}

	t.Run("the owner sees their writes on every node", func(t *testing.T) {
		s, m, advance := setup(time.Minute, time.Minute)
		alice := mototest.Name("alice")
		td, _ := todo.New("01JDX0000000000000000000AB", todo.Draft{Title: "v1"}, start)
		for range nodes {
			if p, err := s.List(ctx, alice, 10, ""); err != nil || len(p.Items) != 0 {
				t.Fatalf("warm-up list = %v, %v", p.Items, err)
			}
			// An eventually consistent read of the id before it exists leaves a cached
			// miss on each node.
			if out, err := m.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key(alice, todoPrefix+td.ID)}); err != nil || out.Item != nil {
				t.Fatalf("warm-up get = %v, %v", out, err)
			}
		}
		if err := s.Create(ctx, alice, td); err != nil {
			t.Fatal(err)
		}
		for i := range nodes {
			p, err := s.List(ctx, alice, 10, "")
			if err != nil || !slices.Equal(ids(p), []string{td.ID}) {
				t.Errorf("list %d after the create = %v, %v; want [%s]", i, ids(p), err, td.ID)
			}
			if got, err := s.Get(ctx, alice, td.ID); err != nil || got.Title != "v1" {
				t.Errorf("get %d after the create = %+v, %v", i, got, err)
			}
		}
		svc := todo.NewService(s)
		svc.Now = func() time.Time { return start.Add(time.Second) }
		title := "v2"
		if _, err := svc.Update(ctx, alice, td.ID, todo.Patch{Title: &title}, 1); err != nil {
			t.Fatalf("patch with If-Match 1: %v", err)
		}
		for i := range nodes {
			if got, err := s.Get(ctx, alice, td.ID); err != nil || got.Title != "v2" || got.Version != 2 {
				t.Errorf("get %d after the patch = %+v, %v", i, got, err)
			}
			if p, err := s.List(ctx, alice, 10, ""); err != nil || len(p.Items) != 1 || p.Items[0].Title != "v2" {
				t.Errorf("list %d after the patch = %+v, %v", i, p.Items, err)
			}
		}
		// Past the window (and the TTL), lists are eventually consistent again: filled
		// from DynamoDB, then served from the cache, and right.
		m.replicate()
		advance(2 * time.Minute)
		for i := range 2 * nodes {
			if p, err := s.List(ctx, alice, 10, ""); err != nil || len(p.Items) != 1 || p.Items[0].Title != "v2" {
				t.Errorf("list %d after the window = %+v, %v", i, p.Items, err)
			}
		}
		if err := s.Delete(ctx, alice, td.ID, 0); err != nil {
			t.Fatal(err)
		}
		for i := range nodes {
			if _, err := s.Get(ctx, alice, td.ID); apperr.CodeOf(err) != apperr.NotFound {
				t.Errorf("get %d after the delete: %v, want not found", i, err)
			}
			if p, err := s.List(ctx, alice, 10, ""); err != nil || len(p.Items) != 0 {
				t.Errorf("list %d after the delete = %v, %v", i, ids(p), err)
			}
		}
	})

	t.Run("the model serves stale data to eventual reads", func(t *testing.T) {
		s, m, _ := setup(time.Minute, time.Minute)
		alice := mototest.Name("alice")
		k := key(alice, metaKey)
		for range nodes {
			if _, err := m.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: k}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.stamp(ctx, alice); err != nil {
			t.Fatal(err)
		}
		var misses int
		for range nodes {
			out, err := m.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: k})
			if err != nil {
				t.Fatal(err)
			}
			if out.Item == nil {
				misses++
			}
		}
		if misses != nodes-1 {
			t.Errorf("eventually consistent reads of the stamp missed it on %d nodes, want %d (every replica): the model proves nothing", misses, nodes-1)
		}
	})

	t.Run("a window shorter than the query TTL shows a stale list", func(t *testing.T) {
		s, _, advance := setup(30*time.Second, time.Minute)
		alice := mototest.Name("alice")
		for range nodes {
			if _, err := s.List(ctx, alice, 10, ""); err != nil {
				t.Fatal(err)
			}
		}
		td, _ := todo.New("01JDX0000000000000000000AC", todo.Draft{Title: "x"}, start)
		if err := s.Create(ctx, alice, td); err != nil {
			t.Fatal(err)
		}
		advance(45 * time.Second)
		stale := 0
		for range nodes {
			p, err := s.List(ctx, alice, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Items) == 0 {
				stale++
			}
		}
		if stale == 0 {
			t.Error("with DAX_QUERY_CACHE_TTL below the cluster's query TTL no list was stale: the model cannot catch that misconfiguration")
		}
	})
}
