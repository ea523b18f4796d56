// Package subscriberitem is the contract of MyBlog's subscriber item: blog-api writes
// it (subscribe, confirm, unsubscribe) in the subscribers table, keyed by the address
// as emailaddr.Normalise returns it; the welcome mailer reads it from the table's
// stream (a com.amazonaws.dynamodb.* CloudEvent, docs/events.md) and sends the
// confirmation email for a Pending item and the welcome email for a Confirmed one.
package subscriberitem

import (
	"fmt"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
)

// The statuses of a subscriber. A subscribe request writes Pending; only the POST of
// the link in the confirmation email makes it Confirmed.
const (
	Pending   = "pending"
	Confirmed = "confirmed"
)

// The names of the item's attributes (Item's tags).
const (
	AttrEmail        = "email"
	AttrStatus       = "status"
	AttrRegion       = "region"
	AttrSubscribedAt = "subscribedAt"
	AttrExpiresAt    = "expiresAt"
)

// Item is a subscriber item as DynamoDB holds it.
type Item struct {
	// Email is the table's key: the address as emailaddr.Normalise returns it.
	Email  string `dynamodbav:"email"`
	Status string `dynamodbav:"status"`
	// Region is the region whose welcome mailer acts on the item: that of the
	// blog-api that took the latest subscribe request (the table is global).
	Region string `dynamodbav:"region"`
	// SubscribedAt is the time of the latest subscribe request in contract.TimeLayout;
	// with the address it names one confirmation email.
	SubscribedAt string `dynamodbav:"subscribedAt"`
	// ExpiresAt is the table's TTL attribute (Unix seconds): a pending subscription
	// ends then, and DynamoDB deletes the item some time after.
	ExpiresAt int64 `dynamodbav:"expiresAt"`
}

// FromImage reads a subscriber from a stream record's image (NewImage or OldImage),
// with its address in the attribute emailAttr (AttrEmail unless a consumer is
// configured otherwise). ok is false for an item without an address. Attributes of the
// wrong type are an error; absent ones are left zero, for the consumer to judge.
func FromImage(im cloudevent.Image, emailAttr string) (it Item, ok bool, err error) {
	if it.Email, ok = im.String(emailAttr); !ok {
		return Item{}, false, nil
	}
	str := func(name string, dst *string) {
		if _, present := im[name]; !present || err != nil {
			return
		}
		var isString bool
		if *dst, isString = im.String(name); !isString {
			err = fmt.Errorf("subscriber %s: attribute %s is not a string", it.Email, name)
		}
	}
	str(AttrStatus, &it.Status)
	str(AttrRegion, &it.Region)
	str(AttrSubscribedAt, &it.SubscribedAt)
	if _, present := im[AttrExpiresAt]; present && err == nil {
		n, isNumber := im.Number(AttrExpiresAt)
		if it.ExpiresAt, err = strconv.ParseInt(n, 10, 64); !isNumber || err != nil {
			err = fmt.Errorf("subscriber %s: attribute %s is not a whole number of seconds", it.Email, AttrExpiresAt)
		}
	}
	return it, true, err
}

// Expires returns ExpiresAt as a time (zero when unset).
func (it Item) Expires() time.Time {
	if it.ExpiresAt == 0 {
		return time.Time{}
	}
	return time.Unix(it.ExpiresAt, 0)
}

// FromEvent returns the subscriber item a CloudEvent of the subscribers table's stream
// carries (one of dynamodb-source's, or Knative's IntegrationSource's: see
// cloudevent.ParseDynamoDBEvent), with its address in emailAttr. skip, when not empty,
// says why the event holds no subscriber to act on (another event type, a REMOVE
// record, an item without an address): such events are acknowledged. err is a record
// no retry can make valid.
func FromEvent(e cloudevents.Event, emailAttr string) (it Item, skip string, err error) {
	rec, ok, err := cloudevent.ParseDynamoDBEvent(e)
	switch {
	case !ok:
		return Item{}, "not a DynamoDB stream event type: " + e.Type(), nil
	case err != nil:
		return Item{}, "", err
	case rec.EventName != "INSERT" && rec.EventName != "MODIFY":
		return Item{}, "a " + rec.EventName + " record", nil
	case rec.DynamoDB.NewImage == nil:
		return Item{}, "", fmt.Errorf("event %s: the record has no NewImage; the stream must be NEW_IMAGE or NEW_AND_OLD_IMAGES", e.ID())
	}
	it, ok, err = FromImage(rec.DynamoDB.NewImage, emailAttr)
	switch {
	case !ok:
		return Item{}, "an item without an email address", nil
	case err != nil:
		return Item{}, "", fmt.Errorf("event %s: %w", e.ID(), err)
	}
	return it, "", nil
}
