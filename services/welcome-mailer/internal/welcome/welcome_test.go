package welcome

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/contract/subscriberitem"
)

// memLedger is an in-memory Ledger with the DynamoLedger's transitions.
type memLedger struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]memItem
	n     int
	// failMark makes MarkSent fail.
	failMark bool
}

type memItem struct {
	state, token                 string
	until, claimedAt, expectedBy time.Time
}

func newMemLedger(now func() time.Time) *memLedger {
	return &memLedger{now: now, items: map[string]memItem{}}
}

func (l *memLedger) Claim(_ context.Context, r ClaimRequest) (Claim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, lease, expect := r.Key, r.Lease, r.Expect
	it, ok := l.items[k]
	now := l.now()
	switch {
	case ok && it.state == "sent":
		return Claim{Key: k, State: Sent}, nil
	case ok && !it.until.Before(now):
		return Claim{Key: k, State: InProgress, Until: it.until, ClaimedAt: it.claimedAt, ExpectedBy: it.expectedBy}, nil
	}
	l.n++
	c := Claim{Key: k, Token: string(rune('a' + l.n)), State: Acquired, Until: now.Add(lease), ClaimedAt: now, ExpectedBy: now.Add(expect), TakenOver: ok}
	l.items[k] = memItem{state: "sending", token: c.Token, until: c.Until, claimedAt: now, expectedBy: c.ExpectedBy}
	return c, nil
}

func (l *memLedger) MarkSent(_ context.Context, c Claim, _ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failMark {
		return errors.New("dynamodb down")
	}
	it, ok := l.items[c.Key]
	if !ok || it.state != "sending" || it.token != c.Token {
		return ErrClaimLost
	}
	l.items[c.Key] = memItem{state: "sent"}
	return nil
}

func (l *memLedger) Release(_ context.Context, c Claim) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	it, ok := l.items[c.Key]
	if !ok || it.state != "sending" || it.token != c.Token {
		return ErrClaimLost
	}
	delete(l.items, c.Key)
	return nil
}

// fakeMailer records sends; errs are returned by the successive calls (nil after).
type fakeMailer struct {
	mu    sync.Mutex
	sent  []Message
	calls int
	errs  []error
	delay time.Duration
	// sending, when set, receives each message's recipient as its Send begins (it must
	// have room: Send does not wait for it).
	sending chan string
}

func (m *fakeMailer) Send(_ context.Context, msg Message) (string, error) {
	select {
	case m.sending <- msg.To: // never ready when nil
	default:
	}
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls <= len(m.errs) && m.errs[m.calls-1] != nil {
		return "", m.errs[m.calls-1]
	}
	m.sent = append(m.sent, msg)
	return "msg-" + msg.To, nil
}

