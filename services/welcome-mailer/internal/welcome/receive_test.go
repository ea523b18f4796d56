package welcome_test

import (
	"context"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/api"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
)

// TestReceive runs welcome-mailer's edge, api.Receive, the function the service's
// HTTP handler calls: a confirmed subscriber's event sends one welcome email (a
// redelivery none); events with no subscriber to act on are acknowledged without
// touching the ledger or SES; a record that is not a subscriber, and an address no
// retry can make valid, are refused for good.
func TestReceive(t *testing.T) {
	ctx := context.Background()
	m := &welcome.FakeMailer{}
	h := welcome.NewTestHandler(welcome.NewMemLedger(time.Now), m, time.Now)
	for range 2 {
		if err := api.Receive(ctx, h.Log, h, welcome.ConfirmedFor(t, "fay@example.com")); err != nil {
			t.Fatalf("a confirmed subscriber: %v", err)
		}
	}
	if n := welcome.MailerCount(m); n != 1 {
		t.Errorf("emails after a confirmed subscriber's event and its redelivery = %d, want 1", n)
	}

	other := cloudevents.NewEvent()
	other.SetID("1")
	other.SetSource("x")
	other.SetType("com.amazonaws.s3.ObjectCreated:Put")
	remove := welcome.Golden(t, "dynamodb-modify.json")
	rec, _, _ := cloudevent.ParseDynamoDBEvent(remove)
	rec.EventName = "REMOVE"
	_ = remove.SetData(cloudevents.ApplicationJSON, rec)
	garbled := welcome.Golden(t, "dynamodb-insert.json")
	_ = garbled.SetData(cloudevents.ApplicationJSON, "not a record")
	noImage := welcome.Golden(t, "dynamodb-insert.json")
	rec, _, _ = cloudevent.ParseDynamoDBEvent(noImage)
	rec.DynamoDB.NewImage = nil
	_ = noImage.SetData(cloudevents.ApplicationJSON, rec)

	// No ledger and no mailer: acting on any of these would panic.
	bare := welcome.NewTestHandler(nil, nil, time.Now)
	for _, tc := range []struct {
		name      string
		event     cloudevents.Event
		permanent bool
	}{
		{"another event type", other, false},
		{"a REMOVE record", remove, false},
		{"data that is not a record", garbled, true},
		{"a record without NewImage", noImage, true},
		{"an address no retry makes valid", welcome.ConfirmedFor(t, "ü@example.com"), true},
	} {
		err := api.Receive(ctx, bare.Log, bare, tc.event)
		if tc.permanent != cloudevent.IsPermanent(err) || (!tc.permanent && err != nil) {
			t.Errorf("%s: Receive = %v, want permanent %v", tc.name, err, tc.permanent)
		}
	}
}
