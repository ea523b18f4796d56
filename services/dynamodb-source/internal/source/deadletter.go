package source

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

// DeadLetter is where records the sink refused for good go.
type DeadLetter interface {
	// Put stores a refused record: its event (nil when the record could not even be
	// turned into one), the raw record, and why.
	Put(ctx context.Context, l Letter) error
}

// Letter is one dead-lettered record, the JSON body of its SQS message.
type Letter struct {
	// Reason is the error that made the record undeliverable.
	Reason string `json:"reason"`
	// SinkStatus is the status the sink answered, 0 when it was not asked.
	SinkStatus int `json:"sinkStatus,omitempty"`
	// Sink is the URL that refused it.
	Sink string `json:"sink,omitempty"`
	// StreamARN and ShardID say where the record came from.
	StreamARN string `json:"streamArn"`
	ShardID   string `json:"shardId"`
	// SequenceNumber is the record's sequence number in its shard.
	SequenceNumber string `json:"sequenceNumber"`
	// Event is the refused CloudEvent in structured JSON, ready to be replayed.
	Event *cloudevents.Event `json:"event,omitempty"`
	// Record is the stream record, when no event could be made from it.
	Record *cloudevent.DynamoDBRecord `json:"record,omitempty"`
	// At is when the record was dead-lettered.
	At time.Time `json:"at"`
}

// SQSDeadLetter puts letters on an SQS queue.
type SQSDeadLetter struct {
	Client   SQSAPI
	QueueURL string
}

// SQSAPI is the part of the SQS client SQSDeadLetter uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ DeadLetter = (*SQSDeadLetter)(nil)

// Put implements DeadLetter. The message carries the event's id and type as message
// attributes, so a queue consumer can filter without parsing the body.
func (d *SQSDeadLetter) Put(ctx context.Context, l Letter) error {
	body, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	attrs := map[string]sqstypes.MessageAttributeValue{
		"sequenceNumber": {DataType: aws.String("String"), StringValue: aws.String(l.SequenceNumber)},
	}
	if l.Event != nil {
		attrs["ceId"] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(l.Event.ID())}
		attrs["ceType"] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(l.Event.Type())}
	}
	if _, err := d.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(d.QueueURL),
		MessageBody:       aws.String(string(body)),
		MessageAttributes: attrs,
	}); err != nil {
		return fmt.Errorf("send dead letter to %s: %w", d.QueueURL, err)
	}
	return nil
}
