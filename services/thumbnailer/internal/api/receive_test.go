package api

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/photo"
)

// s3Event is the CloudEvent s3-source makes of one S3 notification record.
func s3Event(t *testing.T, name, key string) cloudevents.Event {
	t.Helper()
	rec := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","awsRegion":"us-east-1","eventName":%q,"eventTime":"2025-01-01T00:00:00Z",`+
		`"s3":{"bucket":{"name":"media"},"object":{"key":%q,"sequencer":"01"}}}]}`, name, key)
	recs, _, err := s3event.Parse([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s3event.NewEvent(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReceive: the receiver hands only ObjectCreated events to the photo handler, and
// turns what the handler can never process, and an S3 event without a record, into a
// permanent refusal (400, no redelivery). The photo handler has no adapters: none of
// these events may reach them.
func TestReceive(t *testing.T) {
	cfg := Config{Widths: []int{256}, Quality: 82, MaxPixels: 50e6, MaxImageBytes: 25 << 20,
		MemoryBudget: 256 << 20, ProbeBytes: 256 << 10, UploadsPrefix: "uploads/", ThumbnailsPrefix: "thumbnails/"}
	ph, err := photo.New(nil, nil, cfg.Options(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	broken := s3Event(t, "ObjectCreated:Put", "uploads/P1.jpg")
	if err := broken.SetData(cloudevents.ApplicationJSON, map[string]any{"Records": []any{}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		event         cloudevents.Event
		wantPermanent bool
	}{
		{"a deletion is ignored", s3Event(t, "ObjectRemoved:Delete", "uploads/P1.jpg"), false},
		{"another prefix is ignored", s3Event(t, "ObjectCreated:Put", "thumbnails/P1.jpg"), false},
		{"a nested key is refused", s3Event(t, "ObjectCreated:Put", "uploads/a/P1.jpg"), true},
		{"an event without a record is refused", broken, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := receive(context.Background(), ph, tc.event)
			if tc.wantPermanent != cloudevent.IsPermanent(err) || (!tc.wantPermanent && err != nil) {
				t.Errorf("receive = %v, want permanent %v", err, tc.wantPermanent)
			}
		})
	}
}
