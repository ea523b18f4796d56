package s3event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// canonical is an event (or golden file) as generic JSON, so formatting does not matter.
func canonical(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewEventMatchesGolden(t *testing.T) {
	recs, test, err := Parse(readFile(t, "put.notification.json"))
	if err != nil || test || len(recs) != 1 {
		t.Fatalf("Parse = %d records, test %v, err %v; want 1 record", len(recs), test, err)
	}
	e, err := NewEvent(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(canonical(t, readFile(t, "put.event.json")), canonical(t, got)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}

	// And back: the consumer's view.
	var decoded cloudevents.Event
	if err := json.Unmarshal(readFile(t, "put.event.json"), &decoded); err != nil {
		t.Fatal(err)
	}
	rec, key, err := FromEvent(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if key != "uploads/my holiday+1 été.jpg" || rec.S3.Bucket.Name != "media" || rec.S3.Object.Size != 1024 {
		t.Errorf("FromEvent = key %q, bucket %q, size %d", key, rec.S3.Bucket.Name, rec.S3.Object.Size)
	}
	if !IsObjectCreated(decoded) {
		t.Error("IsObjectCreated = false for ObjectCreated:Put")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantTest bool
		wantN    int
		wantErr  error
	}{
		{"test event", string(readFile(t, "test.notification.json")), true, 0, nil},
		{"not json", "hello", false, 0, ErrNotNotification},
		{"json without records", `{"foo":1}`, false, 0, ErrNotNotification},
		{"record without key", `{"Records":[{"eventName":"ObjectCreated:Put","eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{}}}]}`, false, 0, ErrNotNotification},
		{"two records", `{"Records":[` +
			`{"eventName":"ObjectCreated:Put","eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{"key":"a"}}},` +
			`{"eventName":"ObjectRemoved:Delete","eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{"key":"b"}}}]}`, false, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, test, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if test != tt.wantTest || len(recs) != tt.wantN {
				t.Errorf("Parse = %d records, test %v; want %d, %v", len(recs), test, tt.wantN, tt.wantTest)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"uploads/a.jpg", "uploads/a.jpg"},
		{"uploads/my+photo.jpg", "uploads/my photo.jpg"},
		{"uploads/c%2B%2B.jpg", "uploads/c++.jpg"},
		{"uploads/100%25.png", "uploads/100%.png"},
		{"uploads/%C3%A9t%C3%A9.gif", "uploads/été.gif"},
		{"uploads/a%3Ab%2Fc", "uploads/a:b/c"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := DecodeKey(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeKey (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := DecodeKey("bad%zz"); err == nil {
		t.Error("DecodeKey accepted a bad escape")
	}
}

func TestIDFallsBackWithoutRequestIDs(t *testing.T) {
	r := Record{EventTime: "2026-11-25T17:55:48.500124", S3: Entity{Object: Object{Key: "uploads/a.jpg", Sequencer: "0A"}}}
	r.S3.Bucket.Name = "media"
	if diff := cmp.Diff("media/uploads/a.jpg/0A", r.ID()); diff != "" {
		t.Errorf("ID (-want +got):\n%s", diff)
	}
	r.S3.Object.Sequencer = ""
	if diff := cmp.Diff("media/uploads/a.jpg/2026-11-25T17:55:48.500124", r.ID()); diff != "" {
		t.Errorf("ID without sequencer (-want +got):\n%s", diff)
	}
}

func TestTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2025-03-04T05:06:07.089Z", "2025-03-04T05:06:07.089Z"},
		{"2026-11-25T17:55:48.500124", "2026-11-25T17:55:48.500124Z"}, // moto: UTC, no zone
		{"", "0001-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Record{EventTime: tt.in}.Time().Format(time.RFC3339Nano)); diff != "" {
				t.Errorf("Time (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromEventRejectsOtherTypes(t *testing.T) {
	e := cloudevents.NewEvent()
	e.SetType("com.amazonaws.dynamodb.INSERT")
	if _, _, err := FromEvent(e); err == nil {
		t.Error("FromEvent accepted a DynamoDB event")
	}
}