func (m *fakeMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// handle delivers e to h as welcome-mailer's edge does (api.Receive, which a test of
// package welcome cannot import): the subscriber decoded from the event, refusals for
// good as cloudevent.Permanent. services/welcome-mailer/internal/api's tests run
// api.Receive itself.
func handle(ctx context.Context, h *Handler, e cloudevents.Event) error {
	sub, skip, err := subscriberitem.FromEvent(e, h.EmailAttribute)
	switch {
	case err != nil:
		return cloudevent.Permanent(err)
	case skip != "":
		return nil
	}
	err = h.Subscriber(ctx, e.ID(), sub)
	if apperr.CodeOf(err) == apperr.Invalid {
		return cloudevent.Permanent(err)
	}
	return err
}

func newTestHandler(l Ledger, m Mailer, now func() time.Time) *Handler {
	return &Handler{
		Ledger: l, Mailer: m, Now: now,
		Link: func(email string) string { return "https://blog.example/v1/subscribers/unsubscribe?token=" + email },
		ConfirmLink: func(email string, expires time.Time) string {
			return fmt.Sprintf("https://blog.example/v1/subscribers/confirm?token=%s.%d", email, expires.Unix())
		},
		Log:            slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Region:         "eu-west-1",
		EmailAttribute: "email", BlogName: "MyBlog",
		Lease: 30 * time.Second, SendTimeout: time.Second,
	}
}

func golden(t *testing.T, name string) cloudevents.Event {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var e cloudevents.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// insertFor is the golden INSERT of a pending subscriber with another address.
func insertFor(t *testing.T, email string) cloudevents.Event {
	return goldenWith(t, "dynamodb-insert.json", email)
}

// confirmedFor is the golden MODIFY that confirms a subscriber, with another address.
func confirmedFor(t *testing.T, email string) cloudevents.Event {
	return goldenWith(t, "dynamodb-modify.json", email)
}

// goldenWith is a golden Lambda-shaped event with another address.
func goldenWith(t *testing.T, name, email string) cloudevents.Event {
	e := golden(t, name)
	rec, _, err := cloudevent.ParseDynamoDBEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	rec.DynamoDB.NewImage["email"] = cloudevent.AttributeValue{S: &email}
	if err := e.SetData(cloudevents.ApplicationJSON, rec); err != nil {
		t.Fatal(err)
	}
	return e
}

// goldenClock is before the golden pending subscriber expires (2024-05-03 12:00 UTC).
var goldenClock = time.Date(2024, 5, 1, 12, 1, 0, 0, time.UTC)

// linksWith returns the URLs in s whose path holds pathPart.
func linksWith(s, pathPart string) []string {
	var out []string
	for _, u := range regexp.MustCompile(`https?://[^\s"<>]+`).FindAllString(s, -1) {
		if p, err := url.Parse(html.UnescapeString(u)); err == nil && strings.Contains(p.Path, pathPart) {
			out = append(out, u)
		}
	}
	return out
}

func TestHandleGoldenEvents(t *testing.T) {
	for _, tc := range []struct{ name, kind string }{
		{"dynamodb-insert.json", KindConfirmation}, {"knative-ddb-streams.json", KindConfirmation},
		{"dynamodb-modify.json", KindWelcome}, {"knative-ddb-streams-modify.json", KindWelcome},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: goldenClock}
			m := &fakeMailer{}
			h := newTestHandler(newMemLedger(c.Now), m, c.Now)
			if err := handle(context.Background(), h, golden(t, tc.name)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if m.count() != 1 {
				t.Fatalf("sent %d emails, want 1", m.count())
			}
			got := m.sent[0]
			if got.Kind != tc.kind || got.To != "ada@example.com" {
				t.Fatalf("email = %+v, want a %s email to ada@example.com", got, tc.kind)
			}
			if tc.kind == KindConfirmation {
				// Exactly one link, to the confirmation page, valid as long as the
				// pending subscription; no unsubscribe header (Ada is not subscribed).
				want := "https://blog.example/v1/subscribers/confirm?token=ada@example.com.1714737600"
				for part, body := range map[string]string{"html": got.HTML, "text": got.Text} {
					if links := linksWith(body, "/"); len(links) != 1 || links[0] != want {
						t.Errorf("%s part links %v, want exactly [%s]:\n%s", part, links, want, body)
					}
				}
				if got.UnsubscribeURL != "" || got.Subject != "Confirm your subscription to MyBlog" {
					t.Errorf("confirmation = %+v", got)
				}
				return
			}
			if diff := cmp.Diff("Welcome to MyBlog|https://blog.example/v1/subscribers/unsubscribe?token=ada@example.com", got.Subject+"|"+got.UnsubscribeURL); diff != "" {
				t.Errorf("email (-want +got):\n%s", diff)
			}
			for part, body := range map[string]string{"html": got.HTML, "text": got.Text} {
				if !strings.Contains(body, "Welcome to MyBlog") || !strings.Contains(body, "unsubscribe?token=ada@example.com") || len(linksWith(body, "/confirm")) != 0 {
					t.Errorf("%s part lacks the greeting or the unsubscribe link, or has a confirmation link:\n%s", part, body)
				}
			}
			if !strings.Contains(got.HTML, `<a href="https://blog.example/v1/subscribers/unsubscribe?token=ada@example.com">`) {
				t.Errorf("html part has no unsubscribe anchor:\n%s", got.HTML)
			}
		})
	}
}

