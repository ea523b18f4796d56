package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// recordingSink counts deliveries per event id and refuses subjects containing
// "poison" with 400; while down it closes every connection without an answer (a sink
// that is down: the records wait, they are not poison).
type recordingSink struct {
	down  atomic.Bool
	mu    sync.Mutex
	count map[string]int
	order []string // subjects in delivery order
}

func (s *recordingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, err := cloudevent.Decode(r.Context(), r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.down.Load() {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
		}
		return
	}
	if strings.Contains(e.Subject(), "poison") {
		http.Error(w, "poison", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.count[e.ID()]++
	s.order = append(s.order, e.Subject())
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *recordingSink) delivered() (subjects []string, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.count {
		if n > 1 {
			dup = true
		}
	}
	return append([]string(nil), s.order...), dup
}

// noRelease makes a worker die like a killed process: it never releases its lease.
type noRelease struct{ *LeaseStore }

func (noRelease) Release(context.Context, string, string) error { return nil }

type env struct {
	db             *dynamodb.Client
	streams        *dynamodbstreams.Client
	sqs            *sqs.Client
	table, cpTable string
	queueURL       string
	sinkURL        string
	sink           *recordingSink
}

func setup(t *testing.T) *env {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	e := &env{db: dynamodb.NewFromConfig(cfg), streams: dynamodbstreams.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg),
		table: mototest.Name("subs"), cpTable: mototest.Name("checkpoints"), sink: &recordingSink{count: map[string]int{}}}
	pk := func(name string, stream bool) *dynamodb.CreateTableInput {
		in := &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		}
		if stream {
			in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}
		}
		return in
	}
	for _, in := range []*dynamodb.CreateTableInput{pk(e.table, true), pk(e.cpTable, false)} {
		mototest.CreateTable(t, e.db, in)
	}
	q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(mototest.Name("dlq"))})
	if err != nil {
		t.Fatal(err)
	}
	e.queueURL = aws.ToString(q.QueueUrl)
	srv := httptest.NewServer(e.sink)
	t.Cleanup(srv.Close)
	e.sinkURL = srv.URL
	return e
}

