package source

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// faultySink records deliveries per subject; it answers 500 to every delivery of a
// subject holding "poison", and while down it hangs up on every request without an
// answer, as a crashed or unreachable consumer does.
type faultySink struct {
	mu       sync.Mutex
	count    map[string]int // subject -> accepted deliveries
	order    []string
	poisoned int // deliveries of poison answered 500
	down     atomic.Bool
}

func (s *faultySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	e, err := cloudevent.Decode(r.Context(), r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(e.Subject(), "poison") {
		s.poisoned++
		http.Error(w, "this one always fails", http.StatusInternalServerError)
		return
	}
	s.count[e.Subject()]++
	s.order = append(s.order, e.Subject())
	w.WriteHeader(http.StatusNoContent)
}

func (s *faultySink) snapshot() (order []string, dups []string, poisoned int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for subj, n := range s.count {
		if n > 1 {
			dups = append(dups, subj)
		}
	}
	return append([]string(nil), s.order...), dups, s.poisoned
}

func (e *env) putKey(t *testing.T, pk string) {
	t.Helper()
	if _, err := e.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
	}}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) deadLetters(t *testing.T) int {
	t.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	return n
}

// pollerTo is e.poller sending to url, attempts attempts per round.
func (e *env) pollerTo(t *testing.T, worker, url string, attempts int) *Poller {
	t.Helper()
	p := e.poller(t, worker, false)
	sender, err := cloudevent.NewSender(cloudevent.SenderConfig{Sink: url, MaxAttempts: attempts, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, AttemptTimeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Sender = sender
	return p
}

// waitSink waits until the sink accepted n records (and no record twice).
func waitSink(t *testing.T, s *faultySink, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		order, dups, _ := s.snapshot()
		if len(dups) > 0 {
			t.Fatalf("delivered twice: %v", dups)
		}
		if len(order) >= n {
			return order
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the sink accepted %d records, want %d", within, len(order), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPoisonAmongFifty: one record the sink fails with 500 on every delivery, among 50.
// After DeliveryRounds rounds (each the Sender's own attempts, with backoff) it goes to
// the dead-letter queue and the shard moves on: the 49 others are delivered, in order.
// A sink that gives no answer at all is down, not refusing: its records wait and are
// delivered once it is back, and nothing is dead-lettered meanwhile.
func TestPoisonAmongFifty(t *testing.T) {
	e := setup(t)
	sink := &faultySink{count: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	const attempts = 3
	p := e.pollerTo(t, "a", srv.URL, attempts)
	p.BatchSize = 10
	var want []string
	for i := 1; i <= 50; i++ {
		pk := fmt.Sprintf("sub-%02d", i)
		if i == 11 {
			pk = "poison-11"
		} else {
			want = append(want, "pk="+pk)
		}
		e.putKey(t, pk)
	}
	stop := start(p)
	defer stop()
	got := waitSink(t, sink, 49, 30*time.Second)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delivered %v, want the 49 in order %v", got, want)
	}
	if _, _, poisoned := sink.snapshot(); poisoned != p.DeliveryRounds*attempts {
		t.Errorf("the poison was sent %d times, want %d rounds of %d attempts", poisoned, p.DeliveryRounds, attempts)
	}
	l, receipt := e.onlyDeadLetter(t)
	if l.SinkStatus != http.StatusInternalServerError || l.Event == nil || l.Event.Subject() != "pk=poison-11" || !strings.Contains(l.Reason, "DELIVERY_ROUNDS") {
		t.Errorf("dead letter = %+v, want the poison, status 500, the reason naming DELIVERY_ROUNDS", l)
	}
	if _, err := e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(e.queueURL), ReceiptHandle: receipt}); err != nil {
		t.Fatal(err)
	}

	// The sink goes down (hangs up without an answer) for longer than every round of
	// the poison took: the records wait, nothing is dead-lettered, and all arrive once
	// it is back.
	sink.down.Store(true)
	for i := 51; i <= 53; i++ {
		e.putKey(t, fmt.Sprintf("sub-%02d", i))
	}
	time.Sleep(3 * time.Second)
	if order, _, _ := sink.snapshot(); len(order) != 49 {
		t.Fatalf("the sink is down, yet %d records were accepted", len(order)-49)
	}
	sink.down.Store(false)
	waitSink(t, sink, 52, 15*time.Second)
	if n := e.deadLetters(t); n != 0 {
		t.Errorf("%d records were dead-lettered while the sink gave no answer; want 0", n)
	}
}

// TestPausedWorkerSendsNoStaleRecord runs dynamodb-source as a process, stops it with
// SIGSTOP (as a long GC pause or a frozen VM would) until its lease has lapsed, lets a
// second worker take the shard over and deliver new records, then lets the first one
// run again: it must notice that its lease is gone before it sends anything, so every
// record reaches the sink exactly once.
func TestPausedWorkerSendsNoStaleRecord(t *testing.T) {
	e := setup(t)
	sink := &faultySink{count: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	bin := filepath.Join(t.TempDir(), "dynamodb-source")
	build := exec.Command("go", "build", "-o", bin, "github.com/serverless-architect/serverless-architect/services/dynamodb-source")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := &logtest.Buffer{}
	a := exec.Command(bin)
	mport := porttest.Free(t)
	a.Env = []string{
		"PATH=" + os.Getenv("PATH"), "PORT=" + strconv.Itoa(porttest.Free(t)), "METRICS_PORT=" + strconv.Itoa(mport), "HOST=127.0.0.1", "DRAIN_DELAY=0s",
		"AWS_REGION=" + mototest.Region, "AWS_ENDPOINT_URL=" + mototest.Endpoint(t), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"K_SINK=" + srv.URL, "TABLE_NAME=" + e.table, "CHECKPOINT_TABLE=" + e.cpTable, "DEAD_LETTER_QUEUE_URL=" + e.queueURL,
		"WORKER_ID=paused", "LEASE_DURATION=2s", "POLL_INTERVAL=50ms", "LOG_LEVEL=debug",
	}
	a.Stdout, a.Stderr = out, out
	childproc.Prepare(a, false)
	if _, err := childproc.Start(a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = a.Process.Signal(syscall.SIGCONT)
		_ = a.Process.Kill()
		_ = a.Wait()
		if t.Failed() {
			t.Logf("paused worker's output:\n%s", out.String())
		}
	})
	e.putKey(t, "before-pause")
	waitSink(t, sink, 1, 30*time.Second)
	// The process serves its delivery on /metrics (svcmain, with the series Build made).
	fams := metricstest.WaitValue(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), "dynamodb_source_records_total", map[string]string{"outcome": "delivered"}, 1)
	if n, _ := fams.Value("dynamodb_source_shards_leased", nil); n != 1 {
		t.Errorf("the process's /metrics: shards leased = %v, want 1", n)
	}
	// Paused between a send and its checkpoint, any worker would resend that record (at
	// least once): pause it only once the checkpoint is written.
	store := NewLeaseStore(e.db, e.cpTable, "observer", time.Second, nil)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		arn, err := (&Poller{Tables: e.db, Table: e.table}).streamARN(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		shards, err := Shards(context.Background(), e.streams, arn)
		if err != nil || len(shards) != 1 {
			t.Fatalf("shards: %v, %v", shards, err)
		}
		cp, err := store.Get(context.Background(), arn, aws.ToString(shards[0].ShardId))
		if err != nil {
			t.Fatal(err)
		}
		if cp.Sequence != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first record was never checkpointed")
		}
	}

	if err := a.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past the 2s lease
	stopB := start(e.pollerTo(t, "successor", srv.URL, 3))
	defer stopB()
	for i := 1; i <= 5; i++ {
		e.putKey(t, fmt.Sprintf("while-paused-%d", i))
	}
	waitSink(t, sink, 6, 15*time.Second)

	if err := a.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "lost the shard's lease") {
		if time.Now().After(deadline) {
			t.Fatal("the resumed worker never noticed that its lease was gone")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // anything it would send has arrived by now
	order, dups, _ := sink.snapshot()
	if len(dups) > 0 || len(order) != 6 {
		t.Errorf("after the paused worker resumed: %d deliveries, delivered twice: %v; want each of the 6 records once", len(order), dups)
	}
}
