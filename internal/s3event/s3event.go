// Package s3event reads the notifications S3 sends (to SQS, SNS or Lambda) and carries
// their records as CloudEvents, following the CloudEvents AWS S3 adapter mapping (see
// /work/shared/ARCHITECTURE.md, "Event contract"):
//
//	id       responseElements.x-amz-request-id + "." + responseElements.x-amz-id-2
//	source   eventSource + "." + awsRegion + "." + s3.bucket.name
//	type     "com.amazonaws.s3." + eventName     (com.amazonaws.s3.ObjectCreated:Put)
//	subject  s3.object.key, URL-decoded
//	time     eventTime
//	data     the S3 event record, exactly as S3 sent it (application/json)
//
// s3-source produces these events; the thumbnailer consumes them.
package s3event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// TypePrefix starts the type of every S3 event.
const TypePrefix = "com.amazonaws.s3."

// TestEventName is the notification S3 sends once when a notification configuration
// is written; it carries no record.
const TestEventName = "s3:TestEvent"

// Record is one record of an S3 notification, in the fields the mapping and the
// consumers use. Raw holds the record exactly as received.
type Record struct {
	EventVersion     string            `json:"eventVersion"`
	EventSource      string            `json:"eventSource"`
	AWSRegion        string            `json:"awsRegion"`
	EventTime        string            `json:"eventTime"`
	EventName        string            `json:"eventName"`
	ResponseElements map[string]string `json:"responseElements"`
	S3               Entity            `json:"s3"`
	Raw              json.RawMessage   `json:"-"`
}

// Entity is the "s3" part of a record.
type Entity struct {
	ConfigurationID string `json:"configurationId"`
	Bucket          struct {
		Name string `json:"name"`
		ARN  string `json:"arn"`
	} `json:"bucket"`
	Object Object `json:"object"`
}

// Object is the object a record is about. Key is as S3 sent it: URL-encoded the way
// HTML forms are (a space is "+", a "+" is "%2B"); Record.Key decodes it.
type Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"eTag"`
	VersionID string `json:"versionId"`
	Sequencer string `json:"sequencer"`
}

// Key is the object's key, URL-decoded.
func (r Record) Key() (string, error) { return DecodeKey(r.S3.Object.Key) }

// DecodeKey decodes a key as S3 notifications encode it: "+" is a space and %XX an
// escaped byte (so a literal "+" arrives as "%2B").
func DecodeKey(k string) (string, error) {
	d, err := url.QueryUnescape(k)
	if err != nil {
		return "", fmt.Errorf("decode object key %q: %w", k, err)
	}
	return d, nil
}

// ErrNotNotification marks a message body that is not an S3 notification.
var ErrNotNotification = errors.New("not an S3 event notification")

// Parse reads the body of a notification. A test notification (s3:TestEvent) gives no
// records and test true. A body that is not JSON, or has neither records nor the test
// event's shape, or a record missing the fields the mapping needs, is
// ErrNotNotification.
func Parse(body []byte) (records []Record, test bool, err error) {
	var n struct {
		Records []json.RawMessage `json:"Records"`
		Event   string            `json:"Event"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrNotNotification, err)
	}
	if n.Event == TestEventName && len(n.Records) == 0 {
		return nil, true, nil
	}
	if len(n.Records) == 0 {
		return nil, false, fmt.Errorf("%w: no Records", ErrNotNotification)
	}
	for i, raw := range n.Records {
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, false, fmt.Errorf("%w: record %d: %v", ErrNotNotification, i, err)
		}
		if r.EventName == "" || r.EventSource == "" || r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
			return nil, false, fmt.Errorf("%w: record %d lacks eventName, eventSource, bucket or key", ErrNotNotification, i)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return nil, false, fmt.Errorf("%w: record %d: %v", ErrNotNotification, i, err)
		}
		r.Raw = compact.Bytes()
		records = append(records, r)
	}
	return records, false, nil
}

// ID is the event id: the request ids S3 gave the request that caused the record. A
// record without them (moto sends none) gets bucket/key/sequencer, or
// bucket/key/eventTime without a sequencer either, which identify the change as well.
func (r Record) ID() string {
	req, id2 := r.ResponseElements["x-amz-request-id"], r.ResponseElements["x-amz-id-2"]
	if req != "" && id2 != "" {
		return req + "." + id2
	}
	if req != "" {
		return req
	}
	change := r.S3.Object.Sequencer
	if change == "" {
		change = r.EventTime
	}
	return r.S3.Bucket.Name + "/" + r.S3.Object.Key + "/" + change
}

// timeLayouts are the eventTime forms seen: S3's (RFC 3339 with milliseconds and Z) and
// moto's (microseconds, no zone, meaning UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

// Time is the record's eventTime, or the zero time when absent or unreadable.
func (r Record) Time() time.Time {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, r.EventTime); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// NewEvent returns the CloudEvent of r.
func NewEvent(r Record) (cloudevents.Event, error) {
	key, err := r.Key()
	if err != nil {
		return cloudevents.Event{}, err
	}
	e := cloudevents.NewEvent()
	e.SetID(r.ID())
	e.SetSource(r.EventSource + "." + r.AWSRegion + "." + r.S3.Bucket.Name)
	e.SetType(TypePrefix + r.EventName)
	e.SetSubject(key)
	if t := r.Time(); !t.IsZero() {
		e.SetTime(t)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, r.Raw); err != nil {
		return cloudevents.Event{}, fmt.Errorf("event data: %w", err)
	}
	if err := e.Validate(); err != nil {
		return cloudevents.Event{}, fmt.Errorf("event of %s: %w", key, err)
	}
	return e, nil
}

// IsObjectCreated reports whether e is an S3 ObjectCreated event (any of Put, Post,
// Copy, CompleteMultipartUpload).
func IsObjectCreated(e cloudevents.Event) bool {
	return strings.HasPrefix(e.Type(), TypePrefix+"ObjectCreated:")
}

// FromEvent reads the record an S3 event carries and its decoded key (the subject, or
// the record's key when the subject is absent).
func FromEvent(e cloudevents.Event) (Record, string, error) {
	if !strings.HasPrefix(e.Type(), TypePrefix) {
		return Record{}, "", fmt.Errorf("event type %q is not an S3 event", e.Type())
	}
	var r Record
	if err := json.Unmarshal(e.Data(), &r); err != nil {
		return Record{}, "", fmt.Errorf("S3 event %s: data is not an S3 record: %w", e.ID(), err)
	}
	r.Raw = e.Data()
	key := e.Subject()
	if key == "" {
		var err error
		if key, err = r.Key(); err != nil {
			return Record{}, "", err
		}
	}
	if key == "" || r.S3.Bucket.Name == "" {
		return Record{}, "", fmt.Errorf("S3 event %s names no bucket or key", e.ID())
	}
	return r, key, nil
}
