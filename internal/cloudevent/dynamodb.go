package cloudevent

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// The DynamoDB Streams event contract (docs: /work/shared/ARCHITECTURE.md, "Event
// contract"): type com.amazonaws.dynamodb.<INSERT|MODIFY|REMOVE>, source
// aws:dynamodb.<region>.<table>, subject the item key, id the record's eventID, time
// its approximate creation time, data the stream record in the Lambda event shape.
const (
	// DynamoDBTypePrefix starts the type of every DynamoDB Streams event.
	DynamoDBTypePrefix = "com.amazonaws.dynamodb."
	// DynamoDBInsert, DynamoDBModify and DynamoDBRemove are the three event types.
	DynamoDBInsert = DynamoDBTypePrefix + "INSERT"
	DynamoDBModify = DynamoDBTypePrefix + "MODIFY"
	DynamoDBRemove = DynamoDBTypePrefix + "REMOVE"
	// KnativeDDBStreams is the type of the events of Knative's IntegrationSource for
	// DynamoDB Streams (Apache Camel's aws-ddb-streams Kamelet), whose data is the Java
	// SDK's Record serialised as JSON.
	KnativeDDBStreams = "dev.knative.eventing.aws-ddb-streams"
)

// AttributeValue is one DynamoDB value in the JSON shape of Lambda's DynamoDB event
// ({"S":"x"}, {"N":"1"}, {"M":{...}}, ...). Exactly one field is set.
type AttributeValue struct {
	S    *string                   `json:"S,omitempty"`
	N    *string                   `json:"N,omitempty"`
	B    []byte                    `json:"B,omitempty"`
	SS   []string                  `json:"SS,omitempty"`
	NS   []string                  `json:"NS,omitempty"`
	BS   [][]byte                  `json:"BS,omitempty"`
	M    map[string]AttributeValue `json:"M,omitempty"`
	L    []AttributeValue          `json:"L,omitempty"`
	NULL *bool                     `json:"NULL,omitempty"`
	BOOL *bool                     `json:"BOOL,omitempty"`
}

// Image is an item or a key: attribute name to value.
type Image map[string]AttributeValue

// String returns the string attribute name of im, and whether it is one.
func (im Image) String(name string) (string, bool) {
	av, ok := im[name]
	if !ok || av.S == nil {
		return "", false
	}
	return *av.S, true
}

// Number returns the number attribute name of im as written, and whether it is one.
func (im Image) Number(name string) (string, bool) {
	av, ok := im[name]
	if !ok || av.N == nil {
		return "", false
	}
	return *av.N, true
}

// EpochTime is a time that travels as seconds since the epoch (a JSON number, as in
// Lambda's events). It also accepts an RFC 3339 string when decoding, the Java SDK's
// rendering of an Instant.
type EpochTime struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t EpochTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatInt(t.Unix(), 10)), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *EpochTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
		b = []byte(s) // a number in a string
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("time %s is neither epoch seconds nor RFC 3339", b)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// StreamRecord is the "dynamodb" part of a Lambda DynamoDB event record.
type StreamRecord struct {
	ApproximateCreationDateTime EpochTime `json:"ApproximateCreationDateTime"`
	Keys                        Image     `json:"Keys"`
	NewImage                    Image     `json:"NewImage,omitempty"`
	OldImage                    Image     `json:"OldImage,omitempty"`
	SequenceNumber              string    `json:"SequenceNumber"`
	SizeBytes                   int64     `json:"SizeBytes,omitempty"`
	StreamViewType              string    `json:"StreamViewType,omitempty"`
}

// DynamoDBRecord is one stream record in the shape of a record of Lambda's DynamoDB
// event: the data of a com.amazonaws.dynamodb.* event.
type DynamoDBRecord struct {
	EventID        string       `json:"eventID"`
	EventName      string       `json:"eventName"`
	EventVersion   string       `json:"eventVersion,omitempty"`
	EventSource    string       `json:"eventSource"`
	AWSRegion      string       `json:"awsRegion"`
	DynamoDB       StreamRecord `json:"dynamodb"`
	EventSourceARN string       `json:"eventSourceARN,omitempty"`
}

// KeySubject renders a key as the events' subject: name=value pairs sorted by name and
// joined by "&", values URL-query-escaped (numbers as written, binary as base64).
// {"pk":{"S":"a b"},"sk":{"N":"2"}} is "pk=a+b&sk=2".
func KeySubject(keys Image) string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		av := keys[n]
		var v string
		switch {
		case av.S != nil:
			v = *av.S
		case av.N != nil:
			v = *av.N
		case av.B != nil:
			v = base64.StdEncoding.EncodeToString(av.B)
		}
		parts = append(parts, url.QueryEscape(n)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&")
}

