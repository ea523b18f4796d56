// Package welcome is welcome-mailer's logic. blog-api stores a subscribe request as a
// pending subscriber and its confirmation as the same item turned confirmed; the
// subscribers table's stream carries both writes (from dynamodb-source or Knative's
// IntegrationSource), and for each the mailer of the subscriber's region sends one
// email: the confirmation email, whose one link confirms, for a pending subscriber;
// the welcome email, once per mailbox, for a confirmed one. Every email is sent at
// most once however often its event is delivered, and never left unsent while
// deliveries continue. README.md explains the idempotency protocol, the region rule
// and their exact guarantees.
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

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/contract/subscriberitem"
	"github.com/serverless-architect/serverless-architect/internal/emailaddr"
)

// State is where an email stands in the ledger.
type State int

const (
	// Acquired: this delivery holds the claim and must send the email.
	Acquired State = iota
	// Sent: the email was sent; nothing to do.
	Sent
	// InProgress: another delivery holds a live claim; retry after it expires.
	InProgress
)

// ClaimRequest is what Ledger.Claim takes.
type ClaimRequest struct {
	// Key names the email (Key, ConfirmKey).
	Key string
	// Lease is how long the claim lasts; Expect how long the claimer expects to need,
	// stored so that a concurrent delivery can be told when to come back.
	Lease, Expect time.Duration
	// Expires, when set, lets the table delete the record after it (its TTL): the
	// record of a confirmation email is of no use once the link in it has expired.
	Expires time.Time
}

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

