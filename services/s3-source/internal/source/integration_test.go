package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestRelayAgainstMoto: a real bucket notifies a real queue; the relay delivers one
// event per upload (keys decoded), skips the test event and empties the queue.
func TestRelayAgainstMoto(t *testing.T) {
	ctx := context.Background()
	s3c, q, name, cq := notifyingBucket(t)
	var mu sync.Mutex
	var subjects []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cloudevent.Decode(r.Context(), r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		subjects = append(subjects, e.Subject())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	sender, err := cloudevent.NewSender(cloudevent.SenderConfig{Sink: sink.URL, MaxAttempts: 3, AttemptTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"uploads/a b.jpg", "uploads/c+d.png", "uploads/e%f.gif"}
	for _, k := range keys {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(q, sender, Options{QueueURL: aws.ToString(cq.QueueUrl), WaitTime: time.Second, Visibility: 5 * time.Second,
		BatchSize: 10, Concurrency: 2, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(subjects)
		mu.Unlock()
		if n >= len(keys) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the last delete land
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	slices.Sort(subjects)
	mu.Unlock()
	if diff := cmp.Diff(keys, subjects); diff != "" {
		t.Errorf("subjects delivered (-want +got):\n%s", diff)
	}
	a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: cq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Attributes["ApproximateNumberOfMessages"] != "0" || a.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("queue not empty after delivery: %v", a.Attributes)
	}
}

// notifyingBucket makes a bucket in moto that notifies a queue of its own of every
// object created, and returns the clients, the bucket's (and queue's) name and the queue.
func notifyingBucket(t *testing.T) (*s3.Client, *sqs.Client, string, *sqs.CreateQueueOutput) {
	t.Helper()
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	name := mototest.Name("relay")
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	q := sqs.NewFromConfig(cfg)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(name),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String("arn:aws:sqs:us-east-1:123456789012:" + name), Events: []s3types.Event{"s3:ObjectCreated:*"},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s3c, q, name, cq
}

// TestMetricsAgainstMoto: two uploads, moto's s3:TestEvent and a message that is no S3
// notification, all a second old when the relay starts: the outcomes are counted, each
// message's age at receipt is observed (moto sends SentTimestamp), and the queue's
// counts, polled with GetQueueAttributes, show the poison message in flight (invisible
// for POISON_DELAY) and nothing waiting.
func TestMetricsAgainstMoto(t *testing.T) {
	ctx := context.Background()
	s3c, q, name, cq := notifyingBucket(t)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer sink.Close()
	sender, err := cloudevent.NewSender(cloudevent.SenderConfig{Sink: sink.URL, MaxAttempts: 3, AttemptTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"uploads/a.jpg", "uploads/b.jpg"} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String("not a notification")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	reg := metrics.New()
	r, err := New(q, sender, Options{QueueURL: aws.ToString(cq.QueueUrl), WaitTime: time.Second, Visibility: 5 * time.Second,
		BatchSize: 10, Concurrency: 4, PoisonDelay: 60 * time.Second, DrainTimeout: 5 * time.Second,
		Metrics: NewMetrics(reg), Attributes: q, AttributesInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	// One scrape with every outcome counted and the queue's counts polled after them: the
	// queue gauge, read every 100 ms, may show a moment with one message in flight and
	// three still waiting.
	fams := metricstest.WaitAll(t, srv.URL,
		metricstest.Want{Name: "s3_source_messages_total", Labels: map[string]string{"outcome": "delivered"}, Value: 2},
		metricstest.Want{Name: "s3_source_messages_total", Labels: map[string]string{"outcome": "skipped"}, Value: 1},
		metricstest.Want{Name: "s3_source_messages_total", Labels: map[string]string{"outcome": "poison"}, Value: 1},
		metricstest.Want{Name: "s3_source_queue_messages", Labels: map[string]string{"state": "in_flight"}, Value: 1},
		metricstest.Want{Name: "s3_source_queue_messages", Labels: map[string]string{"state": "visible"}, Value: 0})
	if got, _ := fams.Value("s3_source_messages_total", map[string]string{"outcome": "failed"}); got != 0 {
		t.Errorf("s3_source_messages_total{outcome=\"failed\"} = %v, want 0", got)
	}
	if n, _ := fams.Value("s3_source_message_age_seconds", nil); n != 4 {
		t.Errorf("message ages observed: %v, want 4", n)
	}
	if age, _ := fams.Value("s3_source_received_message_age_seconds", nil); age < 1 || age > 60 {
		t.Errorf("oldest received message age = %v s, want the second and more the messages waited", age)
	}
}
