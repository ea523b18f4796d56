package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestQueueAttributes(t *testing.T) {
	out := &stack.Resources{MediaBucket: "media", MediaEventsDLQARN: "arn:aws:sqs:eu-west-1:123456789012:p-media-events-dlq"}
	attrs, err := Queue{QueueName: "p-media-events", MaxReceiveCount: 5}.Attributes("eu-west-1", out)
	if err != nil {
		t.Fatal(err)
	}
	var redrive map[string]any
	if err := json.Unmarshal([]byte(attrs["RedrivePolicy"]), &redrive); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"deadLetterTargetArn": out.MediaEventsDLQARN, "maxReceiveCount": float64(5)}, redrive); diff != "" {
		t.Errorf("RedrivePolicy (-want +got):\n%s", diff)
	}
	var policy struct {
		Statement []struct {
			Principal map[string]string
			Action    string
			Resource  string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(attrs["Policy"]), &policy); err != nil {
		t.Fatalf("Policy %s: %v", attrs["Policy"], err)
	}
	if len(policy.Statement) != 1 {
		t.Fatalf("Policy has %d statements, want 1", len(policy.Statement))
	}
	st := policy.Statement[0]
	if st.Principal["Service"] != "s3.amazonaws.com" || st.Action != "sqs:SendMessage" ||
		st.Resource != "arn:aws:sqs:eu-west-1:123456789012:p-media-events" ||
		st.Condition["ArnLike"]["aws:SourceArn"] != "arn:aws:s3:::media" {
		t.Errorf("Policy = %s", attrs["Policy"])
	}
	if _, err := (Queue{QueueName: "q"}).Attributes("eu-west-1", &stack.Resources{}); err == nil {
		t.Error("main queue attributes without a DLQ: no error")
	}
}

func TestThumbnailResourcesAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	prefix := mototest.Name("thumbs") + "-"
	c := NewClients(cfg)
	bucket := bucketName(prefix + "media")
	if _, err := c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	rs := ThumbnailResources(prefix)
	run := func() (stack.Resources, []string) {
		var log bytes.Buffer
		out := stack.Resources{MediaBucket: bucket}
		for _, r := range rs {
			o, err := r.Ensure(ctx, c, &out)
			if err != nil {
				t.Fatalf("%s %s: %v", r.Kind(), r.Name(), err)
			}
			log.WriteString(strings.Fields(Line(r, o))[0] + " " + r.Kind() + "\n")
		}
		return out, lines(log.String())
	}
	first, got1 := run()
	if diff := cmp.Diff([]string{"created sqs queue", "created sqs queue", "created s3 bucket notification"}, got1); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	second, got2 := run()
	if diff := cmp.Diff([]string{"exists sqs queue", "exists sqs queue", "exists s3 bucket notification"}, got2); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second run's outputs differ (-first +second):\n%s", diff)
	}

	a, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(first.MediaEventsQueueURL), AttributeNames: []sqstypes.QueueAttributeName{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.Attributes["RedrivePolicy"], first.MediaEventsDLQARN) || a.Attributes["Policy"] == "" {
		t.Errorf("queue attributes = %v, want a redrive policy to %s and a policy", a.Attributes, first.MediaEventsDLQARN)
	}

	for _, key := range []string{"elsewhere/a.jpg", "uploads/b c.jpg"} {
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var bodies []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(strings.Join(bodies, ""), "ObjectCreated") {
		m, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(first.MediaEventsQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range m.Messages {
			bodies = append(bodies, aws.ToString(msg.Body))
		}
	}
	all := strings.Join(bodies, "\n")
	// moto encodes keys with quote_plus: "/" as %2F, " " as "+".
	if !strings.Contains(all, `"uploads%2Fb+c.jpg"`) || strings.Contains(all, "elsewhere") {
		t.Errorf("queue got %s; want the uploads/ object only", all)
	}
}