// Ledger is the idempotency record, one per email. Implementations make every
// transition with a conditional write.
type Ledger interface {
	// Claim takes the email's claim when nobody holds it or the holder's claim
	// expired, or reports that the email was sent or is being sent.
	Claim(ctx context.Context, r ClaimRequest) (Claim, error)
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

// Kinds of email.
const (
	KindConfirmation = "confirmation"
	KindWelcome      = "welcome"
)

// Message is one email.
type Message struct {
	// Kind is KindConfirmation or KindWelcome (an SES message tag).
	Kind                    string
	To, Subject, HTML, Text string
	// UnsubscribeURL, when set, goes in the List-Unsubscribe header (welcome emails; a
	// confirmation email is sent to someone who is not subscribed).
	UnsubscribeURL string
}

// Mailer sends an email and returns its message id. An error that wraps neither
// ErrNotAccepted nor ErrRefused is ambiguous: the email may have been sent (a timeout
// after SES accepted it).
type Mailer interface {
	Send(ctx context.Context, m Message) (string, error)
}

// Linker makes an address's unsubscribe URL (maillink.Signer.UnsubscribeLink bound to
// the blog's public URL).
type Linker func(email string) string

// ConfirmLinker makes the confirmation URL of an address's pending subscription,
// valid until expires (maillink.Signer.ConfirmLink bound to the blog's public URL).
type ConfirmLinker func(email string, expires time.Time) string

// Handler handles subscriber events.
type Handler struct {
	Ledger Ledger
	Mailer Mailer
	// Link makes unsubscribe URLs, ConfirmLink confirmation URLs.
	Link        Linker
	ConfirmLink ConfirmLinker
	Log         *slog.Logger
	// Region is this mailer's region: it acts only on subscribers whose region
	// attribute names it.
	Region string
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
	// Outcome, when set, is told how each email request ended (Outcome* and the reasons
	// in docs/observability.md): the metrics.
	Outcome func(kind, outcome, reason string)

	// recent are the durations of the latest deliveries, from claim to recorded outcome.
	recent durations
}

// Key is the ledger key of an address's welcome email: one per mailbox
// (emailaddr.Mailbox), so the spellings that reach one inbox (ann+news@, ann@) get one
// welcome email between them.
func Key(email string) string { return "welcome#" + emailaddr.Mailbox(email) }

// ConfirmKey is the ledger key of the confirmation email of one subscribe request:
// the address and the request's time (a new request is a new email).
func ConfirmKey(email, subscribedAt string) string {
	return "confirm#" + email + "#" + subscribedAt
}

// Outcomes of an email request, for Handler.Outcome.
const (
	OutcomeSent       = "sent"
	OutcomeDuplicate  = "duplicate"
	OutcomeSuppressed = "suppressed"
	OutcomeFailed     = "failed"
)

func (h *Handler) outcome(kind, outcome, reason string) {
	if h.Outcome != nil {
		h.Outcome(kind, outcome, reason)
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Subscriber acts on one subscriber item as a stream record carried it (ref names the
// record in logs: its event's id): pending -> the confirmation email, confirmed -> the
// welcome email. Items without a pending or confirmed status (written before double
// opt-in) and items of another region are acknowledged and ignored: the table is
// global, so every region's stream carries every write, and only the mailer of the
// region named in the item may send. An item it can never act on is apperr.Invalid,
// which the edge refuses for good.
func (h *Handler) Subscriber(ctx context.Context, ref string, sub subscriberitem.Item) error {
	if sub.Status != subscriberitem.Pending && sub.Status != subscriberitem.Confirmed {
		h.Log.InfoContext(ctx, "ignoring a subscriber without a pending or confirmed status (written before double opt-in?): nothing sent",
			"ceId", ref, "status", sub.Status)
		return nil
	}
	if sub.Region != h.Region {
		h.Log.DebugContext(ctx, "subscriber of another region: its mailer acts on it", "ceId", ref, "region", sub.Region, "status", sub.Status)
		return nil
	}
	email, err := emailaddr.Normalise(sub.Email)
	if err != nil {
		return apperr.Wrap(fmt.Errorf("event %s: address %q: %w", ref, sub.Email, err), apperr.Invalid, "the subscriber's address is not valid")
	}
	if sub.Status == subscriberitem.Confirmed {
		return h.Welcome(ctx, email)
	}
	if sub.SubscribedAt == "" || sub.ExpiresAt == 0 {
		return apperr.Wrap(fmt.Errorf("event %s: a pending subscriber without subscribedAt or a numeric expiresAt", ref), apperr.Invalid, "malformed pending subscriber")
	}
	subscribedAt, expires := sub.SubscribedAt, sub.Expires()
	if !expires.After(h.now()) {
		h.Log.InfoContext(ctx, "pending subscription expired before its confirmation email went out: nothing sent", "to", email, "expiredAt", expires)
		h.outcome(KindConfirmation, OutcomeSuppressed, "expired")
		return nil
	}
	return h.Confirm(ctx, email, subscribedAt, expires)
}

// Welcome sends email its welcome message unless its mailbox was sent one already.
func (h *Handler) Welcome(ctx context.Context, email string) error {
	return h.sendOnce(ctx, KindWelcome, ClaimRequest{Key: Key(email)}, func() (Message, error) { return h.Render(email) })
}

// Confirm sends email the confirmation email of the subscribe request made at
// subscribedAt, whose link is valid until expires, unless it was sent already.
func (h *Handler) Confirm(ctx context.Context, email, subscribedAt string, expires time.Time) error {
	return h.sendOnce(ctx, KindConfirmation, ClaimRequest{Key: ConfirmKey(email, subscribedAt), Expires: expires.Add(24 * time.Hour)},
		func() (Message, error) { return h.RenderConfirmation(email, expires) })
}

// sendOnce sends the email of kind render makes unless the ledger says r.Key's email
// was sent.
func (h *Handler) sendOnce(ctx context.Context, kind string, r ClaimRequest, render func() (Message, error)) error {
	// The caller going away (the source killed, a broker's delivery timeout) must not
	// cut claim, send and record short: a claim written but not acted on would hold
	// every redelivery off until it expires, and an SES call aborted mid-flight has an
	// unknown outcome. The sequence runs to completion, bounded by the claim's lease.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.Lease)
	defer cancel()
	started := h.now()
	r.Lease, r.Expect = h.Lease, h.recent.estimate(h.SendTimeout)
	c, err := h.Ledger.Claim(ctx, r)
	if err != nil {
		h.outcome(kind, OutcomeFailed, "ledger_unavailable")
		return apperr.Wrap(err, apperr.Unavailable, "idempotency ledger unavailable")
	}
	switch c.State {
	case Sent:
		h.Log.InfoContext(ctx, "email already sent; duplicate delivery acknowledged", "key", r.Key)
		h.outcome(kind, OutcomeDuplicate, "")
		return nil
	case InProgress:
		h.outcome(kind, OutcomeFailed, "in_progress")
		wait := h.RetryAfter(c, h.now())
		return &apperr.Error{Code: apperr.Unavailable, Message: "another delivery is sending this email", RetryAfter: wait,
			Err: fmt.Errorf("email %s is being sent by another delivery (claimed %s, expected done by %s, claim expires %s); retry in %s",
				r.Key, c.ClaimedAt.Format(time.RFC3339Nano), c.ExpectedBy.Format(time.RFC3339Nano), c.Until.Format(time.RFC3339Nano), wait)}
	}
	defer func() { h.recent.add(h.now().Sub(started)) }()
	if c.TakenOver {
		h.Log.WarnContext(ctx, "taking over an expired claim: the previous attempt stopped without recording its outcome", "key", r.Key)
	}
	msg, err := render()
	if err != nil {
		_ = h.Ledger.Release(context.WithoutCancel(ctx), c)
		h.outcome(kind, OutcomeFailed, "render")
		return apperr.Wrap(err, apperr.Invalid, "the email cannot be rendered")
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
				h.outcome(kind, OutcomeFailed, "ses_refused")
				return apperr.Wrap(fmt.Errorf("send %s email to %s: %w", msg.Kind, msg.To, err), apperr.Invalid, "SES refused the email")
			}
			h.outcome(kind, OutcomeFailed, "ses_not_accepted")
			return apperr.Wrap(fmt.Errorf("send %s email to %s: %w", msg.Kind, msg.To, err), apperr.Unavailable, "SES did not accept the email")
		}
		// Ambiguous: SES may have accepted it. Keep the claim; a redelivery after it
		// expires sends again (README: the one window for a second email).
		h.outcome(kind, OutcomeFailed, "ses_unknown")
		return fmt.Errorf("send %s email to %s (outcome unknown; retried after the claim expires): %w", msg.Kind, msg.To, err)
	}
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), h.SendTimeout)
	defer mcancel()
	if err := h.Ledger.MarkSent(mctx, c, id); err != nil {
		// The email is sent; answering 5xx would only invite a resend.
		h.Log.ErrorContext(ctx, "email sent but not recorded; a redelivery after the claim expires would send it again", "kind", msg.Kind, "to", msg.To, "messageId", id, "err", err)
		h.outcome(kind, OutcomeSent, "unrecorded")
		return nil
	}
	h.Log.InfoContext(ctx, "email sent", "kind", msg.Kind, "to", msg.To, "messageId", id)
	h.outcome(kind, OutcomeSent, "")
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
	confirmHTML = htmltemplate.Must(htmltemplate.New("confirm-html").Parse(`<!doctype html>
<html><body style="font-family: sans-serif">
<h1>Confirm your subscription to {{.Blog}}</h1>
<p>Someone, we hope you, asked to send {{.Blog}}'s new posts to {{.Email}}.</p>
<p><a href="{{.Confirm}}">Confirm your subscription</a>, then press the button on the page it opens.</p>
<p style="font-size: small">The link works until {{.Until}}. If you did not ask for this, ignore this email: nothing more is sent to this address without a confirmation.</p>
</body></html>
`))
	confirmText = texttemplate.Must(texttemplate.New("confirm-text").Parse(`Confirm your subscription to {{.Blog}}

Someone, we hope you, asked to send {{.Blog}}'s new posts to {{.Email}}.

To confirm, open this link and press the button on the page it opens:
{{.Confirm}}

The link works until {{.Until}}. If you did not ask for this, ignore this email: nothing more is sent to this address without a confirmation.
`))
)

