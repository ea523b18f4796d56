// Package telemetrytest is an in-process OTLP/HTTP metrics receiver for tests: it
// decodes every export request a process pushes (protobuf, gzip or not), as a
// collector would, so a test can check what reached it.
package telemetrytest

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// MetricsReceiver takes POST /v1/metrics; anything else, or a body that does not
// decode, fails the test.
type MetricsReceiver struct {
	// URL is the receiver's base URL, an OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	t    testing.TB
	mu   sync.Mutex
	got  []*colmetricpb.ExportMetricsServiceRequest
	gzip bool
}

// NewMetricsReceiver starts a receiver, stopped when the test ends.
func NewMetricsReceiver(t testing.TB) *MetricsReceiver {
	m := &MetricsReceiver{t: t}
	srv := httptest.NewServer(m)
	m.URL = srv.URL
	t.Cleanup(srv.Close)
	return m
}

// ServeHTTP decodes one export request and answers it as a collector does.
func (m *MetricsReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/metrics" {
		m.t.Errorf("the metrics receiver got %s %s, want POST /v1/metrics", r.Method, r.URL.Path)
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

// Requests is how many export requests arrived.
func (m *MetricsReceiver) Requests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

// Gzipped reports whether any export request was gzip-compressed.
func (m *MetricsReceiver) Gzipped() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gzip
}

// Sum returns the latest value received of the sum (a Prometheus counter) name whose
// data point has the attributes labels, the service.name of the resource that sent
// it, and whether there was one.
func (m *MetricsReceiver) Sum(name string, labels map[string]string) (value float64, service string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, req := range m.got {
		for _, rm := range req.GetResourceMetrics() {
			svc := ""
			for _, a := range rm.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					svc = a.GetValue().GetStringValue()
				}
			}
			for _, sm := range rm.GetScopeMetrics() {
				for _, mt := range sm.GetMetrics() {
					if mt.GetName() != name {
						continue
					}
					for _, dp := range mt.GetSum().GetDataPoints() {
						if has(dp, labels) {
							value, service, ok = number(dp), svc, true
						}
					}
				}
			}
		}
	}
	return value, service, ok
}

func has(dp *metricpb.NumberDataPoint, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, a := range dp.GetAttributes() {
			if a.GetKey() == k && a.GetValue().GetStringValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func number(dp *metricpb.NumberDataPoint) float64 {
	if _, ok := dp.GetValue().(*metricpb.NumberDataPoint_AsInt); ok {
		return float64(dp.GetAsInt())
	}
	return dp.GetAsDouble()
}
