package api

import (
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
)

// NewTransport returns the transport the gateway uses upstream: keep-alive connections
// kept for every concurrent request (net/http keeps 2 per host by default, which makes
// a busy proxy dial constantly), no transparent gzip (bodies pass through as the
// upstream encoded them), no proxy from the environment.
func NewTransport(maxIdle int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxIdle * 4,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// transportFor is the transport of rt's upstream.
func (g *Gateway) transportFor(rt *route.Route) http.RoundTripper {
	if rt.Index < len(g.transports) {
		return g.transports[rt.Index]
	}
	return g.transport
}

// upstreamSeconds is the upstream latency series of rt.
func (g *Gateway) upstreamSeconds(rt *route.Route) prometheus.Observer {
	if rt.Index < len(g.upstreamObs) {
		return g.upstreamObs[rt.Index]
	}
	return g.metrics.upstream.WithLabelValues(rt.Name)
}
