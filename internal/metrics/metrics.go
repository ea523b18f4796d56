// Package metrics is every service's Prometheus registry and its /metrics endpoint.
//
// svcmain makes one Registry per process (New), with the Go runtime and process
// collectors, puts it in the context the service's start function gets (NewContext,
// FromContext: the way Knative's sharedmain hands loggers down), serves it on
// METRICS_PORT (9464 by default, the port Knative leaves to user containers; 0 turns it
// off) and wraps the service's HTTP handler in Instrument: requests and their duration
// by route template, method and status code. A service adds its own series with
// Registry.MustRegister.
//
// The naming (docs/observability.md): http_server_* for what every HTTP service
// answers, <service>_* for what one service alone counts, *_total for counters,
// *_seconds for durations, labels route, method, code, outcome, reason.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the metrics endpoint's configuration, read by svcmain beside the service's
// own.
type Config struct {
	// Port serves /metrics; 0 turns the endpoint off. Knative reserves 8012, 8013,
	// 8022, 9090 and 9091 in the user container; 9464 is the Prometheus exporter port
	// OpenTelemetry uses too.
	Port int `env:"METRICS_PORT" envDefault:"9464"`
}

// Validate reports a port outside 0..65535.
func (c Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("METRICS_PORT: %d is not a TCP port (0 turns /metrics off)", c.Port)
	}
	return nil
}

// Registry is a service's Prometheus registry with the HTTP series of Instrument.
type Registry struct {
	*prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu    sync.Mutex
	names map[string]bool
}

// DurationBuckets are the request-duration histogram's upper bounds in seconds, from
// a cached read (a millisecond) to the longest request a service allows (a minute).
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New returns a registry holding the Go runtime and process collectors and the HTTP
// series (http_server_requests_total, http_server_request_duration_seconds).
func New() *Registry {
	r := &Registry{
		Registry: prometheus.NewRegistry(),
		names:    map[string]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_server_requests_total",
			Help: "Requests answered, by route template (unmatched: no route), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Time from a request's headers to the end of its answer, by route template and method.",
			Buckets: DurationBuckets,
		}, []string{"route", "method"}),
	}
	r.MustRegister(r.requests, r.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// MustRegister registers cs, as prometheus.Registry's does (a duplicate name panics:
// a programming error), and notes the names of the families they describe (Names).
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	r.Registry.MustRegister(cs...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				r.names[m[1]] = true
			}
		}
	}
}

// fqName finds a family's name in prometheus.Desc's String, the only place
// client_golang shows it.
var fqName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// Names are the families registered through MustRegister, sorted: what a dashboard
// may query, whether or not a series has been written yet (a scrape shows only those).
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.names))
}

// Handler serves the registry in Prometheus's exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.Registry, promhttp.HandlerOpts{Registry: r.Registry})
}

type contextKey struct{}

// NewContext returns ctx carrying r.
func NewContext(ctx context.Context, r *Registry) context.Context {
	return context.WithValue(ctx, contextKey{}, r)
}

// FromContext returns the registry svcmain put in ctx or, when there is none (a test
// that builds a service's handler by itself), a new one nobody serves.
func FromContext(ctx context.Context) *Registry {
	if r, ok := ctx.Value(contextKey{}).(*Registry); ok {
		return r
	}
	return New()
}

// Serve serves r on host:port until stop is closed, so that /metrics stays up while
// the service drains. A port that cannot be bound fails at once.
func (r *Registry) Serve(ctx context.Context, host string, port int, log *slog.Logger, stop <-chan struct{}) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("metrics: listen on METRICS_PORT %d: %w", port, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("metrics listening", "addr", "http://"+l.Addr().String()+"/metrics")
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-stop:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
