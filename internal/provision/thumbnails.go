package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The media bucket's notification pipeline (services/s3-source, services/thumbnailer).
const (
	// MediaNotificationID names the bucket's notification configuration this project owns.
	MediaNotificationID = "thumbnails"
	// UploadsPrefix is where blog-api puts uploaded photos.
	UploadsPrefix = "uploads/"
	// DefaultMaxReceiveCount is how many times a message is received before the
	// redrive policy moves it to the dead-letter queue.
	DefaultMaxReceiveCount = 5
)

// ThumbnailResources are the queue the media bucket notifies, its dead-letter queue, and
// the bucket notification. They follow BlogResources, which records the media bucket.
func ThumbnailResources(prefix string) []Resource {
	return []Resource{
		Queue{QueueName: prefix + "media-events-dlq", DeadLetter: true},
		Queue{QueueName: prefix + "media-events", MaxReceiveCount: DefaultMaxReceiveCount},
		MediaNotification{},
	}
}

// Queue is an SQS queue, encrypted with SQS-managed keys. The dead-letter queue
// (DeadLetter) keeps messages 14 days and records itself in MediaEventsDLQ*; the main
// queue has a redrive policy to the recorded dead-letter queue and a queue policy that
// lets only the media bucket send to it, and records itself in MediaEventsQueue*.
type Queue struct {
	QueueName string
	// DeadLetter marks the dead-letter queue.
	DeadLetter bool
	// MaxReceiveCount is the redrive policy's count (the main queue).
	MaxReceiveCount int
}

var _ Resource = Queue{}

// Kind implements Resource.
func (Queue) Kind() string { return "sqs queue" }

// Name implements Resource.
func (q Queue) Name() string { return q.QueueName }

// Attributes are the queue attributes the project sets, from what out records.
func (q Queue) Attributes(region string, out *stack.Resources) (map[string]string, error) {
	attrs := map[string]string{"SqsManagedSseEnabled": "true"}
	if q.DeadLetter {
		attrs["MessageRetentionPeriod"] = strconv.Itoa(14 * 24 * 3600)
		return attrs, nil
	}
	if out.MediaEventsDLQARN == "" || out.MediaBucket == "" {
		return nil, errors.New("the dead-letter queue and the media bucket must be provisioned first")
	}
	policy, err := QueueSendPolicy(queueARN(region, out.MediaEventsDLQARN, q.QueueName), out.MediaBucket).Compact()
	if err != nil {
		return nil, err
	}
	attrs["VisibilityTimeout"] = "30"
	attrs["MessageRetentionPeriod"] = strconv.Itoa(4 * 24 * 3600)
	attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, out.MediaEventsDLQARN, q.MaxReceiveCount)
	attrs["Policy"] = policy
	return attrs, nil
}

// queueARN is the ARN of queue name in the account and region of a sibling queue's ARN.
func queueARN(region, siblingARN, name string) string {
	// arn:aws:sqs:<region>:<account>:<name>
	parts := strings.SplitN(siblingARN, ":", 6)
	if len(parts) != 6 {
		return "arn:aws:sqs:" + region + ":000000000000:" + name
	}
	parts[5] = name
	return strings.Join(parts, ":")
}

// QueueSendPolicy lets S3 send the notifications of bucket, and nothing else, to the
// queue.
func QueueSendPolicy(queueARN, bucket string) iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Sid:       "AllowMediaBucketNotifications",
		Effect:    iampolicy.Allow,
		Principal: iampolicy.Principal{"Service": {"s3.amazonaws.com"}},
		Action:    iampolicy.Values{"sqs:SendMessage"},
		Resource:  iampolicy.Values{queueARN},
		Condition: iampolicy.Condition{"ArnLike": {"aws:SourceArn": {"arn:aws:s3:::" + bucket}}},
	})
}

