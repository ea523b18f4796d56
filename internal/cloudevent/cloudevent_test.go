package cloudevent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

func testEvent(t *testing.T) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID("rec-1")
	e.SetType("com.example.thing")
	e.SetSource("test/source")
	e.SetSubject("item-1")
	e.SetTime(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	if err := e.SetData(cloudevents.ApplicationJSON, map[string]string{"hello": "world"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPermanent(t *testing.T) {
	base := errors.New("boom")
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	if IsPermanent(base) {
		t.Error("IsPermanent(plain error) = true")
	}
	wrapped := errors.Join(errors.New("ctx"), Permanent(base))
	if !IsPermanent(wrapped) {
		t.Error("IsPermanent(wrapped permanent) = false")
	}
	if !errors.Is(Permanent(base), base) {
		t.Error("Permanent hides its cause from errors.Is")
	}
}

func TestHTTPHandler(t *testing.T) {
	binary := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"hello":"world"}`))
		r.Header.Set("Ce-Specversion", "1.0")
		r.Header.Set("Ce-Id", "rec-1")
		r.Header.Set("Ce-Type", "com.example.thing")
		r.Header.Set("Ce-Source", "test/source")
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	structured := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(
			`{"specversion":"1.0","id":"rec-1","type":"com.example.thing","source":"test/source","datacontenttype":"application/json","data":{"hello":"world"}}`))
		r.Header.Set("Content-Type", "application/cloudevents+json")
		return r
	}
	tests := []struct {
		name       string
		req        func() *http.Request
		result     error
		wantStatus int
		wantCalled bool
	}{
		{"binary mode handled", binary, nil, http.StatusNoContent, true},
		{"structured mode handled", structured, nil, http.StatusNoContent, true},
		{"permanent error is 400", binary, Permanent(errors.New("poison")), http.StatusBadRequest, true},
		{"other error is 500", binary, errors.New("dynamodb down"), http.StatusInternalServerError, true},
		{"unavailable is 503", binary, apperr.Wrap(errors.New("throttled"), apperr.Unavailable, "x"), http.StatusServiceUnavailable, true},
		{"plain JSON is 400", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"hello":"world"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, nil, http.StatusBadRequest, false},
		{"binary without id is 400", func() *http.Request {
			r := binary()
			r.Header.Del("Ce-Id")
			return r
		}, nil, http.StatusBadRequest, false},
		{"GET is 405", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }, nil, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *cloudevents.Event
			h := NewHTTPHandler(slog.New(slog.NewJSONHandler(io.Discard, nil)), func(_ context.Context, e cloudevents.Event) error {
				got = &e
				return tt.result
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req())
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if (got != nil) != tt.wantCalled {
				t.Fatalf("handler called = %v, want %v", got != nil, tt.wantCalled)
			}
			if got != nil {
				if diff := cmp.Diff("rec-1 com.example.thing {\"hello\":\"world\"}", got.ID()+" "+got.Type()+" "+string(got.Data())); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
			}
			if rec.Code == http.StatusInternalServerError && strings.Contains(rec.Body.String(), "dynamodb down") {
				t.Errorf("internal error text leaked: %s", rec.Body)
			}
		})
	}
}

func TestParseOverrides(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"empty", "", nil, false},
		{"extensions", `{"extensions":{"cluster":"east","tenant":"blog"}}`, map[string]string{"cluster": "east", "tenant": "blog"}, false},
		{"not JSON", `extensions=x`, nil, true},
		{"bad name", `{"extensions":{"Bad-Name":"x"}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOverrides(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseOverrides (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0.999999, 99999900 * time.Nanosecond},
		{2, 0.5, 100 * time.Millisecond},
		{3, 1, 400 * time.Millisecond},
		{5, 1, time.Second},           // 1.6s capped
		{50, 1, time.Second},          // no overflow
		{4, 0, 50 * time.Millisecond}, // floor of base/2
	}
	for _, tt := range tests {
		got := Backoff(base, limit, tt.attempt, tt.jitter)
		if got != tt.want {
			t.Errorf("Backoff(attempt %d, jitter %v) = %v, want %v", tt.attempt, tt.jitter, got, tt.want)
		}
	}
}

// sink is an httptest server answering with the next status of a script (the last one
// repeats) and recording every request.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	reqs     []*http.Request
	bodies   []string
}

func newSink(t *testing.T, statuses ...int) *sink {
	s := &sink{statuses: statuses}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.bodies = append(s.bodies, string(b))
		st := s.statuses[min(len(s.reqs), len(s.statuses))-1]
		s.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func newTestSender(t *testing.T, sinkURL string, attempts int) (*Sender, *[]time.Duration) {
	t.Helper()
	s, err := NewSender(SenderConfig{
		Sink:           sinkURL,
		Overrides:      `{"extensions":{"cluster":"east"}}`,
		MaxAttempts:    attempts,
		BackoffBase:    10 * time.Millisecond,
		BackoffMax:     80 * time.Millisecond,
		AttemptTimeout: time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	s.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return ctx.Err()
	}
	return s, &slept
}

func TestSendBinaryModeWithOverrides(t *testing.T) {
	sk := newSink(t, http.StatusAccepted)
	s, _ := newTestSender(t, sk.URL, 3)
	if err := s.Send(context.Background(), testEvent(t)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if sk.count() != 1 {
		t.Fatalf("requests = %d, want 1", sk.count())
	}
	r := sk.reqs[0]
	got := map[string]string{
		"ce-specversion": r.Header.Get("Ce-Specversion"),
		"ce-id":          r.Header.Get("Ce-Id"),
		"ce-type":        r.Header.Get("Ce-Type"),
		"ce-source":      r.Header.Get("Ce-Source"),
		"ce-subject":     r.Header.Get("Ce-Subject"),
		"ce-cluster":     r.Header.Get("Ce-Cluster"),
		"content-type":   r.Header.Get("Content-Type"),
		"body":           sk.bodies[0],
	}
	want := map[string]string{
		"ce-specversion": "1.0",
		"ce-id":          "rec-1",
		"ce-type":        "com.example.thing",
		"ce-source":      "test/source",
		"ce-subject":     "item-1",
		"ce-cluster":     "east",
		"content-type":   "application/json",
		"body":           `{"hello":"world"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestSendRetries(t *testing.T) {
	tests := []struct {
		name          string
		statuses      []int
		attempts      int
		wantRequests  int
		wantErr       bool
		wantPermanent bool
		wantStatus    int
	}{
		{"5xx then success", []int{500, 503, 200}, 5, 3, false, false, 0},
		{"429 and 408 are retried", []int{429, 408, 204}, 5, 3, false, false, 0},
		{"4xx is permanent at once", []int{400}, 5, 1, true, true, 400},
		{"404 is permanent", []int{404}, 5, 1, true, true, 404},
		{"5xx until the bound", []int{502}, 4, 4, true, false, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk := newSink(t, tt.statuses...)
			s, slept := newTestSender(t, sk.URL, tt.attempts)
			err := s.Send(context.Background(), testEvent(t))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send err = %v, wantErr %v", err, tt.wantErr)
			}
			if got := IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			if got := SinkStatus(err); got != tt.wantStatus {
				t.Errorf("SinkStatus = %d, want %d", got, tt.wantStatus)
			}
			if sk.count() != tt.wantRequests {
				t.Errorf("requests = %d, want %d", sk.count(), tt.wantRequests)
			}
			if len(*slept) != tt.wantRequests-1 {
				t.Errorf("backoff sleeps = %d, want %d", len(*slept), tt.wantRequests-1)
			}
			for _, d := range *slept {
				if d < 5*time.Millisecond || d > 80*time.Millisecond {
					t.Errorf("backoff %v outside [base/2, max]", d)
				}
			}
		})
	}
}

func TestSendNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	s, slept := newTestSender(t, url, 3)
	err := s.Send(context.Background(), testEvent(t))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	if len(*slept) != 2 {
		t.Errorf("sleeps = %d, want 2", len(*slept))
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	sk := newSink(t, 503)
	s, err := NewSender(SenderConfig{Sink: sk.URL, MaxAttempts: 100, BackoffBase: 100 * time.Millisecond, BackoffMax: 100 * time.Millisecond, AttemptTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second is room for a few attempts 100ms apart even when a loaded machine makes
	// the first one slow.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, testEvent(t))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the context's error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Send took %v after its context ended", time.Since(start))
	}
	if n := sk.count(); n < 2 || n > 20 {
		t.Errorf("requests = %d, want a few, spaced by the backoff", n)
	}
}

func TestNewSenderRejectsBadConfig(t *testing.T) {
	for _, cfg := range []SenderConfig{
		{Sink: "", MaxAttempts: 1},
		{Sink: "ftp://x", MaxAttempts: 1},
		{Sink: "http://x", MaxAttempts: 0},
		{Sink: "http://x", MaxAttempts: 1, Overrides: "{"},
	} {
		if _, err := NewSender(cfg, nil); err == nil {
			t.Errorf("NewSender(%+v) = nil error", cfg)
		}
	}
}

// TestRoundTrip sends through a Sender to a NewHTTPHandler: the receiver sees the
// event as sent, and its verdicts reach the sender as the contract says.
func TestRoundTrip(t *testing.T) {
	var calls atomic.Int32
	var got cloudevents.Event
	h := NewHTTPHandler(slog.New(slog.NewJSONHandler(io.Discard, nil)), func(_ context.Context, e cloudevents.Event) error {
		n := calls.Add(1)
		got = e
		switch e.Subject() {
		case "poison":
			return Permanent(errors.New("never"))
		case "flaky":
			if n < 3 {
				return errors.New("try again")
			}
		}
		return nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	s, _ := newTestSender(t, srv.URL, 5)

	e := testEvent(t)
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if diff := cmp.Diff(e.ID()+"|"+e.Type()+"|east|"+string(e.Data()), got.ID()+"|"+got.Type()+"|"+got.Extensions()["cluster"].(string)+"|"+string(got.Data())); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}

	calls.Store(0)
	e.SetSubject("flaky")
	if err := s.Send(context.Background(), e); err != nil || calls.Load() != 3 {
		t.Errorf("flaky: Send = %v after %d calls, want nil after 3", err, calls.Load())
	}

	calls.Store(0)
	e.SetSubject("poison")
	err := s.Send(context.Background(), e)
	if !IsPermanent(err) || calls.Load() != 1 {
		t.Errorf("poison: Send = %v after %d calls, want permanent after 1", err, calls.Load())
	}
	var env apperr.Envelope
	if se := errStatus(err); se == nil || json.NewDecoder(bytes.NewBufferString(se.Body)).Decode(&env) != nil || env.Error.Code != apperr.Invalid {
		t.Errorf("poison: refusal %v does not carry the error envelope", err)
	}
}
