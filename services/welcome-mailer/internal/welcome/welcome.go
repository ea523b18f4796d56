// Package welcome is welcome-mailer's logic: on a new subscriber (a DynamoDB INSERT
// event on the subscribers table, from dynamodb-source or Knative's IntegrationSource)
// it sends one welcome email, at most once per subscriber address however often the
// event is delivered, and never leaves a subscriber without one while deliveries
// continue. README.md explains the idempotency protocol and its exact guarantees.
package welcome

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"sync"
	texttemplate "text/template"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/emailaddr"
)

// State is where a subscriber's welcome email stands in the ledger.
type State int

const (
	// Acquired: this delivery holds the claim and must send the email.
	Acquired State = iota
	// Sent: the email was sent; nothing to do.
	Sent
	// InProgress: another delivery holds a live claim; retry after it expires.
	InProgress
)

// Claim is the outcome of Ledger.Claim.
type Claim struct {
	// Key is the ledger key, Token identifies this claim (to mark or release it).
	Key, Token string
	State      State
	// Until is when the claim (ours or another delivery's) expires.
	Until time.Time
	// ClaimedAt is when the claim was taken, and ExpectedBy when its holder expected
	// to be done (its recent sends' duration after ClaimedAt); zero when unknown.
	ClaimedAt, ExpectedBy time.Time
	// TakenOver is true when this claim replaced an expired one: the previous holder
	// stopped after claiming and may or may not have reached SES.
	TakenOver bool
}

// Ledger is the idempotency record, one per subscriber. Implementations make every
// transition with a conditional write.
type Ledger interface {
	// Claim takes the subscriber's claim for lease when nobody holds it or the holder's
	// claim expired, or reports that the email was sent or is being sent. expect is
	// how long the claimer expects to need; it is stored so that a concurrent delivery
	// can be told when to come back.
	Claim(ctx context.Context, key string, lease, expect time.Duration) (Claim, error)
	// MarkSent records that the claim's email was accepted by SES.
	MarkSent(ctx context.Context, c Claim, messageID string) error
	// Release gives up the claim when the email was certainly not sent.
	Release(ctx context.Context, c Claim) error
}

// ErrClaimLost is returned by MarkSent and Release when the claim is no longer ours.
var ErrClaimLost = errors.New("idempotency claim lost")

// Errors a Mailer wraps so the handler knows what SES did.
var (
	// ErrNotAccepted: SES answered with an error that a retry may fix (throttling,
	// a 5xx, a paused account): the email was certainly not sent.
	ErrNotAccepted = errors.New("email not accepted, retryable")
	// ErrRefused: SES refused this message for good (a malformed or rejected message):
	// certainly not sent, and no retry will help.
	ErrRefused = errors.New("email refused")
)

// Message is one email.
type Message struct {
	To, Subject, HTML, Text, UnsubscribeURL string
}

// Mailer sends an email and returns its message id. An error that wraps neither
// ErrNotAccepted nor ErrRefused is ambiguous: the email may have been sent (a timeout
// after SES accepted it).
type Mailer interface {
	Send(ctx context.Context, m Message) (string, error)
}

// Linker makes an address's unsubscribe URL (unsubscribe.Signer.Link bound to the
// blog's public URL).
type Linker func(email string) string

// Handler handles subscriber events.
type Handler struct {
	Ledger Ledger
	Mailer Mailer
	Link   Linker
	Log    *slog.Logger
	// EmailAttribute is the attribute of the subscriber item holding the address.
	EmailAttribute string
	// BlogName appears in the subject and body.
	BlogName string
	// Lease is how long a claim lasts; it must exceed SendTimeout by a margin.
	Lease time.Duration
	// SendTimeout bounds the SES call.
	SendTimeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// recent are the durations of the latest deliveries, from claim to recorded outcome.
	recent durations
}

// Key is the ledger key of an address: one per mailbox (emailaddr.Mailbox), so the
// spellings that reach one inbox (ann+news@, ann@) get one welcome email between them.
func Key(email string) string { return "welcome#" + emailaddr.Mailbox(email) }

// Handle is the cloudevent.Handler: other event types and non-INSERT records are
// acknowledged and ignored (the local stack sends every event of the table here, as a
// Trigger without a filter would); a malformed subscriber record is refused for good.
func (h *Handler) Handle(ctx context.Context, e cloudevents.Event) error {
	rec, ok, err := cloudevent.ParseDynamoDBEvent(e)
	if !ok {
		h.Log.DebugContext(ctx, "ignoring event type", "ceType", e.Type())
		return nil
	}
	if err != nil {
		return cloudevent.Permanent(err)
	}
	if rec.EventName != "INSERT" {
		return nil
	}
	if rec.DynamoDB.NewImage == nil {
		return cloudevent.Permanent(fmt.Errorf("event %s: the record has no NewImage; the stream must be NEW_IMAGE or NEW_AND_OLD_IMAGES", e.ID()))
	}
	raw, ok := rec.DynamoDB.NewImage.String(h.EmailAttribute)
	if !ok {
		h.Log.InfoContext(ctx, "ignoring an item without an email address", "ceId", e.ID(), "subject", e.Subject())
		return nil
	}
	email, err := emailaddr.Normalise(raw)
	if err != nil {
		return cloudevent.Permanent(fmt.Errorf("event %s: address %q: %w", e.ID(), raw, err))
	}
	return h.Welcome(ctx, email)
}

