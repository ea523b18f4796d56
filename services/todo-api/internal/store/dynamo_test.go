package store

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo/todotest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// newTable creates a to-dos table in moto through the provisioner, so the tests use
// exactly the production key schema.
func newTable(t *testing.T, db *dynamodb.Client) string {
	t.Helper()
	name := mototest.Name("todos")
	c := &provision.Clients{Region: mototest.Region, DynamoDB: db}
	if _, err := provision.Ensure(context.Background(), c, []provision.Resource{provision.TodosTable{TableName: name}}, nil); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return name
}

func TestStoreContractOnMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	db := dynamodb.NewFromConfig(mototest.AWSConfig(t, ep))
	table := newTable(t, db)
	todotest.StoreContract(t, func(*testing.T) todo.Store {
		return New(db, Options{Table: table, RecentWrite: 5 * time.Minute})
	})
}

// consistency records the ConsistentRead flag of every GetItem and Query the store
// sends.
type consistency struct{ gets, queries []bool }

func (c *consistency) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("recordConsistentRead",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				switch p := in.Parameters.(type) {
				case *dynamodb.QueryInput:
					c.queries = append(c.queries, aws.ToBool(p.ConsistentRead))
				case *dynamodb.GetItemInput:
					c.gets = append(c.gets, aws.ToBool(p.ConsistentRead))
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// TestReadYourWrites checks the reads the store sends: the watermark and single
// to-dos always with ConsistentRead; lists strongly consistent for the query-cache TTL
// after the owner's write, eventually consistent (cacheable) otherwise; another owner's
// writes do not make my lists consistent.
func TestReadYourWrites(t *testing.T) {
	ep := mototest.Endpoint(t)
	rec := &consistency{}
	db := dynamodb.NewFromConfig(mototest.AWSConfig(t, ep), rec.option)
	table := newTable(t, db)
	s := New(db, Options{Table: table, RecentWrite: time.Minute})
	now := time.Now()
	s.now = func() time.Time { return now }
	ctx := context.Background()
	alice, bob := mototest.Name("alice"), mototest.Name("bob")

	if _, err := s.List(ctx, alice, 10, ""); err != nil {
		t.Fatal(err)
	}
	td, _ := todo.New("01JDX0000000000000000000AA", todo.Draft{Title: "x"}, now)
	if err := s.Create(ctx, alice, td); err != nil {
		t.Fatal(err)
	}
	p, err := s.List(ctx, alice, 10, "")
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("list right after create = %v, %v", p.Items, err)
	}
	if _, err := s.Get(ctx, alice, td.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, bob, 10, ""); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.List(ctx, alice, 10, ""); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bool{false, true, false, false}, rec.queries); diff != "" {
		t.Errorf("Query ConsistentRead (-want +got):\n%s", diff)
	}
	// Four watermark reads (one per list) and one Get: every one consistent.
	if diff := cmp.Diff([]bool{true, true, true, true, true}, rec.gets); diff != "" {
		t.Errorf("GetItem ConsistentRead (-want +got):\n%s", diff)
	}
}

func TestMissingTableIsUnavailable(t *testing.T) {
	ep := mototest.Endpoint(t)
	db := dynamodb.NewFromConfig(mototest.AWSConfig(t, ep))
	s := New(db, Options{Table: "no-such-table", RecentWrite: time.Minute})
	_, err := s.List(context.Background(), "alice", 10, "")
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want code %s", err, apperr.Unavailable)
	}
}

// TestDatabaseDown needs no moto: a closed port stands for a dead endpoint.
func TestDatabaseDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://" + addr), RetryMaxAttempts: 1}
	s := New(dynamodb.NewFromConfig(cfg), Options{Table: "todos", RecentWrite: time.Minute})
	_, err = s.Get(context.Background(), "alice", "01JDX0000000000000000000AA")
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want code %s", err, apperr.Unavailable)
	}
}

