package source

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

// fakeQueue hands out its messages once and records what the relay does with them.
type fakeQueue struct {
	mu         sync.Mutex
	pending    []types.Message
	deleted    []string
	visibility map[string][]int32 // receipt -> ChangeMessageVisibility timeouts
}

func newFakeQueue(bodies ...string) *fakeQueue {
	q := &fakeQueue{visibility: map[string][]int32{}}
	for i, b := range bodies {
		id := fmt.Sprint(i)
		q.pending = append(q.pending, types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("r" + id), Body: aws.String(b)})
	}
	return q
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	n := min(int(in.MaxNumberOfMessages), len(q.pending))
	out := q.pending[:n]
	q.pending = q.pending[n:]
	q.mu.Unlock()
	if n == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &sqs.ReceiveMessageOutput{Messages: out}, nil
}

func (q *fakeQueue) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted = append(q.deleted, aws.ToString(in.ReceiptHandle))
	return &sqs.DeleteMessageOutput{}, nil
}

func (q *fakeQueue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := aws.ToString(in.ReceiptHandle)
	q.visibility[r] = append(q.visibility[r], in.VisibilityTimeout)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// fakeSink answers with result(subject), after delay.
type fakeSink struct {
	delay  time.Duration
	result func(subject string) error
	mu     sync.Mutex
	got    []string
}

func (s *fakeSink) Send(ctx context.Context, e cloudevents.Event) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := s.result(e.Subject()); err != nil {
		return err
	}
	s.mu.Lock()
	s.got = append(s.got, e.Subject())
	s.mu.Unlock()
	return nil
}

func notification(keys ...string) string {
	s := `{"Records":[`
	for i, k := range keys {
		if i > 0 {
			s += ","
		}
		s += `{"eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2025-01-01T00:00:00Z","eventName":"ObjectCreated:Put",` +
			`"responseElements":{"x-amz-request-id":"R` + fmt.Sprint(i) + `","x-amz-id-2":"X"},` +
			`"s3":{"bucket":{"name":"media"},"object":{"key":"` + k + `","size":1}}}`
	}
	return s + `]}`
}

// runUntil runs the relay until cond holds (or 5 s pass), then stops it.
func runUntil(t *testing.T, r *Relay, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func testOptions() Options {
	return Options{QueueURL: "q", WaitTime: time.Second, Visibility: 3 * time.Second, BatchSize: 10, Concurrency: 4, PoisonDelay: 7 * time.Second, DrainTimeout: 2 * time.Second}
}

func TestRelay(t *testing.T) {
	refuse := func(string) error { return cloudevent.Permanent(&cloudevent.StatusError{Status: 400}) }
	flaky := func(string) error { return errors.New("sink answered 503, gave up") }
	tests := []struct {
		name           string
		bodies         []string
		result         func(string) error
		wantDelivered  []string
		wantDeleted    []string
		wantVisibility map[string][]int32
	}{
		{
			name:          "delivered messages are deleted; keys decoded",
			bodies:        []string{notification("uploads/a+b.jpg"), notification("uploads/c%2B%2B.png", "uploads/d.gif")},
			result:        func(string) error { return nil },
			wantDelivered: []string{"uploads/a b.jpg", "uploads/c++.png", "uploads/d.gif"},
			wantDeleted:   []string{"r0", "r1"},
		},
		{
			name:        "the test event is deleted without a delivery",
			bodies:      []string{`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"media"}`},
			result:      func(string) error { return nil },
			wantDeleted: []string{"r0"},
		},
		{
			name:           "a body that is not a notification is left for the DLQ",
			bodies:         []string{`{"hello":"world"}`, "garbage"},
			result:         func(string) error { return nil },
			wantVisibility: map[string][]int32{"r0": {7}, "r1": {7}},
		},
		{
			name:           "a 4xx from the sink leaves the message for the DLQ",
			bodies:         []string{notification("uploads/a.jpg")},
			result:         refuse,
			wantVisibility: map[string][]int32{"r0": {7}},
		},
		{
			name:   "a retryable failure leaves the message untouched for a retry",
			bodies: []string{notification("uploads/a.jpg")},
			result: flaky,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newFakeQueue(tt.bodies...)
			sink := &fakeSink{result: tt.result}
			r, err := New(q, sink, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			handled := func() bool {
				q.mu.Lock()
				defer q.mu.Unlock()
				return len(q.pending) == 0 && len(q.deleted)+len(q.visibility) >= len(tt.wantDeleted)+len(tt.wantVisibility)
			}
			runUntil(t, r, handled)
			q.mu.Lock()
			defer q.mu.Unlock()
			sink.mu.Lock()
			defer sink.mu.Unlock()
			sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
			if diff := cmp.Diff(tt.wantDelivered, sink.got, sorted); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDeleted, q.deleted, sorted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			if tt.wantVisibility == nil {
				tt.wantVisibility = map[string][]int32{}
			}
			if diff := cmp.Diff(tt.wantVisibility, q.visibility); diff != "" {
				t.Errorf("visibility changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeartbeatExtendsVisibilityWhileDelivering(t *testing.T) {
	q := newFakeQueue(notification("uploads/slow.jpg"))
	sink := &fakeSink{delay: 2500 * time.Millisecond, result: func(string) error { return nil }}
	r, err := New(q, sink, testOptions()) // visibility 3 s: a heartbeat each second
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, r, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.deleted) == 1 })
	q.mu.Lock()
	defer q.mu.Unlock()
	if diff := cmp.Diff(map[string][]int32{"r0": {3, 3}}, q.visibility); diff != "" {
		t.Errorf("heartbeats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r0"}, q.deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

func TestShutdownMidDeliveryOffersTheMessageAgain(t *testing.T) {
	q := newFakeQueue(notification("uploads/slow.jpg"))
	sink := &fakeSink{delay: time.Hour, result: func(string) error { return nil }}
	o := testOptions()
	o.DrainTimeout = 100 * time.Millisecond
	r, err := New(q, sink, o)
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, r, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.pending) == 0 })
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.deleted) != 0 {
		t.Errorf("deleted %v, want nothing deleted", q.deleted)
	}
	if diff := cmp.Diff(map[string][]int32{"r0": {0}}, q.visibility); diff != "" {
		t.Errorf("visibility changes (-want +got):\n%s", diff)
	}
}

func TestNewChecksOptions(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"no queue":                        func(o *Options) { o.QueueURL = "" },
		"wait over 20s":                   func(o *Options) { o.WaitTime = 21 * time.Second },
		"visibility 1s":                   func(o *Options) { o.Visibility = time.Second },
		"batch of 11":                     func(o *Options) { o.BatchSize = 11 },
		"no concurrency":                  func(o *Options) { o.Concurrency = 0 },
		"negative poison":                 func(o *Options) { o.PoisonDelay = -time.Second },
		"negative queue metrics interval": func(o *Options) { o.AttributesInterval = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			o := testOptions()
			mod(&o)
			if _, err := New(newFakeQueue(), &fakeSink{}, o); err == nil {
				t.Error("New accepted bad options")
			}
		})
	}
}
