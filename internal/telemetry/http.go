package telemetry

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Handler wraps a service's whole handler chain. With tracing on, every request but the
// health probes (/healthz, /readyz) gets an otelhttp server span, the child of the
// caller's traceparent when it sent one; with tracing off, a request that came with a
// traceparent carries that context on (Inject forwards it). Either way the answer names
// its trace in X-Trace-Id when there is one. otelhttp's own HTTP metrics are not
// recorded here (the services' metrics are their own).
func Handler(h http.Handler) http.Handler {
	if !Enabled() {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.Header["Traceparent"]) > 0 {
				ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
				if id := TraceID(ctx); id != "" {
					w.Header().Set(TraceIDHeader, id)
					r = r.WithContext(ctx)
				}
			}
			h.ServeHTTP(w, r)
		})
	}
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := TraceID(r.Context()); id != "" {
			w.Header().Set(TraceIDHeader, id)
		}
		h.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(named, "",
		otelhttp.WithPropagators(propagator),
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" }),
	)
}

// Route names the request's server span after the route that matched (gin's FullPath,
// "/todos/:id"), as "GET /todos/:id" with http.route set. Routers call it once they
// know the route; it does nothing when the span is not recorded or route is empty.
func Route(r *http.Request, route string) {
	span := trace.SpanFromContext(r.Context())
	if route == "" || !span.IsRecording() {
		return
	}
	span.SetName(r.Method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// Inject writes ctx's trace context into h (traceparent, tracestate, baggage): the
// headers of a request to the next hop. With no trace in ctx it writes nothing.
func Inject(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// Answered is the trace of a request a server answered on its fast path, outside
// net/http and Handler (the gateway's cache hits): it sets X-Trace-Id on the answer's
// headers h when the request belongs to a trace and, with tracing on, records the
// server span from start to now with the answer's status. With tracing off and no
// traceparent it costs one header lookup.
func Answered(r *http.Request, h http.Header, start time.Time, status int, attrs ...attribute.KeyValue) {
	on := Enabled()
	if !on && len(r.Header["Traceparent"]) == 0 {
		return
	}
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	if on {
		var span trace.Span
		ctx, span = Tracer().Start(ctx, r.Method, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path),
				semconv.HTTPResponseStatusCode(status)),
			trace.WithAttributes(attrs...))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
	if id := TraceID(ctx); id != "" {
		h[TraceIDHeader] = []string{id}
	}
}

// Client traces a request to the next hop: with tracing on it starts a client span (the
// child of out's context, named after its method), puts it in out's context and
// headers (traceparent) and returns the function that ends it with the answer's status
// or the error. With tracing off it only writes the trace context out's context already
// has (a caller's traceparent passes on) and returns a function that does nothing.
func Client(out *http.Request) (end func(status int, err error)) {
	if !Enabled() {
		Inject(out.Context(), out.Header)
		return endNothing
	}
	ctx, span := Tracer().Start(out.Context(), out.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(out.Method), semconv.ServerAddress(out.URL.Host),
			semconv.URLFull(out.URL.Redacted())))
	*out = *out.WithContext(ctx)
	Inject(ctx, out.Header)
	return func(status int, err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
		}
		span.End()
	}
}

func endNothing(int, error) {}