func (e *env) poller(t *testing.T, worker string, crash bool) *Poller {
	t.Helper()
	sender, err := cloudevent.NewSender(cloudevent.SenderConfig{Sink: e.sinkURL, MaxAttempts: 3, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, AttemptTimeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := NewLeaseStore(e.db, e.cpTable, worker, 2*time.Second, nil)
	var leases Leases = store
	if crash {
		leases = noRelease{store}
	}
	return &Poller{
		Streams: e.streams, Tables: e.db, Leases: leases, Sender: sender,
		Dead:  &SQSDeadLetter{Client: e.sqs, QueueURL: e.queueURL},
		Log:   slog.New(slog.NewJSONHandler(io.Discard, nil)).With("worker", worker),
		Table: e.table, PollInterval: 50 * time.Millisecond, DiscoveryInterval: 30 * time.Second, // the default: take-over must not wait for it
		BatchSize: 3, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, DeliveryRounds: 3,
	}
}

// start runs p until the returned stop is called; stop waits for Run to return.
func start(p *Poller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	return func() { cancel(); <-done }
}

func (e *env) put(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := e.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
			"pk":    &types.AttributeValueMemberS{Value: fmt.Sprintf("item-%03d", i)},
			"email": &types.AttributeValueMemberS{Value: fmt.Sprintf("u%d@example.com", i)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor waits until the sink holds n deliveries and returns their subjects.
func (e *env) waitFor(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, dup := e.sink.delivered()
		if dup {
			t.Fatalf("a record was delivered twice: %v", got)
		}
		if len(got) >= n {
			time.Sleep(300 * time.Millisecond) // nothing more may arrive
			if got, _ = e.sink.delivered(); len(got) != n {
				t.Fatalf("delivered %d records, want %d: %v", len(got), n, got)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: delivered %d records, want %d: %v", within, len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func subjects(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("pk=item-%03d", i))
	}
	return s
}

func TestStreamToSinkAgainstMoto(t *testing.T) {
	e := setup(t)

	// First start: from the trim horizon, records written before the source started
	// included, in order.
	e.put(t, 1, 4)
	stopA := start(e.poller(t, "a", false))
	e.put(t, 5, 7)
	got := e.waitFor(t, 7, 15*time.Second)
	if want := subjects(1, 7); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order = %v, want %v", got, want)
	}

	// Graceful restart: the lease is released, the next worker resumes after the
	// checkpoint at once: nothing lost, nothing twice.
	stopA()
	e.put(t, 8, 10)
	stopB := start(e.poller(t, "b", false))
	e.waitFor(t, 10, 10*time.Second)

	// Two replicas at once: one holds the shard, no record is delivered twice.
	stopC := start(e.poller(t, "c", false))
	e.put(t, 11, 16)
	e.waitFor(t, 16, 10*time.Second)

	// Kill the holder (b) without releasing its lease mid-stream: c takes over after
	// the lease expires and delivers the rest once.
	crashB := e.poller(t, "b", true)
	stopB() // b's worker released; restart b as a crashing worker to hold the lease
	stopC() // c stops too, so b2 surely gets the shard
	stopB2 := start(crashB)
	e.put(t, 17, 20)
	e.waitFor(t, 20, 10*time.Second)
	stopB2() // dies holding the lease (noRelease)
	e.put(t, 21, 24)
	killedAt := time.Now()
	stopD := start(e.poller(t, "d", false))
	defer stopD()
	e.waitFor(t, 24, 15*time.Second) // the 2s lease, not the 30s discovery interval (room for a loaded moto)
	if took := time.Since(killedAt); took < time.Second {
		t.Errorf("d delivered %s after the kill, before b's 2s lease can have expired", took)
	}

	// A record the sink refuses with 400 is dead-lettered, and the stream moves on.
	if _, err := e.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "poison-1"},
	}}); err != nil {
		t.Fatal(err)
	}
	e.put(t, 25, 25)
	e.waitFor(t, 25, 10*time.Second)
	l, _ := e.onlyDeadLetter(t)
	if l.SinkStatus != http.StatusBadRequest || l.Event == nil || l.Event.Subject() != "pk=poison-1" || l.Event.Type() != cloudevent.DynamoDBInsert {
		t.Errorf("dead letter = %+v, want the poison event refused with 400", l)
	}
}

// onlyDeadLetter receives the dead-letter queue's messages, which must be one letter,
// and returns it with its receipt handle.
func (e *env) onlyDeadLetter(t *testing.T) (Letter, *string) {
	t.Helper()
	msgs, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(msgs.Messages))
	}
	var l Letter
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &l); err != nil {
		t.Fatal(err)
	}
	return l, msgs.Messages[0].ReceiptHandle
}

