// Package telemetry sets up OpenTelemetry tracing for every service and holds the small
// pieces that carry a trace across the project's hops: HTTP servers (Handler), the
// gateway's upstream requests (Inject), the AWS SDK (awsconf calls AWS) and CloudEvents
// (InjectEvent, ExtractEvent: the CloudEvents distributed-tracing extension).
//
// Tracing is configured only by the standard OTEL_* variables. It is off unless an OTLP
// endpoint is set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT), and
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off whatever the endpoint.
// Off, the global tracer provider stays OpenTelemetry's no-op one: no span is recorded,
// nothing is exported, and an incoming W3C traceparent is still passed on (the trace
// id is answered in X-Trace-Id and forwarded upstream), so a trace that a caller
// records continues through a service that records nothing.
//
// The tracer provider and the propagators (W3C tracecontext and baggage) are
// OpenTelemetry's globals, set once per process by Setup: the instrumentation libraries
// (otelhttp, otelaws) find them there.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-architect/serverless-architect/internal/version"
)

// TraceIDHeader is the response header that carries the request's trace id (32
// lowercase hex digits), on every answer of every service whenever the request belongs
// to a trace: one the caller sent in traceparent, or one the service started. Paste it
// into `sa trace`.
const TraceIDHeader = "X-Trace-Id"

// instrumentation is the name of the project's own tracer.
const instrumentation = "github.com/serverless-architect/serverless-architect/internal/telemetry"

// propagator is the W3C trace context and baggage, the propagators of every service.
var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Settings is what Setup reads from the environment.
type Settings struct {
	// Endpoint is the OTLP/HTTP traces URL (…/v1/traces); empty: tracing is off.
	Endpoint string
	// Service is the service.name of every span (OTEL_SERVICE_NAME, else the service).
	Service string
}

// Read returns the settings that lookup (an environment) gives a service: the traces
// endpoint from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else from
// OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces appended (the OTLP/HTTP rule); none when
// OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none. An endpoint that is not an
// http(s) URL, or an exporter other than otlp or none, is an error naming its variable.
func Read(service string, lookup func(string) (string, bool)) (Settings, error) {
	s := Settings{Service: service}
	if v, ok := lookup("OTEL_SERVICE_NAME"); ok && v != "" {
		s.Service = v
	}
	if v, _ := lookup("OTEL_SDK_DISABLED"); strings.EqualFold(strings.TrimSpace(v), "true") {
		return s, nil
	}
	switch v, _ := lookup("OTEL_TRACES_EXPORTER"); strings.TrimSpace(v) {
	case "", "otlp":
	case "none":
		return s, nil
	default:
		return s, fmt.Errorf("OTEL_TRACES_EXPORTER %q: this build exports traces with otlp only (or none)", v)
	}
	name, endpoint := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""
	if v, _ := lookup(name); v != "" {
		endpoint = v
	} else if v, _ := lookup("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		name, endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimRight(v, "/")+"/v1/traces"
	}
	if endpoint == "" {
		return s, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s, fmt.Errorf("%s %q is not an http(s) URL (OTLP/HTTP, e.g. http://otel-collector:4318)", name, endpoint)
	}
	s.Endpoint = endpoint
	return s, nil
}

// Setup installs the propagators and, when s has an endpoint, a tracer provider that
// batches spans to it over OTLP/HTTP (protobuf). The sampler, batch timings, exporter
// headers, compression and timeout are the SDK's, from their OTEL_* variables
// (OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS, ...), and
// OTEL_RESOURCE_ATTRIBUTES adds to the resource. The returned function flushes the
// spans still buffered and stops the provider, within its context's deadline; with no
// endpoint it does nothing.
func Setup(ctx context.Context, s Settings) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if s.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(s.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter for %s: %w", s.Endpoint, err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(s.Service), semconv.ServiceVersion(version.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Enabled reports whether this process records spans (Setup was given an endpoint).
func Enabled() bool {
	_, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	return ok
}

// Tracer is the project's tracer, from the global provider.
func Tracer() trace.Tracer { return otel.Tracer(instrumentation) }

// Propagator returns the propagators every service uses: W3C tracecontext and baggage.
func Propagator() propagation.TextMapPropagator { return propagator }

// TraceID returns the trace id of ctx's span as 32 hex digits, "" when ctx has none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
