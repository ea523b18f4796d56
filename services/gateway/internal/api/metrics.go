package api

import (
	"github.com/prometheus/client_golang/prometheus"

	svcmetrics "github.com/serverless-architect/serverless-architect/internal/metrics"
)

// metrics are the gateway's Prometheus series, on the process's registry (which holds
// the Go runtime and process collectors).
type metrics struct {
	reg       *svcmetrics.Registry
	requests  *prometheus.CounterVec
	lookups   *prometheus.CounterVec
	evictions *prometheus.CounterVec
	upstream  *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	uncached  prometheus.Counter
}

func newMetrics(reg *svcmetrics.Registry) *metrics {
	if reg == nil {
		reg = svcmetrics.New()
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total",
			Help: "Requests answered, by route, method, status code and cache result (hit, miss, bypass, or none for answers the gateway gave itself).",
		}, []string{"route", "method", "code", "cache"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_lookups_total",
			Help: "Response-cache lookups by route and result (hit, miss, bypass).",
		}, []string{"route", "result"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_evictions_total",
			Help: "Entries the response cache dropped, by cause (size: the cache was full; expired: TTL).",
		}, []string{"cause"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_throttled_total",
			Help: "Requests refused with 429, by route and by the limit that refused them (route, caller, or auth_failures: the client address failed to authenticate too often).",
		}, []string{"route", "limit"}),
		uncached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_cache_incoherent_lookups_total",
			Help: "Lookups not answered from the cache because a peer's lease had run out (the replica may have missed an invalidation).",
		}),
	}
	m.reg.MustRegister(m.requests, m.lookups, m.evictions, m.upstream, m.throttled, m.uncached)
	return m
}

// cacheGauges registers the cache's size series.
func (m *metrics) cacheGauges(entries func() float64, bytes func() float64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_cache_entries", Help: "Entries in the response cache."}, entries),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_cache_bytes", Help: "Bytes held by the response cache (bodies, headers, keys and per-entry overhead)."}, bytes),
	)
}
