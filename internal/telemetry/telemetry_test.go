package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerParent = "00-" + callerTrace + "-00f067aa0ba902b7-01"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Settings
		wantErr string
	}{
		{name: "off by default", env: nil, want: Settings{Service: "svc"}},
		{name: "base endpoint gets the traces path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			want: Settings{Service: "svc", Endpoint: "http://collector:4318/v1/traces", MetricsEndpoint: "http://collector:4318/v1/metrics"}},
		{name: "traces endpoint as it is, before the base", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/otlp/traces"},
			want: Settings{Service: "svc", Endpoint: "https://b/otlp/traces", MetricsEndpoint: "http://a:4318/v1/metrics"}},
		{name: "service name", env: map[string]string{"OTEL_SERVICE_NAME": "blog-api-eu"}, want: Settings{Service: "blog-api-eu"}},
		{name: "SDK disabled", env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"},
			want: Settings{Service: "svc"}},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"},
			want: Settings{Service: "svc", MetricsEndpoint: "http://a:4318/v1/metrics"}},
		{name: "metrics exporter none", env: map[string]string{"OTEL_METRICS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"},
			want: Settings{Service: "svc", Endpoint: "http://a:4318/v1/traces"}},
		{name: "metrics endpoint as it is, interval", env: map[string]string{
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://m/otlp/metrics", "OTEL_METRIC_EXPORT_INTERVAL": "15000"},
			want: Settings{Service: "svc", MetricsEndpoint: "https://m/otlp/metrics", MetricsInterval: 15 * time.Second}},
		{name: "other metrics exporter", env: map[string]string{"OTEL_METRICS_EXPORTER": "console"}, wantErr: "OTEL_METRICS_EXPORTER"},
		{name: "bad interval", env: map[string]string{"OTEL_METRIC_EXPORT_INTERVAL": "10s"}, wantErr: "OTEL_METRIC_EXPORT_INTERVAL"},
		{name: "bad metrics endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "m:4318"}, wantErr: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"},
		{name: "exporter otlp", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318"},
			want: Settings{Service: "svc", Endpoint: "http://a:4318/v1/traces", MetricsEndpoint: "http://a:4318/v1/metrics"}},
		{name: "other exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "gRPC-style endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "bad traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read("svc", func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("settings (-want +got):\n%s", d)
			}
		})
	}
}

// TestSetupOffRecordsNothing: without an endpoint Setup leaves the no-op provider.
func TestSetupOffRecordsNothing(t *testing.T) {
	shutdown, err := Setup(context.Background(), Settings{Service: "svc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if Enabled() {
		t.Fatal("tracing is on without an endpoint")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// record makes the process record spans into an in-memory exporter for the test.
func record(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return exp
}

func serve(h http.Handler, traceparent string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/v1/todos/1", nil)
	if traceparent != "" {
		r.Header.Set("Traceparent", traceparent)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerOff(t *testing.T) {
	var seen trace.SpanContext
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	w := serve(h, callerParent)
	if got := w.Header().Get(TraceIDHeader); got != callerTrace {
		t.Errorf("X-Trace-Id = %q, want the caller's %s", got, callerTrace)
	}
	if seen.TraceID().String() != callerTrace || seen.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("the handler's context has %v, want the caller's span", seen)
	}
	w = serve(h, "")
	if got, ok := w.Header()[TraceIDHeader]; ok {
		t.Errorf("X-Trace-Id = %q without a trace", got)
	}
	w = serve(h, "00-garbage")
	if got, ok := w.Header()[TraceIDHeader]; ok {
		t.Errorf("X-Trace-Id = %q for an invalid traceparent", got)
	}
}

func TestHandlerOn(t *testing.T) {
	exp := record(t)
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		Route(r, "/v1/todos/:id")
		out := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "http://upstream/x", nil)
		end := Client(out)
		if tp, id := out.Header.Get("Traceparent"), TraceID(r.Context()); id == "" || !strings.Contains(tp, id) {
			t.Errorf("upstream traceparent = %q, want the request's trace %q", tp, id)
		}
		end(http.StatusOK, nil)
		w.WriteHeader(http.StatusNoContent)
	}))
	w := serve(h, callerParent)
	if got := w.Header().Get(TraceIDHeader); got != callerTrace {
		t.Errorf("X-Trace-Id = %q, want %s", got, callerTrace)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the client's and the server's: %v", len(spans), spans)
	}
	client, server := spans[0], spans[1]
	if server.Name != "GET /v1/todos/:id" || server.SpanKind != trace.SpanKindServer {
		t.Errorf("server span %q (%v), want GET /v1/todos/:id (server)", server.Name, server.SpanKind)
	}
	if server.Parent.SpanID().String() != "00f067aa0ba902b7" || !server.Parent.IsRemote() {
		t.Errorf("server span's parent = %v, want the caller's span", server.Parent)
	}
	if client.Parent.SpanID() != server.SpanContext.SpanID() || client.SpanKind != trace.SpanKindClient {
		t.Errorf("client span's parent = %v, want the server span %v", client.Parent.SpanID(), server.SpanContext.SpanID())
	}

	// Probes make no spans; a request without traceparent starts a trace and names it.
	exp.Reset()
	r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	w = serve(h, "")
	spans = exp.GetSpans()
	if len(spans) != 2 { // the client's and the server's, none for /healthz
		t.Fatalf("%d spans, want 2 (none for /healthz)", len(spans))
	}
	if got := w.Header().Get(TraceIDHeader); got != spans[1].SpanContext.TraceID().String() || spans[1].Parent.IsValid() {
		t.Errorf("X-Trace-Id = %q; the root span is in %v", got, spans[1].SpanContext.TraceID())
	}
}

func TestAnswered(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/v1/todos", nil)
	h := http.Header{}
	Answered(r, h, time.Now(), http.StatusOK)
	if len(h) != 0 {
		t.Errorf("off, no traceparent: headers %v, want none", h)
	}
	r.Header.Set("Traceparent", callerParent)
	Answered(r, h, time.Now(), http.StatusOK)
	if got := h.Get(TraceIDHeader); got != callerTrace {
		t.Errorf("off: X-Trace-Id = %q, want %s", got, callerTrace)
	}

	exp := record(t)
	h = http.Header{}
	Answered(r, h, time.Now().Add(-time.Millisecond), http.StatusOK)
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Parent.SpanID().String() != "00f067aa0ba902b7" || spans[0].SpanKind != trace.SpanKindServer {
		t.Fatalf("on: spans %v, want one server span under the caller's", spans)
	}
	if got := h.Get(TraceIDHeader); got != callerTrace {
		t.Errorf("on: X-Trace-Id = %q, want %s", got, callerTrace)
	}
}