// Render builds the welcome email for email.
func (h *Handler) Render(email string) (Message, error) {
	data := struct{ Blog, Email, Unsubscribe string }{h.BlogName, email, h.Link(email)}
	html, text, err := render(htmlBody, textBody, data)
	if err != nil {
		return Message{}, err
	}
	return Message{Kind: KindWelcome, To: email, Subject: "Welcome to " + h.BlogName, HTML: html, Text: text, UnsubscribeURL: data.Unsubscribe}, nil
}

// RenderConfirmation builds the confirmation email for email, whose one link (to
// blog-api's confirmation page) is valid until expires.
func (h *Handler) RenderConfirmation(email string, expires time.Time) (Message, error) {
	data := struct{ Blog, Email, Confirm, Until string }{h.BlogName, email, h.ConfirmLink(email, expires), expires.UTC().Format("2 January 2006, 15:04 MST")}
	html, text, err := render(confirmHTML, confirmText, data)
	if err != nil {
		return Message{}, err
	}
	return Message{Kind: KindConfirmation, To: email, Subject: "Confirm your subscription to " + h.BlogName, HTML: html, Text: text}, nil
}

func render(html *htmltemplate.Template, text *texttemplate.Template, data any) (string, string, error) {
	var hb, tb bytes.Buffer
	if err := html.Execute(&hb, data); err != nil {
		return "", "", fmt.Errorf("render html: %w", err)
	}
	if err := text.Execute(&tb, data); err != nil {
		return "", "", fmt.Errorf("render text: %w", err)
	}
	return hb.String(), tb.String(), nil
}
