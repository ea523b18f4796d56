// Package cloudevent carries the project's CloudEvents over HTTP the way Knative
// Eventing does: consumers receive them (binary or structured mode) through
// NewHTTPHandler and answer 2xx when done, 4xx for an event that will never succeed
// (Permanent, never retried) and 5xx for a retryable failure; sources send them to their
// sink (K_SINK, with K_CE_OVERRIDES) in binary mode through a Sender that retries
// retryable failures with bounded exponential backoff and jitter.
package cloudevent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
)

// ReceiverRoute is the route label of the requests a receiver (NewHTTPHandler) answers:
// Knative delivers to "/", but the receiver takes any path.
const ReceiverRoute = "/*"

// Handler handles one event: nil -> 2xx; an error marked Permanent -> 4xx (never
// retried); any other error -> 5xx (retried).
type Handler func(ctx context.Context, e cloudevents.Event) error

// permanentError marks an error as one that no retry can fix.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent marks err as permanent: the event will never succeed, so it must not be
// retried (a consumer answers 4xx; a sender's caller dead-letters it). Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// NewHTTPHandler receives CloudEvents over HTTP (binary and structured mode), calls h
// with each, and maps its result to the status code: 204 for nil, 400 for a Permanent
// error, 503 (with Retry-After when the error is an apperr.Error asking for one) or 500
// for any other. A request that is not a valid CloudEvent gets 400 and h is not called;
// a method other than POST gets 405. Every log line carries the request id. The
// receiver answers every path as one route, ReceiverRoute in the request metrics.
// h runs in a consumer span that continues the trace of the event's
// distributed-tracing extension (traceparent), when tracing is on.
func NewHTTPHandler(log *slog.Logger, h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		metrics.SetRoute(ctx, ReceiverRoute)
		rid := logging.RequestID(ctx)
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			apperr.Write(w, apperr.New(apperr.MethodNotAllowed, "CloudEvents are delivered with POST"), rid)
			return
		}
		e, err := Decode(ctx, r)
		if err != nil {
			log.WarnContext(ctx, "not a CloudEvent", "err", err)
			apperr.Write(w, apperr.New(apperr.Invalid, "the request is not a valid CloudEvent: %v", err), rid)
			return
		}
		attrs := []any{"ceId", e.ID(), "ceType", e.Type(), "ceSource", e.Source(), "ceSubject", e.Subject()}
		ctx, span := startConsumer(ctx, e)
		err = h(ctx, *e)
		endSpan(span, err)
		switch {
		case err == nil:
			log.DebugContext(ctx, "event handled", attrs...)
			w.WriteHeader(http.StatusNoContent)
		case IsPermanent(err):
			log.WarnContext(ctx, "event refused permanently", append(attrs, "err", err)...)
			// The reason goes in the answer too: Knative puts the body of the last
			// answer beside a dead-lettered event (the knativeerrordata extension).
			apperr.Write(w, apperr.New(apperr.Invalid, "the event cannot be processed and must not be retried: %v", err), rid)
		default:
			log.ErrorContext(ctx, "event failed; the sender should retry", append(attrs, "err", err)...)
			if ae := apperr.As(err); ae != nil && ae.Code == apperr.Unavailable {
				apperr.Write(w, &apperr.Error{Code: apperr.Unavailable, Message: "a dependency is unavailable; retry later", RetryAfter: ae.RetryAfter}, rid)
				return
			}
			apperr.Write(w, err, rid) // Render hides the text of internal errors.
		}
	})
}

// Decode reads the CloudEvent in r (binary or structured mode) and validates it.
func Decode(ctx context.Context, r *http.Request) (*cloudevents.Event, error) {
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer func() { _ = msg.Finish(nil) }()
	if msg.ReadEncoding() == binding.EncodingUnknown {
		return nil, errors.New("neither a binary-mode (ce-specversion header) nor a structured-mode (application/cloudevents+json) event")
	}
	e, err := binding.ToEvent(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("invalid event: %w", err)
	}
	return e, nil
}
