package contract

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/contract/photoitem"
	"github.com/serverless-architect/serverless-architect/internal/contract/subscriberitem"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
)

const eventsDoc = "../../docs/events.md"

// examples returns the JSON blocks of docs/events.md by the name of the
// "<!-- example: name -->" marker before each.
func examples(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	b, err := os.ReadFile(eventsDoc)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- example: ([a-z0-9-]+) -->\n```json\n(.*?)\n```")
	out := map[string][]byte{}
	for _, m := range re.FindAllSubmatch(b, -1) {
		out[string(m[1])] = m[2]
	}
	return string(b), out
}

func event(t *testing.T, ex map[string][]byte, name string) cloudevents.Event {
	t.Helper()
	raw, ok := ex[name]
	if !ok {
		t.Fatalf("%s has no example %q", eventsDoc, name)
	}
	var e cloudevents.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("example %s is not a CloudEvent: %v", name, err)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	return e
}

// sameEvent compares what a producer made with the documented example: every
// attribute, and the data as JSON values.
func sameEvent(t *testing.T, name string, doc, made cloudevents.Event) {
	t.Helper()
	attrs := func(e cloudevents.Event) map[string]string {
		return map[string]string{"id": e.ID(), "source": e.Source(), "type": e.Type(), "subject": e.Subject(),
			"time": e.Time().UTC().Format(time.RFC3339Nano), "datacontenttype": e.DataContentType(), "specversion": e.SpecVersion()}
	}
	if diff := cmp.Diff(attrs(doc), attrs(made)); diff != "" {
		t.Errorf("%s: the producer's attributes differ from the documented ones (-doc +producer):\n%s", name, diff)
	}
	var d, m any
	if err := json.Unmarshal(doc.Data(), &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(made.Data(), &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, m); diff != "" {
		t.Errorf("%s: the producer's data differs from the documented one (-doc +producer):\n%s", name, diff)
	}
}

// TestDynamoDBExamples parses the documented subscriber events the way the welcome
// mailer does, and has dynamodb-source's constructor remake them from their records.
func TestDynamoDBExamples(t *testing.T) {
	_, ex := examples(t)
	cases := []struct {
		name string
		want subscriberitem.Item
	}{
		{"dynamodb-insert", subscriberitem.Item{Email: "ada@example.com", Status: subscriberitem.Pending, Region: "eu-west-1",
			SubscribedAt: "2024-05-01T12:00:00.000000000Z", ExpiresAt: 1714737600}},
		{"dynamodb-modify", subscriberitem.Item{Email: "ada@example.com", Status: subscriberitem.Confirmed, Region: "eu-west-1",
			SubscribedAt: "2024-05-01T12:00:00.000000000Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := event(t, ex, c.name)
			rec, ok, err := cloudevent.ParseDynamoDBEvent(e)
			if !ok || err != nil {
				t.Fatalf("ParseDynamoDBEvent: ok %v, err %v", ok, err)
			}
			got, ok, err := subscriberitem.FromImage(rec.DynamoDB.NewImage, subscriberitem.AttrEmail)
			if !ok || err != nil {
				t.Fatalf("FromImage: ok %v, err %v", ok, err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("subscriber (-want +got):\n%s", diff)
			}
			if _, err := time.Parse(TimeLayout, got.SubscribedAt); err != nil {
				t.Errorf("subscribedAt is not in TimeLayout: %v", err)
			}
			region, table, err := cloudevent.TableFromStreamARN(rec.EventSourceARN)
			if err != nil {
				t.Fatal(err)
			}
			made, err := cloudevent.NewDynamoDBEvent(rec, region, table)
			if err != nil {
				t.Fatal(err)
			}
			sameEvent(t, c.name, e, made)
		})
	}
}

// TestS3Example parses the documented upload event the way the thumbnailer does, and
// has s3-source's constructor remake it from the record.
func TestS3Example(t *testing.T) {
	_, ex := examples(t)
	e := event(t, ex, "s3-put")
	rec, key, err := s3event.FromEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if !s3event.IsObjectCreated(e) || key != "uploads/01HV9ZJ4T8K2M3N4P5Q6R7S8T9.jpg" || rec.S3.Bucket.Name != "media" {
		t.Errorf("FromEvent: created %v, key %q, bucket %q", s3event.IsObjectCreated(e), key, rec.S3.Bucket.Name)
	}
	made, err := s3event.NewEvent(rec)
	if err != nil {
		t.Fatal(err)
	}
	sameEvent(t, "s3-put", e, made)
}

// TestPhotoItemExample checks the documented photo item against the contract: the
// same attributes as photoitem.Item's tags, its key and feed, a known status.
func TestPhotoItemExample(t *testing.T) {
	_, ex := examples(t)
	var im cloudevent.Image
	dec := json.NewDecoder(bytes.NewReader(ex["photo-item"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&im); err != nil {
		t.Fatalf("photo-item is not an item in DynamoDB JSON: %v", err)
	}
	var tags []string
	for f := range reflect.TypeFor[photoitem.Item]().Fields() {
		tags = append(tags, strings.Split(f.Tag.Get("dynamodbav"), ",")[0])
	}
	var names []string
	for n := range im {
		names = append(names, n)
	}
	slices.Sort(tags)
	slices.Sort(names)
	// reason is the one attribute a ready photo lacks.
	want := slices.DeleteFunc(tags, func(s string) bool { return s == photoitem.AttrReason })
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("the documented photo item's attributes (-contract +doc):\n%s", diff)
	}
	id, _ := im.String("id")
	if pk, _ := im.String(photoitem.AttrPK); pk != photoitem.PK(id) {
		t.Errorf("pk = %q, want %q", pk, photoitem.PK(id))
	}
	if sk, _ := im.String(photoitem.AttrSK); sk != photoitem.SortKey {
		t.Errorf("sk = %q, want %q", sk, photoitem.SortKey)
	}
	if feed, _ := im.String("feedPk"); feed != photoitem.Feed {
		t.Errorf("feedPk = %q, want %q", feed, photoitem.Feed)
	}
	if st, _ := im.String(photoitem.AttrStatus); !slices.Contains([]string{photoitem.Pending, photoitem.Ready, photoitem.Rejected, photoitem.Failed}, st) {
		t.Errorf("status %q is none of the contract's", st)
	}
	for _, a := range []string{"createdAt", photoitem.AttrUpdatedAt} {
		if s, _ := im.String(a); s == "" {
			t.Errorf("%s is missing", a)
		} else if _, err := time.Parse(TimeLayout, s); err != nil || len(s) != len(TimeLayout) {
			t.Errorf("%s %q is not in TimeLayout", a, s)
		}
	}
}

// TestEveryTypeDocumented checks that the page names every event type the owners
// define and every status of the shared items.
func TestEveryTypeDocumented(t *testing.T) {
	doc, _ := examples(t)
	for _, s := range []string{cloudevent.DynamoDBInsert, cloudevent.DynamoDBTypePrefix + "MODIFY", cloudevent.DynamoDBTypePrefix + "REMOVE",
		cloudevent.KnativeDDBStreams, s3event.TypePrefix, "`" + subscriberitem.Pending + "`", "`" + subscriberitem.Confirmed + "`",
		"`" + photoitem.Ready + "`", "`" + photoitem.Rejected + "`", "`" + photoitem.Failed + "`", photoitem.KeyPrefix, photoitem.SortKey} {
		if !strings.Contains(doc, strings.TrimSuffix(s, ".")) {
			t.Errorf("%s does not mention %s", eventsDoc, s)
		}
	}
}

// TestFromImage covers the subscriber reader's refusals.
func TestFromImage(t *testing.T) {
	s := func(v string) cloudevent.AttributeValue { return cloudevent.AttributeValue{S: &v} }
	n := func(v string) cloudevent.AttributeValue { return cloudevent.AttributeValue{N: &v} }
	if _, ok, err := subscriberitem.FromImage(cloudevent.Image{"status": s("pending")}, "email"); ok || err != nil {
		t.Errorf("no address: ok %v, err %v; want false, nil", ok, err)
	}
	for name, im := range map[string]cloudevent.Image{
		"status a number":      {"email": s("a@example.com"), "status": n("1")},
		"expiresAt a string":   {"email": s("a@example.com"), "expiresAt": s("soon")},
		"expiresAt a fraction": {"email": s("a@example.com"), "expiresAt": n("1.5")},
	} {
		if _, ok, err := subscriberitem.FromImage(im, "email"); !ok || err == nil {
			t.Errorf("%s: ok %v, err %v; want an error", name, ok, err)
		}
	}
}
