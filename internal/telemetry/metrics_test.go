package telemetry

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/serverless-architect/serverless-architect/internal/metrics"
)

// metricsReceiver is an OTLP/HTTP metrics receiver: it decodes every POST /v1/metrics
// (protobuf, gzip or not) and keeps the requests.
type metricsReceiver struct {
	t    *testing.T
	mu   sync.Mutex
	got  []*colmetricpb.ExportMetricsServiceRequest
	gzip bool
}

func (m *metricsReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/metrics" {
		m.t.Errorf("receiver got %s %s, want POST /v1/metrics", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	gz := r.Header.Get("Content-Encoding") == "gzip"
	if gz {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			m.t.Errorf("gzip body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := &colmetricpb.ExportMetricsServiceRequest{}
	if err := proto.Unmarshal(b, req); err != nil {
		m.t.Errorf("decode the export request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.got = append(m.got, req)
	m.gzip = m.gzip || gz
	m.mu.Unlock()
	out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// requests returns the requests received so far.
func (m *metricsReceiver) requests() []*colmetricpb.ExportMetricsServiceRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*colmetricpb.ExportMetricsServiceRequest(nil), m.got...)
}

// counted returns the value of http_server_requests_total{route} in reqs (the latest
// data point seen) and whether the series was there at all.
func counted(reqs []*colmetricpb.ExportMetricsServiceRequest, route string) (float64, string, bool) {
	var v float64
	var svc string
	found := false
	for _, req := range reqs {
		for _, rm := range req.GetResourceMetrics() {
			for _, a := range rm.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					svc = a.GetValue().GetStringValue()
				}
			}
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != "http_server_requests_total" {
						continue
					}
					for _, dp := range m.GetSum().GetDataPoints() {
						if attr(dp, "route") == route {
							v, found = number(dp), true
						}
					}
				}
			}
		}
	}
	return v, svc, found
}

func attr(dp *metricpb.NumberDataPoint, key string) string {
	for _, a := range dp.GetAttributes() {
		if a.GetKey() == key {
			return a.GetValue().GetStringValue()
		}
	}
	return ""
}

func number(dp *metricpb.NumberDataPoint) float64 {
	if _, ok := dp.GetValue().(*metricpb.NumberDataPoint_AsInt); ok {
		return float64(dp.GetAsInt())
	}
	return dp.GetAsDouble()
}

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
	rcv := &metricsReceiver{t: t}
	collector := httptest.NewServer(rcv)
	defer collector.Close()
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
		v, svc, ok := counted(rcv.requests(), "/v1/todos/:id")
		if ok && v == 1 {
			if svc != "todo-api-test" {
				t.Errorf("service.name %q, want todo-api-test (OTEL_SERVICE_NAME)", svc)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no http_server_requests_total{route=/v1/todos/:id} = 1 in %d export requests within 10s", len(rcv.requests()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	rcv.mu.Lock()
	gz := rcv.gzip
	rcv.mu.Unlock()
	if !gz {
		t.Error("OTEL_EXPORTER_OTLP_COMPRESSION=gzip, but no export request was gzip-compressed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(rcv.requests())
	time.Sleep(300 * time.Millisecond)
	if m := len(rcv.requests()); m != n {
		t.Errorf("%d export requests after shutdown", m-n)
	}
}

// TestMetricsOffStartsNothing: without an endpoint, or with OTEL_METRICS_EXPORTER=none
// or prometheus, no periodic reader is made and the receiver (which the none case
// names) gets nothing.
func TestMetricsOffStartsNothing(t *testing.T) {
	rcv := &metricsReceiver{t: t}
	collector := httptest.NewServer(rcv)
	defer collector.Close()
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
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("the receiver got %d export requests, want none", n)
	}
}
