package cloudevent

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
)

func str(s string) *string { return &s }

// goldenRecord is the record in testdata/dynamodb-insert.json.
func goldenRecord() DynamoDBRecord {
	f := false
	return DynamoDBRecord{
		EventID:      "7de3041dd709b024af6f29e4fa13d34c",
		EventName:    "INSERT",
		EventVersion: "1.1",
		EventSource:  "aws:dynamodb",
		AWSRegion:    "eu-west-1",
		DynamoDB: StreamRecord{
			ApproximateCreationDateTime: EpochTime{time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
			Keys:                        Image{"pk": {S: str("SUB#ada@example.com")}},
			NewImage: Image{
				"pk":           {S: str("SUB#ada@example.com")},
				"email":        {S: str("ada@example.com")},
				"subscribedAt": {S: str("2024-05-01T12:00:00Z")},
				"tags":         {SS: []string{"go", "aws"}},
				"count":        {N: str("1")},
				"confirmed":    {BOOL: &f},
				"prefs":        {M: map[string]AttributeValue{"digest": {S: str("weekly")}}},
			},
			SequenceNumber: "111100000000000000000001",
			SizeBytes:      120,
			StreamViewType: "NEW_IMAGE",
		},
		EventSourceARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/subscribers/stream/2024-05-01T00:00:00.000",
	}
}

func readGolden(t *testing.T, name string) cloudevents.Event {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var e cloudevents.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return e
}

// canonical renders an event as comparable JSON (data re-indented).
func canonical(t *testing.T, e cloudevents.Event) map[string]any {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewDynamoDBEventMatchesGolden(t *testing.T) {
	got, err := NewDynamoDBEvent(goldenRecord(), "eu-west-1", "subscribers")
	if err != nil {
		t.Fatal(err)
	}
	want := readGolden(t, "dynamodb-insert.json")
	if diff := cmp.Diff(canonical(t, want), canonical(t, got)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

func TestParseDynamoDBEvent(t *testing.T) {
	lambda := goldenRecord()
	knative := DynamoDBRecord{
		EventID:      "7de3041dd709b024af6f29e4fa13d34c",
		EventName:    "INSERT",
		EventVersion: "1.1",
		EventSource:  "aws:dynamodb",
		AWSRegion:    "eu-west-1",
		DynamoDB: StreamRecord{
			ApproximateCreationDateTime: EpochTime{time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
			Keys:                        Image{"pk": {S: str("SUB#ada@example.com")}},
			NewImage: Image{
				"pk":    {S: str("SUB#ada@example.com")},
				"email": {S: str("ada@example.com")},
				"count": {N: str("1")},
			},
			SequenceNumber: "111100000000000000000001",
			SizeBytes:      120,
			StreamViewType: "NEW_IMAGE",
		},
	}
	other := cloudevents.NewEvent()
	other.SetType("com.amazonaws.s3.ObjectCreated:Put")
	bad := readGolden(t, "dynamodb-insert.json")
	_ = bad.SetData(cloudevents.ApplicationJSON, []int{1})

	tests := []struct {
		name    string
		event   cloudevents.Event
		want    DynamoDBRecord
		wantOK  bool
		wantErr bool
	}{
		{"our event", readGolden(t, "dynamodb-insert.json"), lambda, true, false},
		{"Knative IntegrationSource event", readGolden(t, "knative-ddb-streams.json"), knative, true, false},
		{"another type", other, DynamoDBRecord{}, false, false},
		{"garbled data", bad, DynamoDBRecord{}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ParseDynamoDBEvent(tt.event)
			if ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Fatalf("ok, err = %v, %v; want %v, error %v", ok, err, tt.wantOK, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeySubject(t *testing.T) {
	tests := []struct {
		name string
		keys Image
		want string
	}{
		{"one string key", Image{"pk": {S: str("SUB#a@b.c")}}, "pk=SUB%23a%40b.c"},
		{"sorted, spaces and numbers", Image{"sk": {N: str("2")}, "pk": {S: str("a b")}}, "pk=a+b&sk=2"},
		{"binary", Image{"id": {B: []byte{0xff, 0x00}}}, "id=%2FwA%3D"},
		{"none", Image{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, KeySubject(tt.keys)); diff != "" {
				t.Errorf("KeySubject (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableFromStreamARN(t *testing.T) {
	region, table, err := TableFromStreamARN("arn:aws:dynamodb:eu-west-1:123456789012:table/subs/stream/2024-05-01T00:00:00.000")
	if err != nil || region != "eu-west-1" || table != "subs" {
		t.Errorf("TableFromStreamARN = %q, %q, %v", region, table, err)
	}
	for _, bad := range []string{"", "arn:aws:s3:::bucket", "arn:aws:dynamodb:eu-west-1:1:table/subs"} {
		if _, _, err := TableFromStreamARN(bad); err == nil {
			t.Errorf("TableFromStreamARN(%q) = nil error", bad)
		}
	}
}
