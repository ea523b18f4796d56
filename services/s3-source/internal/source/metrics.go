package source

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueAttributes reads a queue's attributes; *sqs.Client implements it.
type QueueAttributes interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ QueueAttributes = (*sqs.Client)(nil)

// Metrics are the relay's Prometheus series (docs/observability.md). A nil *Metrics
// counts nothing.
//
// SQS's ApproximateAgeOfOldestMessage is a CloudWatch metric (namespace AWS/SQS), not
// a queue attribute: GetQueueAttributes refuses the name, in AWS as in moto. The relay
// measures what it can see instead: each message's age when it is received (from its
// SentTimestamp), and the queue's depth from the attributes SQS does return.
type Metrics struct {
	messages *prometheus.CounterVec
	age      prometheus.Histogram
	oldest   prometheus.Gauge
	queue    *prometheus.GaugeVec
}

// NewMetrics registers the relay's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "s3_source_messages_total",
			Help: "Queue messages handled, by outcome: delivered (every event accepted, the message deleted), skipped (s3:TestEvent), poison (not an S3 notification, or refused by the sink: left for the dead-letter queue), failed (offered again after its visibility timeout), interrupted (by shutdown, offered again at once).",
		}, []string{"outcome"}),
		age: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "s3_source_message_age_seconds",
			Help:    "Age of each message when the relay received it (now minus its SentTimestamp).",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400},
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "s3_source_received_message_age_seconds",
			Help: "Age of the oldest message in the last receive that returned any: a lower bound of the queue's oldest message age (CloudWatch's ApproximateAgeOfOldestMessage).",
		}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "s3_source_queue_messages",
			Help: "The queue's approximate message counts as GetQueueAttributes last reported them, by state (visible: waiting; in_flight: received, not yet deleted; delayed).",
		}, []string{"state"}),
	}
	reg.MustRegister(m.messages, m.age, m.oldest, m.queue)
	return m
}

func (m *Metrics) handled(outcome string) {
	if m != nil {
		m.messages.WithLabelValues(outcome).Inc()
	}
}

// received records the ages of a receive's messages at now.
func (m *Metrics) received(msgs []types.Message, now time.Time) {
	if m == nil || len(msgs) == 0 {
		return
	}
	oldest := time.Duration(-1)
	for _, msg := range msgs {
		ms, err := strconv.ParseInt(msg.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
		if err != nil {
			continue
		}
		age := max(now.Sub(time.UnixMilli(ms)), 0)
		m.age.Observe(age.Seconds())
		oldest = max(oldest, age)
	}
	if oldest >= 0 {
		m.oldest.Set(oldest.Seconds())
	}
}

// queueStates maps the attributes polled to the state label.
var queueStates = map[types.QueueAttributeName]string{
	types.QueueAttributeNameApproximateNumberOfMessages:           "visible",
	types.QueueAttributeNameApproximateNumberOfMessagesNotVisible: "in_flight",
	types.QueueAttributeNameApproximateNumberOfMessagesDelayed:    "delayed",
}

// watchQueue polls the queue's message counts every interval until ctx ends. A failed
// poll is logged at warn and leaves the gauges as they were.
func (m *Metrics) watchQueue(ctx context.Context, api QueueAttributes, url string, interval time.Duration, log *slog.Logger) {
	names := make([]types.QueueAttributeName, 0, len(queueStates))
	for n := range queueStates {
		names = append(names, n)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
		switch {
		case err == nil:
			for n, state := range queueStates {
				if v, err := strconv.ParseFloat(out.Attributes[string(n)], 64); err == nil {
					m.queue.WithLabelValues(state).Set(v)
				}
			}
		case ctx.Err() == nil:
			log.Warn("cannot read the queue's attributes for the metrics (does the role allow sqs:GetQueueAttributes?)", "queue", url, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
