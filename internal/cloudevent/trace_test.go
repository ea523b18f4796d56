package cloudevent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func remoteContext(t *testing.T) context.Context {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	}))
}

func TestTraceExtensionRoundTrip(t *testing.T) {
	e := testEvent(t)
	InjectTrace(context.Background(), &e)
	if len(e.Extensions()) != 0 {
		t.Fatalf("no trace in the context: extensions %v, want none", e.Extensions())
	}
	InjectTrace(remoteContext(t), &e)
	if got := e.Extensions()[TraceParentExtension]; got != testTraceParent {
		t.Errorf("traceparent = %v, want %s", got, testTraceParent)
	}
	if got := e.Extensions()[TraceStateExtension]; got != "vendor=x" {
		t.Errorf("tracestate = %v, want vendor=x", got)
	}
	sc := trace.SpanContextFromContext(ExtractTrace(context.Background(), &e))
	want := trace.SpanContextFromContext(remoteContext(t))
	if !sc.Equal(want) {
		t.Errorf("extracted %v, want %v", sc, want)
	}

	// An event passed on keeps its producer's trace.
	other := trace.ContextWithRemoteSpanContext(context.Background(), want.WithTraceID(trace.TraceID{1}))
	InjectTrace(other, &e)
	if got := e.Extensions()[TraceParentExtension]; got != testTraceParent {
		t.Errorf("traceparent replaced: %v", got)
	}

	// Nothing, or garbage, extracts as no trace.
	bad := testEvent(t)
	bad.SetExtension(TraceParentExtension, "00-zz")
	if sc := trace.SpanContextFromContext(ExtractTrace(context.Background(), &bad)); sc.IsValid() {
		t.Errorf("invalid traceparent extracted as %v", sc)
	}
}

// TestTraceAcrossDelivery sends an event from inside a producer span, in binary mode,
// to a NewHTTPHandler: the request carries ce-traceparent and the handler runs in a
// consumer span that is the producer span's child.
func TestTraceAcrossDelivery(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	var header string
	var handled trace.SpanContext
	h := NewHTTPHandler(slog.New(slog.NewJSONHandler(io.Discard, nil)), func(ctx context.Context, _ cloudevents.Event) error {
		handled = trace.SpanContextFromContext(ctx)
		return nil
	})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get("Ce-Traceparent")
		h.ServeHTTP(w, r)
	}))
	defer sink.Close()
	s, err := NewSender(SenderConfig{Sink: sink.URL, MaxAttempts: 1, AttemptTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := testEvent(t)
	ctx, producer := StartProducer(context.Background(), &e)
	if err := s.Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	producer.End()

	psc := producer.SpanContext()
	if want := "00-" + psc.TraceID().String() + "-" + psc.SpanID().String() + "-01"; header != want {
		t.Errorf("ce-traceparent = %q, want %q", header, want)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the consumer's and the producer's", len(spans))
	}
	consumer := spans[0]
	if consumer.Name != "com.example.thing process" || consumer.SpanKind != trace.SpanKindConsumer {
		t.Errorf("consumer span %q (%v)", consumer.Name, consumer.SpanKind)
	}
	if consumer.Parent.SpanID() != psc.SpanID() || consumer.SpanContext.TraceID() != psc.TraceID() {
		t.Errorf("consumer's parent = %v, want the producer %v", consumer.Parent, psc)
	}
	if handled.SpanID() != consumer.SpanContext.SpanID() {
		t.Errorf("the handler ran in %v, want the consumer span", handled)
	}
}