// TableFromStreamARN returns the region and table of a stream ARN
// (arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>).
func TableFromStreamARN(arn string) (region, table string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "dynamodb" {
		return "", "", fmt.Errorf("%q is not a DynamoDB stream ARN", arn)
	}
	res := strings.Split(parts[5], "/")
	if len(res) < 4 || res[0] != "table" || res[2] != "stream" || res[1] == "" {
		return "", "", fmt.Errorf("%q is not a DynamoDB stream ARN", arn)
	}
	return parts[3], res[1], nil
}

// NewDynamoDBEvent returns the CloudEvent of rec, a record of the stream of table in
// region.
func NewDynamoDBEvent(rec DynamoDBRecord, region, table string) (cloudevents.Event, error) {
	switch rec.EventName {
	case "INSERT", "MODIFY", "REMOVE":
	default:
		return cloudevents.Event{}, fmt.Errorf("record %s: unknown eventName %q", rec.EventID, rec.EventName)
	}
	if rec.EventID == "" {
		return cloudevents.Event{}, fmt.Errorf("record with sequence number %s has no eventID", rec.DynamoDB.SequenceNumber)
	}
	e := cloudevents.NewEvent()
	e.SetID(rec.EventID)
	e.SetType(DynamoDBTypePrefix + rec.EventName)
	e.SetSource("aws:dynamodb." + region + "." + table)
	e.SetSubject(KeySubject(rec.DynamoDB.Keys))
	if !rec.DynamoDB.ApproximateCreationDateTime.IsZero() {
		e.SetTime(rec.DynamoDB.ApproximateCreationDateTime.Time)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, rec); err != nil {
		return cloudevents.Event{}, fmt.Errorf("record %s: encode data: %w", rec.EventID, err)
	}
	return e, nil
}

// ParseDynamoDBEvent returns the stream record an event carries: one of ours
// (com.amazonaws.dynamodb.*, Lambda-shaped data) or one of Knative's IntegrationSource
// (dev.knative.eventing.aws-ddb-streams, the Java SDK's Record as JSON: lower-camel-case
// names such as "newImage" and {"s":"..."} values, unset members as null or empty
// collections). Both come back in the Lambda shape. ok is false for any other type.
func ParseDynamoDBEvent(e cloudevents.Event) (rec DynamoDBRecord, ok bool, err error) {
	t := e.Type()
	switch {
	case strings.HasPrefix(t, DynamoDBTypePrefix):
		if err := json.Unmarshal(e.Data(), &rec); err != nil {
			return rec, true, fmt.Errorf("event %s: data is not a DynamoDB stream record: %w", e.ID(), err)
		}
		if rec.EventName == "" {
			rec.EventName = strings.TrimPrefix(t, DynamoDBTypePrefix)
		}
	case t == KnativeDDBStreams:
		// encoding/json matches names case-insensitively, so the Java shape decodes
		// into the same structs; the empty collections the Java SDK writes for unset
		// members are dropped afterwards.
		if err := json.Unmarshal(e.Data(), &rec); err != nil {
			return rec, true, fmt.Errorf("event %s: data is not a Java SDK DynamoDB Streams record: %w", e.ID(), err)
		}
		for _, im := range []*Image{&rec.DynamoDB.Keys, &rec.DynamoDB.NewImage, &rec.DynamoDB.OldImage} {
			if len(*im) == 0 {
				*im = nil
			}
			normaliseImage(*im)
		}
		if rec.EventID == "" {
			rec.EventID = e.ID()
		}
	default:
		return rec, false, nil
	}
	if rec.EventName != "INSERT" && rec.EventName != "MODIFY" && rec.EventName != "REMOVE" {
		return rec, true, fmt.Errorf("event %s: unknown eventName %q", e.ID(), rec.EventName)
	}
	return rec, true, nil
}

// normaliseImage removes the empty members a Java SDK AttributeValue serialises
// beside its one real value.
func normaliseImage(im Image) {
	for k, av := range im {
		im[k] = normalise(av)
	}
}

func normalise(av AttributeValue) AttributeValue {
	if len(av.SS) == 0 {
		av.SS = nil
	}
	if len(av.NS) == 0 {
		av.NS = nil
	}
	if len(av.BS) == 0 {
		av.BS = nil
	}
	if len(av.L) == 0 && (av.S != nil || av.N != nil || av.B != nil || av.M != nil || av.BOOL != nil || av.NULL != nil || av.SS != nil || av.NS != nil || av.BS != nil) {
		av.L = nil
	}
	if len(av.M) == 0 && (av.S != nil || av.N != nil || av.B != nil || av.L != nil || av.BOOL != nil || av.NULL != nil || av.SS != nil || av.NS != nil || av.BS != nil) {
		av.M = nil
	}
	for k, v := range av.M {
		av.M[k] = normalise(v)
	}
	for i, v := range av.L {
		av.L[i] = normalise(v)
	}
	return av
}
