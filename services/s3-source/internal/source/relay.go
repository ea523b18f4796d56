// Package source is s3-source's adapter: it relays S3 event notifications from an SQS
// queue to a CloudEvents sink: it long-polls the queue, turns each record into a CloudEvent (internal/s3event), sends
// it, and deletes the message only once the sink has accepted every event in it. While
// a message is being delivered its visibility timeout is extended (a heartbeat), so a
// slow sink does not make the queue hand the message to another replica.
//
// A message that can never be delivered (a body that is not an S3 notification, or an
// event the sink refuses with a 4xx) is not deleted: it is made visible again after
// PoisonDelay, and once it has been received maxReceiveCount times the queue's redrive
// policy moves it to the dead-letter queue. Nothing is ever dropped by this code.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/codes"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
)

// Queue is the part of the SQS API the relay uses; *sqs.Client implements it.
type Queue interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

var _ Queue = (*sqs.Client)(nil)

// Sink delivers one event; *cloudevent.Sender implements it. An error marked
// cloudevent.Permanent means the sink will never accept the event.
type Sink interface {
	Send(ctx context.Context, e cloudevents.Event) error
}

var _ Sink = (*cloudevent.Sender)(nil)

// Options tune a Relay.
type Options struct {
	// QueueURL is the queue S3 notifies.
	QueueURL string
	// WaitTime is the long-poll wait of one ReceiveMessage (at most 20s).
	WaitTime time.Duration
	// Visibility is the visibility timeout asked for on receive and renewed by the
	// heartbeat every Visibility/3 while a message is being delivered.
	Visibility time.Duration
	// BatchSize is the most messages one receive returns (1..10).
	BatchSize int
	// Concurrency is the most messages being delivered at once.
	Concurrency int
	// PoisonDelay is how long an undeliverable message stays invisible before the queue
	// offers it again (and, past maxReceiveCount, moves it to the dead-letter queue).
	PoisonDelay time.Duration
	// DrainTimeout bounds how long deliveries in progress may continue after Run's
	// context ends; messages still undelivered then are made visible again at once.
	DrainTimeout time.Duration
	// Log receives the relay's lines.
	Log *slog.Logger
	// Metrics counts the messages and their ages; nil counts nothing.
	Metrics *Metrics
	// Attributes, with Metrics and a positive AttributesInterval, is polled for the
	// queue's message counts every AttributesInterval while Run runs.
	Attributes         QueueAttributes
	AttributesInterval time.Duration
}

// Relay moves messages from a queue to a sink.
type Relay struct {
	q    Queue
	sink Sink
	o    Options
	// sleep waits after a failed receive; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// New returns a relay; it checks o.
func New(q Queue, sink Sink, o Options) (*Relay, error) {
	switch {
	case o.QueueURL == "":
		return nil, errors.New("relay: no queue URL")
	case o.WaitTime < 0 || o.WaitTime > 20*time.Second:
		return nil, fmt.Errorf("relay: wait time %s is not within 0s..20s", o.WaitTime)
	case o.Visibility < 3*time.Second || o.Visibility > 12*time.Hour:
		return nil, fmt.Errorf("relay: visibility timeout %s is not within 3s..12h", o.Visibility)
	case o.BatchSize < 1 || o.BatchSize > 10:
		return nil, fmt.Errorf("relay: batch size %d is not within 1..10", o.BatchSize)
	case o.Concurrency < 1:
		return nil, fmt.Errorf("relay: concurrency %d is below 1", o.Concurrency)
	case o.PoisonDelay < 0 || o.PoisonDelay > 12*time.Hour:
		return nil, fmt.Errorf("relay: poison delay %s is not within 0s..12h", o.PoisonDelay)
	case o.AttributesInterval < 0:
		return nil, fmt.Errorf("relay: queue metrics interval %s is negative (0 turns the polling off)", o.AttributesInterval)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Relay{q: q, sink: sink, o: o, sleep: cloudevent.Sleep}, nil
}

// Run relays until ctx ends, then lets deliveries in progress finish (up to
// DrainTimeout) and returns nil. Receive errors are logged and retried with backoff.
func (r *Relay) Run(ctx context.Context) error {
	// Deliveries get their own context: ending ctx stops receiving at once, but lets
	// what was received finish within DrainTimeout.
	dctx, cancelDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDeliveries()
	var wg sync.WaitGroup
	slots := make(chan struct{}, r.o.Concurrency)
	if r.o.Metrics != nil && r.o.Attributes != nil && r.o.AttributesInterval > 0 {
		wg.Go(func() { r.o.Metrics.watchQueue(ctx, r.o.Attributes, r.o.QueueURL, r.o.AttributesInterval, r.o.Log) })
	}
	failures := 0
	for ctx.Err() == nil {
		// Ask only for as many messages as there are free slots, so none waits
		// invisible in memory while its visibility runs out.
		free := r.o.Concurrency - len(slots)
		if free == 0 {
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
			}
			continue
		}
		out, err := r.q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.o.QueueURL),
			MaxNumberOfMessages:         int32(min(free, r.o.BatchSize)),
			WaitTimeSeconds:             int32(r.o.WaitTime / time.Second),
			VisibilityTimeout:           int32(r.o.Visibility / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp},
		})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			d := cloudevent.Backoff(500*time.Millisecond, 30*time.Second, failures, 1)
			r.o.Log.Error("receive from the queue failed; retrying", "queue", r.o.QueueURL, "err", err, "retryIn", d.String())
			_ = r.sleep(ctx, d) // a cancelled ctx ends the loop at its next check
			continue
		}
		failures = 0
		r.o.Metrics.received(out.Messages, time.Now())
		for _, m := range out.Messages {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				r.deliver(dctx, m)
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.o.DrainTimeout):
		r.o.Log.Warn("deliveries still running at the drain timeout; they are cancelled and their messages offered again")
		cancelDeliveries()
		<-done
	}
	return nil
}

