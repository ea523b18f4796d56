package source

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

// Event returns the CloudEvent of rec, a record of the stream streamARN: the project's
// DynamoDB event contract (internal/cloudevent). The region and table in its source come
// from the stream ARN, not from the record's awsRegion, which moto always sets to
// us-east-1.
func Event(rec types.Record, streamARN string) (cloudevents.Event, error) {
	region, table, err := cloudevent.TableFromStreamARN(streamARN)
	if err != nil {
		return cloudevents.Event{}, err
	}
	return cloudevent.NewDynamoDBEvent(Record(rec, streamARN, region), region, table)
}

// Record converts an SDK stream record to the Lambda-shaped record the events carry.
func Record(rec types.Record, streamARN, region string) cloudevent.DynamoDBRecord {
	out := cloudevent.DynamoDBRecord{
		EventID:        aws.ToString(rec.EventID),
		EventName:      string(rec.EventName),
		EventVersion:   aws.ToString(rec.EventVersion),
		EventSource:    aws.ToString(rec.EventSource),
		AWSRegion:      region,
		EventSourceARN: streamARN,
	}
	if out.EventSource == "" {
		out.EventSource = "aws:dynamodb"
	}
	if d := rec.Dynamodb; d != nil {
		out.DynamoDB = cloudevent.StreamRecord{
			Keys:           Image(d.Keys),
			NewImage:       Image(d.NewImage),
			OldImage:       Image(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.DynamoDB.ApproximateCreationDateTime = cloudevent.EpochTime{Time: d.ApproximateCreationDateTime.UTC()}
		}
	}
	return out
}

// Image converts an SDK item or key to its Lambda JSON shape; nil stays nil.
func Image(in map[string]types.AttributeValue) cloudevent.Image {
	if in == nil {
		return nil
	}
	out := make(cloudevent.Image, len(in))
	for k, v := range in {
		out[k] = Value(v)
	}
	return out
}

// Value converts one SDK attribute value.
func Value(v types.AttributeValue) cloudevent.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return cloudevent.AttributeValue{S: aws.String(v.Value)}
	case *types.AttributeValueMemberN:
		return cloudevent.AttributeValue{N: aws.String(v.Value)}
	case *types.AttributeValueMemberB:
		return cloudevent.AttributeValue{B: v.Value}
	case *types.AttributeValueMemberSS:
		return cloudevent.AttributeValue{SS: v.Value}
	case *types.AttributeValueMemberNS:
		return cloudevent.AttributeValue{NS: v.Value}
	case *types.AttributeValueMemberBS:
		return cloudevent.AttributeValue{BS: v.Value}
	case *types.AttributeValueMemberBOOL:
		return cloudevent.AttributeValue{BOOL: aws.Bool(v.Value)}
	case *types.AttributeValueMemberNULL:
		return cloudevent.AttributeValue{NULL: aws.Bool(v.Value)}
	case *types.AttributeValueMemberM:
		return cloudevent.AttributeValue{M: Image(v.Value)}
	case *types.AttributeValueMemberL:
		l := make([]cloudevent.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = Value(e)
		}
		return cloudevent.AttributeValue{L: l}
	default:
		// A member type newer than this code: keep the record flowing, visibly.
		return cloudevent.AttributeValue{S: aws.String(fmt.Sprintf("unsupported attribute type %T", v))}
	}
}
