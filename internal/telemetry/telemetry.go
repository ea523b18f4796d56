// Package telemetry sets up OpenTelemetry tracing (and the OTLP push of the process's
// Prometheus series, where an endpoint is configured) for every service and holds the small
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
// Metrics are Prometheus's (internal/metrics); with an OTLP metrics endpoint
// (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, or the base one) Setup also pushes them, read
// through OpenTelemetry's Prometheus bridge, every OTEL_METRIC_EXPORT_INTERVAL.
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promBridge "go.opentelemetry.io/contrib/bridges/prometheus"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
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
	// MetricsEndpoint is the OTLP/HTTP metrics URL (…/v1/metrics); empty: the process's
	// Prometheus series are not pushed (they are still served on METRICS_PORT).
	MetricsEndpoint string
	// MetricsInterval is the time between two metrics exports
	// (OTEL_METRIC_EXPORT_INTERVAL); zero: the SDK's default, 60 s.
	MetricsInterval time.Duration
	// Service is the service.name of every span and metric (OTEL_SERVICE_NAME, else the
	// service).
	Service string
}

// Read returns the settings that lookup (an environment) gives a service. Each signal's
// endpoint is OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT as it is, else
// OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces or /v1/metrics appended (the OTLP/HTTP
// rule); none for a signal whose exporter (OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER)
// is none, and none at all when OTEL_SDK_DISABLED is true. OTEL_METRICS_EXPORTER=prometheus
// also means no push: the Prometheus endpoint is always served. An endpoint that is not
// an http(s) URL, an unknown exporter or an interval that is not a positive number of
// milliseconds is an error naming its variable; the errors of all variables are joined.
func Read(service string, lookup func(string) (string, bool)) (Settings, error) {
	s := Settings{Service: service}
	if v, ok := lookup("OTEL_SERVICE_NAME"); ok && v != "" {
		s.Service = v
	}
	if v, _ := lookup("OTEL_SDK_DISABLED"); strings.EqualFold(strings.TrimSpace(v), "true") {
		return s, nil
	}
	var errs []error
	if on, err := exporterOn(lookup, "OTEL_TRACES_EXPORTER", "traces"); err != nil {
		errs = append(errs, err)
	} else if on {
		s.Endpoint, err = endpoint(lookup, "TRACES", "/v1/traces")
		errs = append(errs, err)
	}
	if on, err := exporterOn(lookup, "OTEL_METRICS_EXPORTER", "metrics", "prometheus"); err != nil {
		errs = append(errs, err)
	} else if on {
		s.MetricsEndpoint, err = endpoint(lookup, "METRICS", "/v1/metrics")
		errs = append(errs, err)
	}
	if v, _ := lookup("OTEL_METRIC_EXPORT_INTERVAL"); strings.TrimSpace(v) != "" {
		ms, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || ms <= 0 {
			errs = append(errs, fmt.Errorf("OTEL_METRIC_EXPORT_INTERVAL %q is not a positive number of milliseconds", v))
		} else {
			s.MetricsInterval = time.Duration(ms) * time.Millisecond
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s, errors.New(strings.ReplaceAll(err.Error(), "\n", "; ")) // one log line
	}
	return s, nil
}

// exporterOn reads a signal's exporter variable: true for otlp (the default), false for
// none and for the other values in alsoOff, an error for anything else.
func exporterOn(lookup func(string) (string, bool), name, signal string, alsoOff ...string) (bool, error) {
	switch v, _ := lookup(name); strings.TrimSpace(v) {
	case "", "otlp":
		return true, nil
	case "none":
		return false, nil
	default:
		if slices.Contains(alsoOff, strings.TrimSpace(v)) {
			return false, nil
		}
		return false, fmt.Errorf("%s %q: this build exports %s with otlp only (or %s)", name, v, signal, strings.Join(append(alsoOff, "none"), ", "))
	}
}

// endpoint is a signal's OTLP/HTTP URL: OTEL_EXPORTER_OTLP_<signal>_ENDPOINT as it is,
// else OTEL_EXPORTER_OTLP_ENDPOINT with path appended, "" when neither is set.
func endpoint(lookup func(string) (string, bool), signal, path string) (string, error) {
	name, u := "OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT", ""
	if v, _ := lookup(name); v != "" {
		u = v
	} else if v, _ := lookup("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		name, u = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimRight(v, "/")+path
	}
	if u == "" {
		return "", nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", fmt.Errorf("%s %q is not an http(s) URL (OTLP/HTTP, e.g. http://otel-collector:4318)", name, u)
	}
	return u, nil
}

// newReader makes the periodic reader of the metrics export; a test counts the calls.
var newReader = sdkmetric.NewPeriodicReader

// Setup installs the propagators; when s has a traces endpoint, a tracer provider that
// batches spans to it over OTLP/HTTP (protobuf); and when s has a metrics endpoint, a
// meter provider whose periodic reader pushes, every s.MetricsInterval, every series
// gathered from g (the process's Prometheus registry, through OpenTelemetry's
// Prometheus bridge) over OTLP/HTTP. The meter provider is not the global one: what
// goes out is exactly what /metrics shows. The sampler, batch timings, exporter headers,
// compression and timeout are the SDK's, from their OTEL_* variables
// (OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_HEADERS, ...), and
// OTEL_RESOURCE_ATTRIBUTES adds to the resource. The returned function flushes the
// spans and series still buffered and stops both providers, within its context's
// deadline; with no endpoint nothing is started and it does nothing.
func Setup(ctx context.Context, s Settings, g prometheus.Gatherer) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if s.Endpoint == "" && s.MetricsEndpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(s.Service), semconv.ServiceVersion(version.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	var stops []func(context.Context) error
	if s.Endpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(s.Endpoint))
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter for %s: %w", s.Endpoint, err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		otel.SetTracerProvider(tp)
		stops = append(stops, tp.Shutdown)
	}
	if s.MetricsEndpoint != "" {
		if g == nil {
			return nil, errors.New("OTLP metrics: no Prometheus registry to read")
		}
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(s.MetricsEndpoint))
		if err != nil {
			return nil, fmt.Errorf("OTLP metrics exporter for %s: %w", s.MetricsEndpoint, err)
		}
		opts := []sdkmetric.PeriodicReaderOption{sdkmetric.WithProducer(promBridge.NewMetricProducer(promBridge.WithGatherer(g)))}
		if s.MetricsInterval > 0 {
			opts = append(opts, sdkmetric.WithInterval(s.MetricsInterval))
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(newReader(exp, opts...)), sdkmetric.WithResource(res))
		stops = append(stops, mp.Shutdown)
	}
	return func(ctx context.Context) error {
		var errs []error
		for _, stop := range stops {
			errs = append(errs, stop(ctx))
		}
		return errors.Join(errs...)
	}, nil
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