// Ensure implements Resource. The attributes are applied on every run, so a queue
// changed by hand is put back.
func (q Queue) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	attrs, err := q.Attributes(c.Region, out)
	if err != nil {
		return Outcome{}, err
	}
	created := false
	var url string
	got, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q.QueueName)})
	var missing *sqstypes.QueueDoesNotExist
	switch {
	case errors.As(err, &missing):
		res, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{
			QueueName: aws.String(q.QueueName), Attributes: attrs,
			Tags: map[string]string{"project": "serverless-architect"},
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("create queue: %w", err)
		}
		url, created = aws.ToString(res.QueueUrl), true
	case err != nil:
		return Outcome{}, fmt.Errorf("get queue url: %w", err)
	default:
		url = aws.ToString(got.QueueUrl)
		if _, err := c.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
			return Outcome{}, fmt.Errorf("set queue attributes: %w", err)
		}
	}
	a, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("get queue arn: %w", err)
	}
	arn := a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if q.DeadLetter {
		out.MediaEventsDLQURL, out.MediaEventsDLQARN = url, arn
	} else {
		out.MediaEventsQueueURL, out.MediaEventsQueueARN = url, arn
	}
	return Outcome{Created: created, ID: url}, nil
}

// MediaNotification makes the media bucket notify the media-events queue of every
// object created under uploads/. Other notification configurations of the bucket are
// kept.
type MediaNotification struct{}

var _ Resource = MediaNotification{}

// Kind implements Resource.
func (MediaNotification) Kind() string { return "s3 bucket notification" }

// Name implements Resource.
func (MediaNotification) Name() string { return MediaNotificationID }

// Config is the queue configuration the bucket gets.
func (MediaNotification) Config(queueARN string) s3types.QueueConfiguration {
	return s3types.QueueConfiguration{
		Id:       aws.String(MediaNotificationID),
		QueueArn: aws.String(queueARN),
		Events:   []s3types.Event{"s3:ObjectCreated:*"},
		Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{
			FilterRules: []s3types.FilterRule{{Name: s3types.FilterRuleNamePrefix, Value: aws.String(UploadsPrefix)}},
		}},
	}
}

// Ensure implements Resource. The configuration is written only when it differs, since
// every write makes S3 send an s3:TestEvent.
func (n MediaNotification) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.MediaBucket == "" || out.MediaEventsQueueARN == "" {
		return Outcome{}, errors.New("the media bucket and the media-events queue must be provisioned first")
	}
	cur, err := c.S3.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(out.MediaBucket)})
	if err != nil {
		return Outcome{}, fmt.Errorf("get notification configuration of %s: %w", out.MediaBucket, err)
	}
	want := n.Config(out.MediaEventsQueueARN)
	var others []s3types.QueueConfiguration
	found := false
	for _, qc := range cur.QueueConfigurations {
		if aws.ToString(qc.Id) != MediaNotificationID {
			others = append(others, qc)
			continue
		}
		found = sameQueueConfig(qc, want)
	}
	if found {
		return Outcome{ID: out.MediaBucket}, nil
	}
	_, err = c.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(out.MediaBucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{
			QueueConfigurations:          append(others, want),
			TopicConfigurations:          cur.TopicConfigurations,
			LambdaFunctionConfigurations: cur.LambdaFunctionConfigurations,
			EventBridgeConfiguration:     cur.EventBridgeConfiguration,
		},
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("put notification configuration on %s: %w", out.MediaBucket, err)
	}
	return Outcome{Created: true, ID: out.MediaBucket}, nil
}

// sameQueueConfig compares the parts of a queue configuration the project sets.
func sameQueueConfig(a, b s3types.QueueConfiguration) bool {
	rules := func(q s3types.QueueConfiguration) []string {
		var rs []string
		if q.Filter != nil && q.Filter.Key != nil {
			for _, r := range q.Filter.Key.FilterRules {
				rs = append(rs, strings.ToLower(string(r.Name))+"="+aws.ToString(r.Value))
			}
		}
		slices.Sort(rs)
		return rs
	}
	return aws.ToString(a.QueueArn) == aws.ToString(b.QueueArn) &&
		slices.Equal(a.Events, b.Events) && slices.EqualFunc(rules(a), rules(b), strings.EqualFold)
}
