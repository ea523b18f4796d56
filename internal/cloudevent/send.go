package cloudevent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/serverless-architect/serverless-architect/internal/telemetry"
)

// SenderConfig configures a Sender. The env tags are the variables a SinkBinding or
// ContainerSource sets (K_SINK, K_CE_OVERRIDES) plus the project's delivery settings.
type SenderConfig struct {
	// Sink is the URL events are POSTed to.
	Sink string `env:"K_SINK,required"`
	// Overrides is K_CE_OVERRIDES, `{"extensions":{"name":"value",...}}`: extension
	// attributes set on every event sent.
	Overrides string `env:"K_CE_OVERRIDES"`
	// MaxAttempts bounds the attempts per Send (the first included).
	MaxAttempts int `env:"SEND_MAX_ATTEMPTS" envDefault:"8"`
	// BackoffBase is the delay before the first retry; each retry doubles it.
	BackoffBase time.Duration `env:"SEND_BACKOFF_BASE" envDefault:"100ms"`
	// BackoffMax caps one delay between attempts.
	BackoffMax time.Duration `env:"SEND_BACKOFF_MAX" envDefault:"5s"`
	// AttemptTimeout bounds one attempt (connect, send, answer).
	AttemptTimeout time.Duration `env:"SEND_TIMEOUT" envDefault:"10s"`
}

// Sender delivers events to a sink in binary mode, applying the configured extension
// overrides, retrying 5xx answers, 408, 429 and network errors with exponential backoff
// and full jitter up to MaxAttempts. Any other 4xx answer is a Permanent error at once:
// the sink will never accept the event, and the caller dead-letters it. A Sender is safe
// for concurrent use.
type Sender struct {
	cfg        SenderConfig
	client     *http.Client
	extensions map[string]string
	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// overrides is the shape of K_CE_OVERRIDES.
type overrides struct {
	Extensions map[string]string `json:"extensions"`
}

// NewSender checks cfg and returns a Sender using client (http.DefaultClient when nil).
func NewSender(cfg SenderConfig, client *http.Client) (*Sender, error) {
	u, err := url.Parse(cfg.Sink)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("K_SINK %q is not an http(s) URL", cfg.Sink)
	}
	if cfg.MaxAttempts < 1 {
		return nil, fmt.Errorf("SEND_MAX_ATTEMPTS is %d; it must be at least 1", cfg.MaxAttempts)
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 100 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = cfg.BackoffBase
	}
	ext, err := ParseOverrides(cfg.Overrides)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Sender{cfg: cfg, client: client, extensions: ext, sleep: Sleep}, nil
}

// ParseOverrides reads K_CE_OVERRIDES. Empty means no overrides. Extension names must be
// valid CloudEvents attribute names (lower-case letters and digits).
func ParseOverrides(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var o overrides
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return nil, fmt.Errorf("K_CE_OVERRIDES is not {\"extensions\":{...}} JSON: %w", err)
	}
	for name := range o.Extensions {
		if !validExtensionName(name) {
			return nil, fmt.Errorf("K_CE_OVERRIDES: extension name %q must be 1-20 lower-case letters or digits", name)
		}
	}
	return o.Extensions, nil
}

func validExtensionName(n string) bool {
	if n == "" || len(n) > 20 {
		return false
	}
	for _, c := range n {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Sink returns the URL events are sent to.
func (s *Sender) Sink() string { return s.cfg.Sink }

// Apply sets the configured override extensions on e.
func (s *Sender) Apply(e *cloudevents.Event) {
	for k, v := range s.extensions {
		e.SetExtension(k, v)
	}
}

// StatusError is a sink's refusal: the status code it answered and the start of its body.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("sink answered %d", e.Status)
	}
	return fmt.Sprintf("sink answered %d: %s", e.Status, e.Body)
}

// Send delivers e, with the distributed-tracing extension set from ctx's span when e has
// none (InjectTrace) and the same trace context in the request's traceparent. It returns nil once the sink answers 2xx; a Permanent error wrapping
// a *StatusError when the sink refuses e with a non-retryable 4xx (or e itself is
// invalid); otherwise the last attempt's error, after MaxAttempts attempts or when ctx
// ends.
func (s *Sender) Send(ctx context.Context, e cloudevents.Event) error {
	e = e.Clone()
	s.Apply(&e)
	InjectTrace(ctx, &e)
	if err := e.Validate(); err != nil {
		return Permanent(fmt.Errorf("send event %s: invalid event: %w", e.ID(), err))
	}
	var last error
	for attempt := 1; ; attempt++ {
		retryAfter, err := s.attempt(ctx, e)
		if err == nil {
			return nil
		}
		if IsPermanent(err) {
			return fmt.Errorf("send event %s to %s: %w", e.ID(), s.cfg.Sink, err)
		}
		last = err
		if attempt >= s.cfg.MaxAttempts {
			break
		}
		d := Backoff(s.cfg.BackoffBase, s.cfg.BackoffMax, attempt, rand.Float64())
		if retryAfter > d {
			d = min(retryAfter, s.cfg.BackoffMax)
		}
		if err := s.sleep(ctx, d); err != nil {
			return fmt.Errorf("send event %s to %s: gave up after %d attempts: %w (last: %w)", e.ID(), s.cfg.Sink, attempt, err, last)
		}
	}
	return fmt.Errorf("send event %s to %s: gave up after %d attempts: %w", e.ID(), s.cfg.Sink, s.cfg.MaxAttempts, last)
}

// attempt POSTs e once, returning the Retry-After the sink asked for, if any.
func (s *Sender) attempt(ctx context.Context, e cloudevents.Event) (time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.cfg.Sink, nil)
	if err != nil {
		return 0, Permanent(fmt.Errorf("build request: %w", err))
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(actx), binding.ToMessage(&e), req); err != nil {
		return 0, Permanent(fmt.Errorf("encode event: %w", err))
	}
	telemetry.Inject(actx, req.Header) // the delivery's own hop, beside the event's ce-traceparent
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	serr := &StatusError{Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	if Retryable(resp.StatusCode) {
		return retryAfter(resp.Header.Get("Retry-After")), serr
	}
	return 0, Permanent(serr)
}

// Retryable reports whether a sink's answer with this status may succeed on a retry:
// 5xx, 408 Request Timeout and 429 Too Many Requests. Other statuses (2xx aside) are
// final.
func Retryable(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// Backoff is the delay before retry number attempt (1 for the first retry): full
// jitter over an exponential ceiling, base*2^(attempt-1) capped at limit, scaled by
// jitter in [0,1). The result is at least base/2 so retries never spin.
func Backoff(base, limit time.Duration, attempt int, jitter float64) time.Duration {
	ceiling := base
	for i := 1; i < attempt && ceiling < limit; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, limit)
	return max(time.Duration(float64(ceiling)*jitter), base/2)
}

// retryAfter parses a Retry-After header given in seconds; anything else is 0.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// Sleep waits d, or until ctx ends and then returns its error: the wait between
// retries of the senders and the sources.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStatus returns the *StatusError in err's chain, or nil.
func errStatus(err error) *StatusError {
	var se *StatusError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// SinkStatus returns the status code the sink answered, when err is a sink's refusal,
// or 0.
func SinkStatus(err error) int {
	if se := errStatus(err); se != nil {
		return se.Status
	}
	return 0
}
