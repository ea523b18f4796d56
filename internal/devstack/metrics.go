package devstack

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// sa dev's own metrics: what the stack did to its processes, in Prometheus's text
// format on GET /metrics of the trace receiver's HTTP server (traces.go; the URL is
// MetricsURL in .dev/stack.json and `sa status` prints it). The services' own series
// are on their own /metrics ports (docs/observability.md).

// MetricsPath is where sa dev serves its own metrics, on the trace receiver's server.
const MetricsPath = "/metrics"

// coldStartBuckets are the cold-start histogram's upper bounds in seconds: a Go
// service starts in tens of milliseconds; ReadyTimeout caps a start.
var coldStartBuckets = []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// reloadBuckets are the reload histogram's upper bounds in seconds: a phase takes
// milliseconds (stop, start) to seconds (a build).
var reloadBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2, 3, 5, 10, 30}

// devMetrics are sa dev's series, one registry per stack.
type devMetrics struct {
	reg       *prometheus.Registry
	coldStart *prometheus.HistogramVec
	restarts  *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	// reloadPhase is where the time of a hot reload goes (watch.go).
	reloadPhase *prometheus.HistogramVec
}

func newDevMetrics() *devMetrics {
	m := &devMetrics{
		reg: prometheus.NewRegistry(),
		coldStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sa_dev_cold_start_seconds",
			Help:    "Cold starts of the services sa dev --scale-to-zero starts on a request: from starting the process to its first 200 on /readyz.",
			Buckets: coldStartBuckets,
		}, []string{"service"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sa_dev_restarts_total",
			Help: "Processes that died and that sa dev started again.",
		}, []string{"service"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sa_dev_reloads_total",
			Help: "Processes sa dev --watch rebuilt and started again after a saved change.",
		}, []string{"service"}),
		reloadPhase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sa_dev_reload_seconds",
			Help:    "Hot reloads of sa dev --watch, by phase: wait (from the first save to the build: the debounce), build (go build) or publish (web/ to its bucket), stop (the old process), start (the new one, to its first 200 on /readyz), and serving (from the save to that 200: the sum).",
			Buckets: reloadBuckets,
		}, []string{"service", "phase"}),
	}
	m.reg.MustRegister(m.coldStart, m.restarts, m.reloads, m.reloadPhase)
	return m
}

// metrics returns the stack's series, made on first use.
func (s *stackRun) metrics() *devMetrics {
	s.metricsOnce.Do(func() { s.devMetrics = newDevMetrics() })
	return s.devMetrics
}

// observeColdStart records one cold start of service that took took.
func (s *stackRun) observeColdStart(service string, took time.Duration) {
	s.metrics().coldStart.WithLabelValues(service).Observe(took.Seconds())
}

// metricsHandler serves the stack's series.
func (s *stackRun) metricsHandler() http.Handler {
	reg := s.metrics().reg
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
