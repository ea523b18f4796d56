package cloudevent

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-architect/serverless-architect/internal/telemetry"
)

// The CloudEvents distributed-tracing extension: the W3C trace context of the operation
// that produced an event travels on the event itself, as the extension attributes
// traceparent and tracestate (in binary mode the ce-traceparent and ce-tracestate
// headers), so a consumer continues the producer's trace whatever carried the event in
// between (a broker, a retry, a dead-letter queue). docs/events.md lists the attribute.
const (
	// TraceParentExtension is the extension attribute that holds the W3C traceparent.
	TraceParentExtension = "traceparent"
	// TraceStateExtension is the extension attribute that holds the W3C tracestate.
	TraceStateExtension = "tracestate"
)

// traceContext is the W3C trace context propagator; the extension holds no baggage.
var traceContext propagation.TraceContext

// eventCarrier adapts an event's extension attributes to a propagation.TextMapCarrier.
type eventCarrier struct{ e *cloudevents.Event }

func (c eventCarrier) Get(key string) string {
	if v, ok := c.e.Extensions()[key].(string); ok {
		return v
	}
	return ""
}

func (c eventCarrier) Set(key, value string) { c.e.SetExtension(key, value) }

func (c eventCarrier) Keys() []string {
	keys := make([]string, 0, len(c.e.Extensions()))
	for k := range c.e.Extensions() {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace sets the distributed-tracing extension of e from ctx's span, unless e
// already carries a traceparent (an event passed on keeps its producer's). With no
// trace in ctx it sets nothing.
func InjectTrace(ctx context.Context, e *cloudevents.Event) {
	if _, ok := e.Extensions()[TraceParentExtension]; ok {
		return
	}
	traceContext.Inject(ctx, eventCarrier{e})
}

// ExtractTrace returns ctx with the remote span context of e's distributed-tracing
// extension, or ctx unchanged when e has none (or an invalid one).
func ExtractTrace(ctx context.Context, e *cloudevents.Event) context.Context {
	return traceContext.Extract(ctx, eventCarrier{e})
}

// StartProducer starts the span of producing e, a new trace's root unless ctx already
// has a trace (a producer span, named "<type> create"), so that the event Send carries
// points at it. The caller ends it once the event is delivered or given up.
func StartProducer(ctx context.Context, e *cloudevents.Event) (context.Context, trace.Span) {
	return telemetry.Tracer().Start(ctx, e.Type()+" create",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(eventAttributes(e)...))
}

// startConsumer starts the span of processing e (a consumer span, "<type> process"):
// the child of e's distributed-tracing extension, linked to ctx's span (the HTTP request
// that delivered e) when that one belongs to another trace; without the extension, the
// child of ctx's span.
func startConsumer(ctx context.Context, e *cloudevents.Event) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(eventAttributes(e)...)}
	delivery := trace.SpanContextFromContext(ctx)
	parent := ExtractTrace(ctx, e)
	if p := trace.SpanContextFromContext(parent); delivery.IsValid() && p.TraceID() != delivery.TraceID() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: delivery}))
	}
	return telemetry.Tracer().Start(parent, e.Type()+" process", opts...)
}

func eventAttributes(e *cloudevents.Event) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("cloudevents.event_id", e.ID()),
		attribute.String("cloudevents.event_type", e.Type()),
		attribute.String("cloudevents.event_source", e.Source()),
		attribute.String("cloudevents.event_subject", e.Subject()),
	}
}

// endSpan ends span, marking it failed with err's message when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