// TestDAXWiring checks the DAX client is built from the endpoint and region, refuses
// malformed endpoints, and that a cluster that cannot be reached gives Unavailable
// through the very same store code. moto has no DAX data plane, so this is as far as
// DAX can be exercised here.
func TestDAXWiring(t *testing.T) {
	for _, bad := range []string{"", "http://dax.example.com", "dax://", "my-cluster:8111", "dax://host:8111/path"} {
		if _, err := NewDAX(aws.Config{Region: "us-east-1"}, bad); err == nil {
			t.Errorf("NewDAX(%q) succeeded, want an error", bad)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	client, err := NewDAX(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, "dax://"+addr)
	if err != nil {
		t.Fatalf("NewDAX: %v", err)
	}
	s := New(client, Options{Table: "todos", RecentWrite: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = s.List(ctx, "alice", 10, "")
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("List through an unreachable DAX: err = %v, want code %s", err, apperr.Unavailable)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the call hung until the test deadline: %v", err)
	}
}

// TestUnreadableItemsOnMoto plants items no version of the service should have
// written (a version that is a string, no createdAt, a dueAt in the year 10000 as the
// old parser stored it) between good ones: each is reported alone, by its id, and the
// list still pages over every stored item.
func TestUnreadableItemsOnMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	db := dynamodb.NewFromConfig(mototest.AWSConfig(t, ep))
	table := newTable(t, db)
	s := New(db, Options{Table: table, RecentWrite: time.Minute})
	ctx := context.Background()
	alice := mototest.Name("alice")
	now := time.Now().UTC().Format(time.RFC3339Nano)
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	num := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	ids := []string{"01JDX0000000000000000000A1", "01JDX0000000000000000000A2", "01JDX0000000000000000000A3", "01JDX0000000000000000000A4", "01JDX0000000000000000000A5"}
	item := func(id string, attrs map[string]types.AttributeValue) map[string]types.AttributeValue {
		av := map[string]types.AttributeValue{"pk": str(alice), "sk": str(todoPrefix + id), "id": str(id), "title": str("t " + id),
			"done": &types.AttributeValueMemberBOOL{Value: false}, "createdAt": str(now), "updatedAt": str(now), "version": num("1")}
		for k, v := range attrs {
			if v == nil {
				delete(av, k)
			} else {
				av[k] = v
			}
		}
		return av
	}
	items := []map[string]types.AttributeValue{
		item(ids[0], nil),
		item(ids[1], map[string]types.AttributeValue{"version": str("one")}),
		item(ids[2], map[string]types.AttributeValue{"createdAt": nil}),
		item(ids[3], map[string]types.AttributeValue{"dueAt": str("10000-01-01T04:00:00Z")}),
		item(ids[4], nil),
	}
	for _, av := range items {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: av}); err != nil {
			t.Fatal(err)
		}
	}
	var shown, unreadable []string
	cursor := ""
	for range 5 {
		p, err := s.List(ctx, alice, 2, cursor)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, it := range p.Items {
			shown = append(shown, it.ID)
		}
		for _, u := range p.Unreadable {
			if !errors.Is(u.Err, todo.ErrUnreadable) {
				t.Errorf("unreadable %s: err %v does not wrap ErrUnreadable", u.ID, u.Err)
			}
			unreadable = append(unreadable, u.ID)
		}
		if cursor = p.Cursor; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff([]string{ids[4], ids[0]}, shown); diff != "" {
		t.Errorf("shown (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{ids[3], ids[2], ids[1]}, unreadable); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	for _, id := range ids[1:4] {
		if _, err := s.Get(ctx, alice, id); !errors.Is(err, todo.ErrUnreadable) || apperr.CodeOf(err) != apperr.Internal {
			t.Errorf("Get %s: %v, want an internal error wrapping ErrUnreadable", id, err)
		}
		if err := s.Delete(ctx, alice, id, 0); err != nil {
			t.Errorf("Delete %s: %v", id, err)
		}
	}
}

// TestTTLAttributeIsTheProvisionedOne: the attribute Close sets for DynamoDB to expire
// a deleted account's mark is the one sa provision enables time to live on.
func TestTTLAttributeIsTheProvisionedOne(t *testing.T) {
	if ttlAttribute != provision.TTLAttribute {
		t.Errorf("the store sets %q, the table expires %q", ttlAttribute, provision.TTLAttribute)
	}
}

// TestCreateRetried: the SDK retries a put whose answer was lost (a timeout, a reset
// connection under load); the retry of a create that had succeeded finds its own item
// and is a success, not "exists"; another to-do under the same id still conflicts.
func TestCreateRetried(t *testing.T) {
	ep := mototest.Endpoint(t)
	db := dynamodb.NewFromConfig(mototest.AWSConfig(t, ep))
	s := New(db, Options{Table: newTable(t, db), RecentWrite: time.Minute})
	ctx := context.Background()
	alice := mototest.Name("alice")
	now := time.Now()
	td, _ := todo.New("01JDX0000000000000000000RT", todo.Draft{Title: "retried"}, now)
	if err := s.Create(ctx, alice, td); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, alice, td); err != nil {
		t.Errorf("the same to-do again (a retry) = %v, want nil", err)
	}
	other, _ := todo.New(td.ID, todo.Draft{Title: "another"}, now)
	if err := s.Create(ctx, alice, other); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("another to-do under the same id = %v, want a conflict", err)
	}
}