// TestOnlyItsRegionSends: each region's stream carries every write of the global
// table; a mailer sends only for subscribers whose region attribute names its own.
func TestOnlyItsRegionSends(t *testing.T) {
	c := &clock{t: goldenClock}
	mailer := &fakeMailer{}
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		h := newTestHandler(newMemLedger(c.Now), mailer, c.Now) // one ledger per region, as provisioned
		h.Region = region
		// Both regions see both records: the pending INSERT and the confirming MODIFY.
		for _, e := range []cloudevents.Event{golden(t, "dynamodb-insert.json"), golden(t, "dynamodb-modify.json")} {
			if err := handle(context.Background(), h, e); err != nil {
				t.Fatalf("%s: Handle(%s): %v", region, e.Type(), err)
			}
		}
	}
	var kinds []string
	for _, m := range mailer.sent {
		kinds = append(kinds, m.Kind)
	}
	if diff := cmp.Diff([]string{KindConfirmation, KindWelcome}, kinds); diff != "" {
		t.Errorf("emails in total across both regions (-want +got):\n%s", diff)
	}
}

func TestHandleIgnoresAndRefuses(t *testing.T) {
	other := cloudevents.NewEvent()
	other.SetID("1")
	other.SetSource("x")
	other.SetType("com.amazonaws.s3.ObjectCreated:Put")
	noEmail := golden(t, "dynamodb-insert.json")
	rec, _, _ := cloudevent.ParseDynamoDBEvent(noEmail)
	delete(rec.DynamoDB.NewImage, "email")
	_ = noEmail.SetData(cloudevents.ApplicationJSON, rec)
	noImage := golden(t, "dynamodb-insert.json")
	rec, _, _ = cloudevent.ParseDynamoDBEvent(noImage)
	rec.DynamoDB.NewImage = nil
	_ = noImage.SetData(cloudevents.ApplicationJSON, rec)
	garbled := golden(t, "dynamodb-insert.json")
	_ = garbled.SetData(cloudevents.ApplicationJSON, "not a record")
	withImage := func(name string, change func(im cloudevent.Image)) cloudevents.Event {
		e := golden(t, name)
		rec, _, _ := cloudevent.ParseDynamoDBEvent(e)
		change(rec.DynamoDB.NewImage)
		_ = e.SetData(cloudevents.ApplicationJSON, rec)
		return e
	}
	str := func(s string) cloudevent.AttributeValue { return cloudevent.AttributeValue{S: &s} }
	otherRegion := withImage("dynamodb-modify.json", func(im cloudevent.Image) { im["region"] = str("us-east-1") })
	noRegion := withImage("dynamodb-modify.json", func(im cloudevent.Image) { delete(im, "region") })
	noStatus := withImage("dynamodb-modify.json", func(im cloudevent.Image) { delete(im, "status") })
	expired := withImage("dynamodb-insert.json", func(im cloudevent.Image) { n := "1714564799"; im["expiresAt"] = cloudevent.AttributeValue{N: &n} })
	noExpiry := withImage("dynamodb-insert.json", func(im cloudevent.Image) { delete(im, "expiresAt") })
	remove := golden(t, "dynamodb-modify.json")
	rec, _, _ = cloudevent.ParseDynamoDBEvent(remove)
	rec.EventName = "REMOVE"
	_ = remove.SetData(cloudevents.ApplicationJSON, rec)

	tests := []struct {
		name          string
		event         cloudevents.Event
		wantErr       bool
		wantPermanent bool
	}{
		{"other type acknowledged", other, false, false},
		{"REMOVE acknowledged", remove, false, false},
		{"item without email acknowledged", noEmail, false, false},
		{"another region's subscriber acknowledged", otherRegion, false, false},
		{"a subscriber without region acknowledged", noRegion, false, false},
		{"a subscriber without status (single opt-in era) acknowledged", noStatus, false, false},
		{"an expired pending subscriber acknowledged", expired, false, false},
		{"a pending subscriber without expiresAt refused", noExpiry, true, true},
		{"invalid address refused", insertFor(t, "not an address"), true, true},
		{"keys-only stream refused", noImage, true, true},
		{"garbled data refused", garbled, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: goldenClock}
			m := &fakeMailer{}
			err := handle(context.Background(), newTestHandler(newMemLedger(c.Now), m, c.Now), tt.event)
			if (err != nil) != tt.wantErr || cloudevent.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("Handle = %v; want error %v, permanent %v", err, tt.wantErr, tt.wantPermanent)
			}
			if m.calls != 0 {
				t.Errorf("mailer called %d times, want 0", m.calls)
			}
		})
	}
}

