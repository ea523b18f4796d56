package globaltable

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func TestFingerprint(t *testing.T) {
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	a := map[string]ddbtypes.AttributeValue{"pk": s("k"), "tags": &ddbtypes.AttributeValueMemberSS{Value: []string{"b", "a"}}, "n": &ddbtypes.AttributeValueMemberN{Value: "1"}}
	b := map[string]ddbtypes.AttributeValue{"n": &ddbtypes.AttributeValueMemberN{Value: "1"}, "tags": &ddbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}}, "pk": s("k")}
	keys := map[string]ddbtypes.AttributeValue{"pk": s("k")}
	if fingerprint(keys, a) != fingerprint(keys, b) {
		t.Error("equal items with attributes (and set members) in another order differ")
	}
	b["n"] = s("1")
	if fingerprint(keys, a) == fingerprint(keys, b) {
		t.Error("a number and a string of the same digits are equal")
	}
	if fingerprint(keys, nil) == fingerprint(keys, map[string]ddbtypes.AttributeValue{}) {
		t.Error("a delete equals an empty image")
	}
}

// region is one region of the test: clients and the table's stream.
type region struct {
	name    string
	db      *dynamodb.Client
	streams *dynamodbstreams.Client
}

func (r region) put(t *testing.T, table, pk, v string) {
	t.Helper()
	if _, err := r.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "v": &ddbtypes.AttributeValueMemberS{Value: v},
	}}); err != nil {
		t.Fatal(err)
	}
}

// value reads pk's v in r ("" when absent).
func (r region) value(t *testing.T, table, pk string) string {
	t.Helper()
	out, err := r.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item["v"].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// records returns the event names of r's stream records about pk, in order.
func (r region) records(t *testing.T, table, pk string) []string {
	t.Helper()
	ctx := context.Background()
	desc, err := r.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	arn := desc.Table.LatestStreamArn
	sd, err := r.streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sh := range sd.StreamDescription.Shards {
		it, err := r.streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := r.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range out.Records {
				if k, ok := rec.Dynamodb.Keys["pk"].(*types.AttributeValueMemberS); ok && k.Value == pk {
					got = append(got, string(rec.EventName))
				}
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return got
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicatorAgainstMoto: two regions of one moto, a table of the same name in each
// (one made with a NEW_IMAGE stream, one without any). Writes made before the
// replicator starts are replicated; two concurrent writes of one item resolve last
// writer wins; a put, an update and a delete in one region appear in the other's table
// and stream as ordinary records, exactly once, and nothing comes back; the lag is
// measured both ways.
func TestReplicatorAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	table := mototest.Name("global")
	var regions []region
	for i, name := range []string{"us-east-1", "eu-west-1"} {
		cfg := mototest.AWSConfig(t, ep)
		cfg.Region = name
		r := region{name: name, db: dynamodb.NewFromConfig(cfg), streams: dynamodbstreams.NewFromConfig(cfg)}
		in := &dynamodb.CreateTableInput{
			TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		}
		if i == 0 {
			in.StreamSpecification = &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage}
		}
		mototest.CreateTable(t, r.db, in)
		regions = append(regions, r)
	}
	east, west := regions[0], regions[1]

	// Before the replicator runs: an item in the east only, and one item written in
	// both regions, the west last.
	east.put(t, table, "before", "east")
	east.put(t, table, "conflict", "east, earlier")
	time.Sleep(10 * time.Millisecond)
	if _, err := west.db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages}}); err != nil {
		t.Fatal(err)
	}
	west.put(t, table, "conflict", "west, later")

	var rs []Region
	for _, r := range regions {
		rs = append(rs, Region{Name: r.name, DB: r.db, Streams: r.streams})
	}
	rep, err := New(rs, []string{table}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- rep.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	eventually(t, "the earlier write reaches the west", func() bool { return west.value(t, table, "before") == "east" })
	eventually(t, "the later write wins in both regions", func() bool {
		return east.value(t, table, "conflict") == "west, later" && west.value(t, table, "conflict") == "west, later"
	})

	// A put in one region, an update of it in the other, a delete back in the first.
	east.put(t, table, "k", "v1")
	eventually(t, "the put reaches the west", func() bool { return west.value(t, table, "k") == "v1" })
	west.put(t, table, "k", "v2")
	eventually(t, "the update reaches the east", func() bool { return east.value(t, table, "k") == "v2" })
	if _, err := east.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete reaches the west", func() bool { return west.value(t, table, "k") == "" })
	time.Sleep(300 * time.Millisecond) // a copy coming back would be in the streams by now
	// Each region's stream holds each write once, its own and the copies alike.
	for _, r := range regions {
		if diff := cmp.Diff([]string{"INSERT", "MODIFY", "REMOVE"}, r.records(t, table, "k")); diff != "" {
			t.Errorf("%s stream records of k (-want +got):\n%s", r.name, diff)
		}
	}
	lag := rep.Lag()
	for _, dir := range []string{"us-east-1 -> eu-west-1", "eu-west-1 -> us-east-1"} {
		if l := lag[dir]; l.Count == 0 || l.P50 <= 0 || l.P99 < l.P50 {
			t.Errorf("lag %s = %+v, want measured copies", dir, l)
		}
	}
	t.Logf("lag: %s", fmt.Sprint(lag))
}