// TestLeaseStoreAgainstMoto checks the conditional writes themselves: a live lease
// cannot be taken, an expired one can, and the loser can neither renew nor checkpoint.
func TestLeaseStoreAgainstMoto(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	a := NewLeaseStore(e.db, e.cpTable, "a", 10*time.Second, clock)
	b := NewLeaseStore(e.db, e.cpTable, "b", 10*time.Second, clock)
	const arn, shard = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x", "shardId-1"

	if _, ok, err := a.Acquire(ctx, arn, shard); err != nil || !ok {
		t.Fatalf("a.Acquire = %v, %v; want the free lease", ok, err)
	}
	if err := a.Checkpoint(ctx, arn, shard, "100"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.Acquire(ctx, arn, shard); err != nil || ok {
		t.Fatalf("b.Acquire of a live lease = %v, %v; want refused", ok, err)
	}
	now = now.Add(11 * time.Second) // a stopped renewing
	cp, ok, err := b.Acquire(ctx, arn, shard)
	if err != nil || !ok || cp.Sequence != "100" {
		t.Fatalf("b.Acquire after expiry = %+v, %v, %v; want the lease resuming after 100", cp, ok, err)
	}
	for name, err := range map[string]error{
		"renew":      a.Renew(ctx, arn, shard),
		"checkpoint": a.Checkpoint(ctx, arn, shard, "101"),
		"release":    a.Release(ctx, arn, shard),
	} {
		if !errors.Is(err, ErrLeaseLost) {
			t.Errorf("a.%s after losing the lease = %v, want ErrLeaseLost", name, err)
		}
	}
	if err := b.Finish(ctx, arn, shard); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, ok, err := a.Acquire(ctx, arn, shard); err != nil || ok {
		t.Errorf("Acquire of an ended shard = %v, %v; want refused", ok, err)
	}
	got, err := a.Get(ctx, arn, shard)
	if err != nil || !got.Ended || got.Sequence != "100" || got.Owner != "" {
		t.Errorf("Get = %+v, %v; want ended at 100 with no owner", got, err)
	}
}

// TestMetricsAgainstMoto: while the sink is down, the shard's records wait and its
// iterator age grows from the records' creation time (moto returns
// ApproximateCreationDateTime, as DynamoDB does); once the sink is back they are
// counted delivered and the age falls to 0 at the next empty read; a refused record is
// counted dead-lettered.
func TestMetricsAgainstMoto(t *testing.T) {
	e := setup(t)
	reg := metrics.New()
	p := e.poller(t, "m", false)
	p.Metrics = NewMetrics(reg)
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	gauge := func(fams metricstest.Families, name string) (float64, bool) {
		if len(fams[name].GetMetric()) != 1 {
			return 0, false
		}
		return fams.Value(name, nil)
	}

	e.sink.down.Store(true)
	e.put(t, 1, 2)
	stop := start(p)
	defer stop()
	var fams metricstest.Families
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		fams = metricstest.Scrape(t, srv.URL)
		age, _ := gauge(fams, "dynamodb_source_iterator_age_seconds")
		pending, _ := gauge(fams, "dynamodb_source_records_pending")
		failed, _ := fams.Value("dynamodb_source_delivery_failures_total", map[string]string{"kind": "sink_unreachable"})
		if age >= 1.5 && pending == 2 && failed >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the sink down: iterator age %v (want >= 1.5 s), pending %v (want 2), sink_unreachable failures %v (want >= 1); %v %v", age, pending, failed, fams.Series("dynamodb_source_iterator_age_seconds"), fams.Series("dynamodb_source_records_pending"))
		}
	}
	if n, _ := fams.Value("dynamodb_source_shards_leased", nil); n != 1 {
		t.Errorf("dynamodb_source_shards_leased = %v, want 1", n)
	}

	e.sink.down.Store(false)
	e.waitFor(t, 2, 15*time.Second)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		fams = metricstest.Scrape(t, srv.URL)
		age, ok := gauge(fams, "dynamodb_source_iterator_age_seconds")
		pending, _ := gauge(fams, "dynamodb_source_records_pending")
		if ok && age == 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caught up: iterator age %v, pending %v; want 0 and 0", age, pending)
		}
	}
	if n, _ := fams.Value("dynamodb_source_records_total", map[string]string{"outcome": "delivered"}); n != 2 {
		t.Errorf("delivered = %v, want 2", n)
	}

	if _, err := e.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "poison-1"},
	}}); err != nil {
		t.Fatal(err)
	}
	e.put(t, 3, 3)
	e.waitFor(t, 3, 10*time.Second)
	metricstest.WaitAll(t, srv.URL,
		metricstest.Want{Name: "dynamodb_source_records_total", Labels: map[string]string{"outcome": "delivered"}, Value: 3},
		metricstest.Want{Name: "dynamodb_source_records_total", Labels: map[string]string{"outcome": "dead_lettered", "reason": "refused"}, Value: 1})
	stop()
	if fams = metricstest.Scrape(t, srv.URL); len(fams["dynamodb_source_iterator_age_seconds"].GetMetric()) != 0 {
		t.Errorf("the released shard still has an iterator age: %v", fams.Series("dynamodb_source_iterator_age_seconds"))
	}
}