// TestIdempotency walks the ledger's state machine through its transitions.
func TestIdempotency(t *testing.T) {
	ambiguous := errors.New("read tcp: i/o timeout")
	tests := []struct {
		name string
		// errs are the mailer's results per call; steps are the deliveries, each with
		// the clock advance before it and whether it must fail (retryable/permanent).
		errs      []error
		steps     []step
		wantSends int
		wantCalls int
	}{
		{"duplicate deliveries send once", nil, []step{{0, ok}, {0, ok}, {time.Hour, ok}}, 1, 1},
		{"throttling is retryable and releases the claim", []error{ErrNotAccepted}, []step{{0, retry}, {0, ok}, {0, ok}}, 1, 2},
		{"refusal is permanent and releases the claim", []error{ErrRefused}, []step{{0, permanent}, {0, ok}}, 1, 2},
		{"ambiguous failure holds the claim until it expires", []error{ambiguous}, []step{{0, retry}, {10 * time.Second, retry}, {31 * time.Second, ok}, {0, ok}}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_700_000_000, 0)}
			m := &fakeMailer{errs: tt.errs}
			h := newTestHandler(newMemLedger(c.Now), m, c.Now)
			for i, s := range tt.steps {
				c.Add(s.advance)
				err := handle(context.Background(), h, confirmedFor(t, "bob@example.com"))
				if got := outcome(err); got != s.want {
					t.Fatalf("delivery %d: %v (%s), want %s", i+1, err, got, s.want)
				}
			}
			if m.count() != tt.wantSends || m.calls != tt.wantCalls {
				t.Errorf("sends, calls = %d, %d; want %d, %d", m.count(), m.calls, tt.wantSends, tt.wantCalls)
			}
		})
	}
}

type step struct {
	advance time.Duration
	want    string
}

const (
	ok        = "ok"
	retry     = "retryable"
	permanent = "permanent"
)

func outcome(err error) string {
	switch {
	case err == nil:
		return ok
	case cloudevent.IsPermanent(err):
		return permanent
	default:
		return retry
	}
}

func TestConcurrentDuplicatesSendOnce(t *testing.T) {
	m := &fakeMailer{delay: 20 * time.Millisecond}
	h := newTestHandler(newMemLedger(time.Now), m, time.Now)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { errs[i] = handle(context.Background(), h, confirmedFor(t, "carol@example.com")) })
	}
	wg.Wait()
	if m.count() != 1 {
		t.Fatalf("sent %d emails, want 1", m.count())
	}
	for _, err := range errs {
		if err != nil && apperr.CodeOf(err) != apperr.Unavailable {
			t.Errorf("a concurrent duplicate got %v, want nil or a retryable 503", err)
		}
	}
	// Redelivery of the ones that were told to retry: still one email.
	if err := handle(context.Background(), h, confirmedFor(t, "carol@example.com")); err != nil || m.count() != 1 {
		t.Errorf("redelivery: %v, %d emails", err, m.count())
	}
}

func TestSentButNotRecordedIsAcknowledged(t *testing.T) {
	l := newMemLedger(time.Now)
	l.failMark = true
	m := &fakeMailer{}
	if err := handle(context.Background(), newTestHandler(l, m, time.Now), confirmedFor(t, "dan@example.com")); err != nil {
		t.Fatalf("Handle = %v, want nil (the email is out; a 5xx would only invite a resend)", err)
	}
}

// cancellingMailer stands for a delivery whose caller goes away (the source is killed)
// while SES is being called: the send must still complete, and be recorded.
type cancellingMailer struct {
	cancel  context.CancelFunc
	sendErr error
}

