package peer

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Node's Prometheus series.
type metrics struct {
	published  prometheus.Counter
	sent       prometheus.Counter
	received   prometheus.Counter
	sendErrors prometheus.Counter
	overflows  prometheus.Counter
	flushes    prometheus.Counter
	refused    *prometheus.CounterVec
	delay      prometheus.Histogram
	live       prometheus.Gauge
	coherent   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published:  prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_peer_invalidations_published_total", Help: "Invalidations of this replica's writes queued for its peers."}),
		sent:       prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_peer_invalidations_sent_total", Help: "Invalidations delivered to peers (each peer counts)."}),
		received:   prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_peer_invalidations_received_total", Help: "Invalidations received from peers and applied."}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_peer_send_errors_total", Help: "Messages to peers that failed and are retried."}),
		overflows:  prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_peer_queue_overflows_total", Help: "Times a peer's queue overflowed and became a flush."}),
		flushes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_peer_cache_flushes_total", Help: "Times this replica emptied its cache because it may have missed a peer's invalidations."}),
		refused:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_peer_messages_refused_total", Help: "Peer messages refused, by status (401: bad signature)."}, []string{"status"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_peer_invalidation_delay_seconds",
			Help:    "From a peer sending invalidations to this replica applying them (the clocks of two nodes).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		live:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "gateway_peer_live_replicas", Help: "Replicas known to be up: this one and the peers whose lease runs (throttling divides by it)."}),
		coherent: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gateway_peer_coherent", Help: "1 while every peer's lease runs and the cache may answer; 0 while the replica serves uncached."}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.sent, m.received, m.sendErrors, m.overflows, m.flushes, m.refused, m.delay, m.live, m.coherent)
	}
	return m
}