// Welcome sends email its welcome message unless it was sent already.
func (h *Handler) Welcome(ctx context.Context, email string) error {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	// The caller going away (the source killed, a broker's delivery timeout) must not
	// cut claim, send and record short: a claim written but not acted on would hold
	// every redelivery off until it expires, and an SES call aborted mid-flight has an
	// unknown outcome. The sequence runs to completion, bounded by the claim's lease.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.Lease)
	defer cancel()
	started := now()
	c, err := h.Ledger.Claim(ctx, Key(email), h.Lease, h.recent.estimate(h.SendTimeout))
	if err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "idempotency ledger unavailable")
	}
	switch c.State {
	case Sent:
		h.Log.InfoContext(ctx, "welcome email already sent; duplicate delivery acknowledged", "to", email)
		return nil
	case InProgress:
		wait := h.RetryAfter(c, now())
		return &apperr.Error{Code: apperr.Unavailable, Message: "another delivery is sending this email", RetryAfter: wait,
			Err: fmt.Errorf("welcome email to %s is being sent by another delivery (claimed %s, expected done by %s, claim expires %s); retry in %s",
				email, c.ClaimedAt.Format(time.RFC3339Nano), c.ExpectedBy.Format(time.RFC3339Nano), c.Until.Format(time.RFC3339Nano), wait)}
	}
	defer func() { h.recent.add(now().Sub(started)) }()
	if c.TakenOver {
		h.Log.WarnContext(ctx, "taking over an expired claim: the previous attempt stopped without recording its outcome", "to", email)
	}
	msg, err := h.Render(email)
	if err != nil {
		_ = h.Ledger.Release(context.WithoutCancel(ctx), c)
		return cloudevent.Permanent(err)
	}
	sctx, scancel := context.WithTimeout(ctx, h.SendTimeout)
	id, err := h.Mailer.Send(sctx, msg)
	scancel()
	if err != nil {
		if errors.Is(err, ErrNotAccepted) || errors.Is(err, ErrRefused) {
			// SES answered: nothing was sent, so the claim can go at once.
			if rerr := h.Ledger.Release(context.WithoutCancel(ctx), c); rerr != nil {
				h.Log.WarnContext(ctx, "could not release the claim; the next attempt waits for it to expire", "err", rerr)
			}
			if errors.Is(err, ErrRefused) {
				return cloudevent.Permanent(fmt.Errorf("send welcome email to %s: %w", email, err))
			}
			return apperr.Wrap(fmt.Errorf("send welcome email to %s: %w", email, err), apperr.Unavailable, "SES did not accept the email")
		}
		// Ambiguous: SES may have accepted it. Keep the claim; a redelivery after it
		// expires sends again (README: the one window for a second email).
		return fmt.Errorf("send welcome email to %s (outcome unknown; retried after the claim expires): %w", email, err)
	}
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), h.SendTimeout)
	defer mcancel()
	if err := h.Ledger.MarkSent(mctx, c, id); err != nil {
		// The email is sent; answering 5xx would only invite a resend.
		h.Log.ErrorContext(ctx, "welcome email sent but not recorded; a redelivery after the claim expires would send it again", "to", email, "messageId", id, "err", err)
		return nil
	}
	h.Log.InfoContext(ctx, "welcome email sent", "to", email, "messageId", id)
	return nil
}

// RetryAfter is when a delivery that found c in progress should come back: when the
// holder expected to be done; past that, when a live holder is done at the latest (its
// send and its record are each bounded by SendTimeout); past that too, the holder has
// stopped and the claim can be taken over when it expires. At least 100ms.
func (h *Handler) RetryAfter(c Claim, now time.Time) time.Duration {
	next := c.Until
	if !c.ClaimedAt.IsZero() {
		for _, t := range []time.Time{c.ExpectedBy, c.ClaimedAt.Add(2 * h.SendTimeout)} {
			if t.After(now) && t.Before(next) {
				next = t
				break
			}
		}
	}
	return max(next.Sub(now), 100*time.Millisecond)
}

// durations keeps the latest deliveries' durations; its zero value is ready.
type durations struct {
	mu   sync.Mutex
	last [16]time.Duration
	n    int
}

func (d *durations) add(v time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last[d.n%len(d.last)] = v
	d.n++
}

// estimate is how long a delivery is expected to take: the longest of the latest
// ones (a second before there are any), between 50ms and limit.
func (d *durations) estimate(limit time.Duration) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == 0 {
		return min(time.Second, limit)
	}
	longest := time.Duration(0)
	for _, v := range d.last[:min(d.n, len(d.last))] {
		longest = max(longest, v)
	}
	return min(max(longest, 50*time.Millisecond), limit)
}

var (
	htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<h1>Welcome to {{.Blog}}!</h1>
<p>Thank you for subscribing with {{.Email}}. You will hear from us when a new post is published.</p>
<p style="font-size: small">Not you, or changed your mind? <a href="{{.Unsubscribe}}">Unsubscribe</a> with one click.</p>
</body></html>
`))
	textBody = texttemplate.Must(texttemplate.New("text").Parse(`Welcome to {{.Blog}}!

Thank you for subscribing with {{.Email}}. You will hear from us when a new post is published.

Not you, or changed your mind? Unsubscribe with one click:
{{.Unsubscribe}}
`))
)

// Render builds the welcome email for email.
func (h *Handler) Render(email string) (Message, error) {
	data := struct{ Blog, Email, Unsubscribe string }{h.BlogName, email, h.Link(email)}
	var html, text bytes.Buffer
	if err := htmlBody.Execute(&html, data); err != nil {
		return Message{}, fmt.Errorf("render html: %w", err)
	}
	if err := textBody.Execute(&text, data); err != nil {
		return Message{}, fmt.Errorf("render text: %w", err)
	}
	return Message{
		To:             email,
		Subject:        "Welcome to " + h.BlogName,
		HTML:           html.String(),
		Text:           text.String(),
		UnsubscribeURL: data.Unsubscribe,
	}, nil
}