func (m *cancellingMailer) Send(ctx context.Context, msg Message) (string, error) {
	m.cancel()
	time.Sleep(10 * time.Millisecond)
	m.sendErr = ctx.Err()
	return "msg-" + msg.To, ctx.Err()
}

func TestCallerGoneMidSendStillRecords(t *testing.T) {
	l := newMemLedger(time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	m := &cancellingMailer{cancel: cancel}
	h := newTestHandler(l, m, time.Now)
	if err := handle(ctx, h, confirmedFor(t, "erin@example.com")); err != nil {
		t.Fatalf("Handle = %v", err)
	}
	if m.sendErr != nil {
		t.Fatalf("the SES call saw the caller's cancellation (%v): its outcome would be unknown and a redelivery could send twice", m.sendErr)
	}
	c, err := l.Claim(context.Background(), ClaimRequest{Key: Key("erin@example.com"), Lease: time.Minute, Expect: time.Second})
	if err != nil || c.State != Sent {
		t.Fatalf("after the send the ledger says %+v, %v; want Sent", c, err)
	}
}

// TestOneWelcomePerMailbox: the spellings that reach one inbox (a plus-tag, Gmail's
// dots) share one ledger record, so they get one welcome email between them; an
// address SES cannot send to is refused for good.
func TestOneWelcomePerMailbox(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := &fakeMailer{}
	h := newTestHandler(newMemLedger(c.Now), m, c.Now)
	for _, a := range []string{"Victim@Gmail.com", "vic.tim+0@gmail.com", "victim+1@googlemail.com"} {
		if err := handle(context.Background(), h, confirmedFor(t, a)); err != nil {
			t.Fatalf("Handle(%s) = %v", a, err)
		}
	}
	if m.count() != 1 || m.sent[0].To != "victim@gmail.com" {
		t.Errorf("sent %d emails (%+v), want 1, to the first spelling", m.count(), m.sent)
	}
	if err := handle(context.Background(), h, confirmedFor(t, "ü@example.com")); !cloudevent.IsPermanent(err) {
		t.Errorf("a non-ASCII local part: %v, want a permanent refusal", err)
	}
}

func TestRetryAfter(t *testing.T) {
	h := newTestHandler(nil, nil, nil) // SendTimeout 1s, Lease 30s
	at := time.Unix(1_700_000_000, 0)
	c := Claim{State: InProgress, ClaimedAt: at, ExpectedBy: at.Add(300 * time.Millisecond), Until: at.Add(30 * time.Second)}
	for _, tc := range []struct {
		name  string
		claim Claim
		now   time.Time
		want  time.Duration
	}{
		{"the holder is expected to be done soon", c, at.Add(100 * time.Millisecond), 200 * time.Millisecond},
		{"overdue: a live holder is done within its send and record bounds", c, at.Add(time.Second), time.Second},
		{"past every bound: the holder stopped, the claim expires", c, at.Add(5 * time.Second), 25 * time.Second},
		{"a claim written without its times (an older mailer)", Claim{State: InProgress, Until: at.Add(30 * time.Second)}, at, 30 * time.Second},
		{"never less than 100ms", c, at.Add(299 * time.Millisecond), 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.RetryAfter(tc.claim, tc.now); got != tc.want {
				t.Errorf("RetryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestInProgressAnswersWhatTheHolderNeeds: while a delivery that takes 500ms holds a
// subscriber's claim, a concurrent one is told to come back when that delivery is
// expected to be done — Retry-After: 1, the header's smallest unit — and not when its
// 30-second claim would expire; coming back then, it finds the email sent.
func TestInProgressAnswersWhatTheHolderNeeds(t *testing.T) {
	m := &fakeMailer{delay: 500 * time.Millisecond, sending: make(chan string, 4)}
	h := newTestHandler(newMemLedger(time.Now), m, time.Now)
	h.SendTimeout = 10 * time.Second
	srv := httptest.NewServer(cloudevent.NewHTTPHandler(h.Log, func(ctx context.Context, e cloudevents.Event) error { return handle(ctx, h, e) }))
	defer srv.Close()
	deliver := func(e cloudevents.Event) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// A first delivery teaches the handler how long one takes.
	if r := deliver(confirmedFor(t, "warm@example.com")); r.StatusCode != http.StatusNoContent {
		t.Fatalf("warm-up: %d", r.StatusCode)
	}
	if to := <-m.sending; to != "warm@example.com" {
		t.Fatalf("warm-up sent to %s", to)
	}
	first := make(chan *http.Response)
	go func() { first <- deliver(confirmedFor(t, "fay@example.com")) }()
	// The first holds the claim once it sends; the second comes within the 500ms that
	// takes.
	select {
	case <-m.sending:
	case <-time.After(10 * time.Second):
		t.Fatal("the first delivery did not send within 10s")
	}
	second := deliver(confirmedFor(t, "fay@example.com"))
	if second.StatusCode != http.StatusServiceUnavailable || second.Header.Get("Retry-After") != "1" {
		t.Errorf("concurrent delivery: %d Retry-After %q; want 503 with Retry-After 1 (the holder needs about 500ms; its claim lasts 30s)",
			second.StatusCode, second.Header.Get("Retry-After"))
	}
	if r := <-first; r.StatusCode != http.StatusNoContent {
		t.Fatalf("holder: %d", r.StatusCode)
	}
	if r := deliver(confirmedFor(t, "fay@example.com")); r.StatusCode != http.StatusNoContent || m.count() != 2 {
		t.Errorf("the retry: %d with %d emails; want 204 and one email each to warm@ and fay@", r.StatusCode, m.count())
	}
}

// failingLedger fails every claim (the idempotency table is unreachable).
type failingLedger struct{ Ledger }

func (failingLedger) Claim(context.Context, ClaimRequest) (Claim, error) {
	return Claim{}, errors.New("dial tcp: connection refused")
}

// TestOutcomes: each way an email request ends reaches Outcome once, with its reason.
func TestOutcomes(t *testing.T) {
	expired := goldenWith(t, "dynamodb-insert.json", "ada@example.com")
	rec, _, _ := cloudevent.ParseDynamoDBEvent(expired)
	n := "1714564799"
	rec.DynamoDB.NewImage["expiresAt"] = cloudevent.AttributeValue{N: &n}
	_ = expired.SetData(cloudevents.ApplicationJSON, rec)
	tests := []struct {
		name   string
		ledger func(now func() time.Time) Ledger
		errs   []error
		event  cloudevents.Event
		want   []string // kind/outcome/reason, one per delivery
	}{
		{"sent then duplicate", nil, nil, confirmedFor(t, "ada@example.com"),
			[]string{"welcome/sent/", "welcome/duplicate/"}},
		{"expired confirmation suppressed", nil, nil, expired,
			[]string{"confirmation/suppressed/expired", "confirmation/suppressed/expired"}},
		{"SES refuses", nil, []error{fmt.Errorf("%w: MessageRejected", ErrRefused)}, insertFor(t, "ada@example.com"),
			[]string{"confirmation/failed/ses_refused", "confirmation/sent/"}},
		{"SES throttles", nil, []error{fmt.Errorf("%w: TooManyRequests", ErrNotAccepted)}, insertFor(t, "ada@example.com"),
			[]string{"confirmation/failed/ses_not_accepted", "confirmation/sent/"}},
		{"outcome unknown", nil, []error{errors.New("read tcp: i/o timeout")}, confirmedFor(t, "ada@example.com"),
			[]string{"welcome/failed/ses_unknown", "welcome/failed/in_progress"}},
		{"ledger down", func(func() time.Time) Ledger { return failingLedger{} }, nil, confirmedFor(t, "ada@example.com"),
			[]string{"welcome/failed/ledger_unavailable", "welcome/failed/ledger_unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: goldenClock}
			var l Ledger = newMemLedger(c.Now)
			if tt.ledger != nil {
				l = tt.ledger(c.Now)
			}
			h := newTestHandler(l, &fakeMailer{errs: tt.errs}, c.Now)
			var got []string
			h.Outcome = func(kind, outcome, reason string) { got = append(got, kind+"/"+outcome+"/"+reason) }
			for range tt.want {
				_ = handle(context.Background(), h, tt.event)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
		})
	}
}
