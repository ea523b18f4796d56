package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/telemetry/telemetrytest"
)

// countReaders counts the periodic readers Setup makes while the test runs.
func countReaders(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	orig := newReader
	newReader = func(e sdkmetric.Exporter, o ...sdkmetric.PeriodicReaderOption) *sdkmetric.PeriodicReader {
		n.Add(1)
		return orig(e, o...)
	}
	t.Cleanup(func() { newReader = orig })
	return &n
}

// served answers one request on /v1/todos/{id} through a handler wrapped as svcmain
// wraps a service's (metrics.Registry.Instrument), naming its route template.
func served(t *testing.T, reg *metrics.Registry) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/todos/{id}", func(w http.ResponseWriter, r *http.Request) {
		metrics.SetRoute(r.Context(), "/v1/todos/:id")
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(reg.Instrument(mux))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/todos/42")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
}

// TestMetricsPushedOverOTLP: with an OTLP endpoint, the series of the process's
// Prometheus registry reach an OTLP/HTTP receiver every OTEL_METRIC_EXPORT_INTERVAL,
// gzip-compressed when OTEL_EXPORTER_OTLP_COMPRESSION says so, with the route label
// and the service's name; shutting down stops the pushes.
func TestMetricsPushedOverOTLP(t *testing.T) {
	readers := countReaders(t)
	collector := telemetrytest.NewMetricsReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_TRACES_EXPORTER":        "none",
		"OTEL_METRIC_EXPORT_INTERVAL": "100",
		"OTEL_SERVICE_NAME":           "todo-api-test",
	}
	s, err := Read("todo-api", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if s.MetricsEndpoint != collector.URL+"/v1/metrics" || s.MetricsInterval != 100*time.Millisecond || s.Endpoint != "" {
		t.Fatalf("settings %+v: want metrics at %s/v1/metrics every 100ms, no traces", s, collector.URL)
	}
	reg := metrics.New()
	shutdown, err := Setup(context.Background(), s, reg)
	if err != nil {
		t.Fatal(err)
	}
	if readers.Load() != 1 {
		t.Fatalf("%d periodic readers started, want 1", readers.Load())
	}
	served(t, reg)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, svc, ok := collector.Sum("http_server_requests_total", map[string]string{"route": "/v1/todos/:id", "method": "GET", "code": "204"})
		if ok && v == 1 {
			if svc != "todo-api-test" {
				t.Errorf("service.name %q, want todo-api-test (OTEL_SERVICE_NAME)", svc)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no http_server_requests_total{route=/v1/todos/:id} = 1 in %d export requests within 10s", collector.Requests())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !collector.Gzipped() {
		t.Error("OTEL_EXPORTER_OTLP_COMPRESSION=gzip, but no export request was gzip-compressed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n := collector.Requests()
	time.Sleep(300 * time.Millisecond)
	if m := collector.Requests(); m != n {
		t.Errorf("%d export requests after shutdown", m-n)
	}
}

// TestMetricsOffStartsNothing: without an endpoint, or with OTEL_METRICS_EXPORTER=none
// or prometheus, no periodic reader is made and the receiver (which the none case
// names) gets nothing.
func TestMetricsOffStartsNothing(t *testing.T) {
	collector := telemetrytest.NewMetricsReceiver(t)
	for name, env := range map[string]map[string]string{
		"no endpoint": {"OTEL_METRIC_EXPORT_INTERVAL": "100"},
		"exporter none": {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL, "OTEL_METRICS_EXPORTER": "none",
			"OTEL_TRACES_EXPORTER": "none", "OTEL_METRIC_EXPORT_INTERVAL": "100"},
		"exporter prometheus": {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": collector.URL + "/v1/metrics", "OTEL_METRICS_EXPORTER": "prometheus",
			"OTEL_METRIC_EXPORT_INTERVAL": "100"},
	} {
		t.Run(name, func(t *testing.T) {
			readers := countReaders(t)
			s, err := Read("svc", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			if s.MetricsEndpoint != "" {
				t.Fatalf("metrics endpoint %q, want none", s.MetricsEndpoint)
			}
			reg := metrics.New()
			shutdown, err := Setup(context.Background(), s, reg)
			if err != nil {
				t.Fatal(err)
			}
			served(t, reg)
			time.Sleep(300 * time.Millisecond) // three intervals, were a reader running
			if n := readers.Load(); n != 0 {
				t.Errorf("%d periodic readers started, want none", n)
			}
			if err := shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := collector.Requests(); n != 0 {
		t.Errorf("the receiver got %d export requests, want none", n)
	}
}