// deliver handles one message: sends its events with a heartbeat running, then deletes
// it, or leaves it for a retry or the dead-letter queue.
func (r *Relay) deliver(ctx context.Context, m types.Message) {
	log := r.o.Log.With("messageId", aws.ToString(m.MessageId), "receiveCount", m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	records, test, err := s3event.Parse([]byte(aws.ToString(m.Body)))
	if test {
		log.Info("skipping the s3:TestEvent notification")
		r.delete(ctx, m, log)
		r.o.Metrics.handled("skipped")
		return
	}
	if err != nil {
		log.Error("poison message: not an S3 notification; left for the dead-letter queue", "err", err)
		r.setVisibility(m, r.o.PoisonDelay, log)
		r.o.Metrics.handled("poison")
		return
	}
	hctx, stopHeartbeat := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Go(func() { r.heartbeat(hctx, m, log) })
	err = r.send(ctx, records, log)
	stopHeartbeat()
	hb.Wait()
	switch {
	case err == nil:
		r.delete(ctx, m, log)
		r.o.Metrics.handled("delivered")
	case cloudevent.IsPermanent(err):
		log.Error("poison message: the sink refuses its event; left for the dead-letter queue", "err", err)
		r.setVisibility(m, r.o.PoisonDelay, log)
		r.o.Metrics.handled("poison")
	case ctx.Err() != nil:
		log.Warn("delivery cut short by shutdown; the message is offered again", "err", err)
		r.setVisibility(m, 0, log)
		r.o.Metrics.handled("interrupted")
	default:
		log.Error("delivery failed; the queue offers the message again after its visibility timeout", "err", err)
		r.o.Metrics.handled("failed")
	}
}

// send sends the events of every record, in order, stopping at the first failure.
func (r *Relay) send(ctx context.Context, records []s3event.Record, log *slog.Logger) error {
	for _, rec := range records {
		e, err := s3event.NewEvent(rec)
		if err != nil {
			return cloudevent.Permanent(err)
		}
		if err := r.sendTraced(ctx, e); err != nil {
			return err
		}
		log.Info("event delivered", "ceId", e.ID(), "ceType", e.Type(), "ceSubject", e.Subject())
	}
	return nil
}

// sendTraced sends e in a span of its own, which the event carries (the CloudEvents
// distributed-tracing extension) so the subscriber's work joins its trace.
func (r *Relay) sendTraced(ctx context.Context, e cloudevents.Event) error {
	ctx, span := cloudevent.StartProducer(ctx, &e)
	err := r.sink.Send(ctx, e)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}

// heartbeat renews the message's visibility every third of the timeout until ctx ends.
func (r *Relay) heartbeat(ctx context.Context, m types.Message, log *slog.Logger) {
	t := time.NewTicker(r.o.Visibility / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := r.q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl:          aws.String(r.o.QueueURL),
				ReceiptHandle:     m.ReceiptHandle,
				VisibilityTimeout: int32(r.o.Visibility / time.Second),
			})
			if err != nil && ctx.Err() == nil {
				log.Warn("could not extend the message's visibility; another receiver may get it too", "err", err)
			}
		}
	}
}

// delete removes a delivered message. It runs on a context of its own so that a
// shutdown does not turn a delivered event into a duplicate.
func (r *Relay) delete(ctx context.Context, m types.Message, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := r.q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.o.QueueURL), ReceiptHandle: m.ReceiptHandle})
	if err != nil {
		log.Error("could not delete a delivered message; it will be delivered again", "err", err)
	}
}

// setVisibility makes the message visible again after d.
func (r *Relay) setVisibility(m types.Message, d time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(r.o.QueueURL),
		ReceiptHandle:     m.ReceiptHandle,
		VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		log.Warn("could not change the message's visibility; it reappears when its timeout ends", "err", err)
	}
}
