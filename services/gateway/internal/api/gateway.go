// Package api is the gateway's HTTP edge: the request pipeline, the job API Gateway
// does for the to-do API: route by the route table, throttle per route and per caller, authorize
// with Cognito, answer from the response cache, and otherwise stream the request to the
// route's upstream and its response back.
//
// In edge mode (MyBlog's local CloudFront) the gateway runs the distribution document
// `sa provision` recorded (internal/cdn) instead of a route table: behaviours by path
// pattern, S3 origins read with the SDK (package store), the cache key, TTLs, origin
// request and response headers its policies say, origin group failover (edge.go), and
// brotli or gzip compression (compress.go).
//
// Replicas keep their caches coherent through package peer (peers.go): a write
// invalidates the writer's entries on every replica, and a replica that may have missed
// an invalidation serves uncached. Cache hits that need nothing but memory are answered
// on the server's fast path (fast.go).
//
// Trust model (docs/trust.md): upstreams are cluster-local and verify the bearer token
// themselves; the gateway verifies it too (to authorize, throttle and key its cache per
// caller) and forwards Authorization unchanged. It asserts no identity of its own: it
// sends no X-Auth-* headers and removes every one (in any spelling) a client sent.
package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/cdn"
	svcmetrics "github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/peer"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/store"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/throttle"
)

// HeaderCache says how the cache answered: Hit, Miss or Bypass.
const HeaderCache = "X-Cache"

// Verifier checks a bearer token; *auth.Verifier is one.
type Verifier interface {
	Verify(ctx context.Context, token string) (auth.Identity, error)
	// Trusts reports whether an identity verified earlier is still of the pool
	// trusted now (locally the pool can change under a running gateway).
	Trusts(id auth.Identity) bool
}

// Deps are what New needs besides the configuration.
type Deps struct {
	// Table is the route table; nil in edge mode, where Distribution makes it.
	Table *route.Table
	// Distribution, when set, is the CloudFront distribution the gateway runs as the
	// blog's edge; OriginURLs then replaces origins' addresses by origin id.
	Distribution *cdn.Distribution
	OriginURLs   map[string]string
	Verifier     Verifier
	Log          *slog.Logger
	// Transport sends requests to http upstreams; when nil, each http upstream gets a
	// synchronous keep-alive client (upstream.go), and NewTransport the rest.
	Transport http.RoundTripper
	// S3 returns the client S3 origins are read with; required in edge mode when the
	// distribution has such an origin.
	S3 func(ctx context.Context) (store.API, error)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics is the registry the gateway's series go on; a registry of its own when nil.
	Metrics *svcmetrics.Registry
}

// Gateway is the pipeline, an http.Handler.
type Gateway struct {
	table     *route.Table
	verifier  Verifier
	log       *slog.Logger
	transport http.RoundTripper
	// transports holds each route's transport, by Route.Index.
	transports []http.RoundTripper
	// upstreamObs holds each route's upstream latency series, by Route.Index.
	upstreamObs []prometheus.Observer
	now         func() time.Time
	ids         *otter.Cache[[sha256.Size]byte, auth.Identity]
	cache       *cache.Store
	limits      *throttle.Limiter
	metrics     *metrics
	hops        int
	buffers     sync.Pool
	// clients are the synchronous clients of the http upstreams, one per scheme and host.
	clients []*upstreamClient
	// peers keeps the cache coherent with the other replicas; nil for a single replica.
	peers *peer.Node
	// authFailures limits failed authentications per client address.
	authFailures throttle.Limit
	// hitSeries holds the metric series of hits answered on the fast path (fast.go).
	hitSeries sync.Map
	// edge is the distribution the gateway runs in edge mode; nil otherwise.
	edge *edgeState
}

// New builds a Gateway. Nothing here touches the network.
func New(cfg Config, d Deps) (*Gateway, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	custom := d.Transport != nil
	if !custom {
		d.Transport = NewTransport(cfg.UpstreamMaxIdleConns)
	}
	if cfg.ForwardedHops < 0 {
		return nil, fmt.Errorf("FORWARDED_HOPS must not be negative, got %d", cfg.ForwardedHops)
	}
	if cfg.AuthCacheSize < 1 || cfg.AuthCacheTTL <= 0 {
		return nil, fmt.Errorf("AUTH_CACHE_SIZE (%d) and AUTH_CACHE_TTL (%s) must be positive", cfg.AuthCacheSize, cfg.AuthCacheTTL)
	}
	g := &Gateway{verifier: d.Verifier, log: d.Log, transport: d.Transport, now: d.Now, metrics: newMetrics(d.Metrics), hops: cfg.ForwardedHops}
	if d.Distribution != nil {
		table, edge, err := newEdge(d.Distribution, d.OriginURLs, d.S3, cfg.UpstreamMaxIdleConns)
		if err != nil {
			return nil, err
		}
		d.Table, g.edge = table, edge
	}
	if d.Table == nil {
		return nil, errors.New("a route table or a distribution is required")
	}
	g.table = d.Table
	g.buffers.New = func() any { b := make([]byte, 32<<10); return &b }
	clients := map[string]*upstreamClient{}
	var err error
	for _, rt := range d.Table.Routes {
		var t http.RoundTripper = d.Transport
		if g.edge == nil && !custom && rt.Upstream.URL != nil {
			key := rt.Upstream.URL.Scheme + "://" + rt.Upstream.URL.Host
			c := clients[key]
			if c == nil {
				if c, err = newUpstreamClient(rt.Upstream.URL.Scheme, rt.Upstream.URL.Host, cfg.UpstreamMaxIdleConns); err != nil {
					return nil, fmt.Errorf("route %s: %w", rt.Name, err)
				}
				clients[key] = c
				g.clients = append(g.clients, c)
			}
			t = c
		}
		g.transports = append(g.transports, t)
		g.upstreamObs = append(g.upstreamObs, g.metrics.upstream.WithLabelValues(rt.Name))
	}

	store, err := cache.New(cache.Options{
		MaxEntries: cfg.CacheMaxEntries,
		MaxBytes:   cfg.CacheMaxBytes,
		Now:        d.Now,
		OnEvict:    func(cause string) { g.metrics.evictions.WithLabelValues(cause).Inc() },
	})
	if err != nil {
		return nil, fmt.Errorf("CACHE_MAX_ENTRIES/CACHE_MAX_BYTES: %w", err)
	}
	g.cache = store
	g.metrics.cacheGauges(func() float64 { return float64(store.Len()) }, func() float64 { return float64(store.Bytes()) })

	if cfg.Peers.Enabled() {
		if g.peers, err = newPeers(cfg, store, d, g.metrics.reg.Registry); err != nil {
			return nil, err
		}
	}
	share := func() int { return 1 }
	if g.peers != nil {
		share = g.peers.Live
	}
	if cfg.AuthFailureRate < 0 || (cfg.AuthFailureRate > 0 && cfg.AuthFailureBurst < 1) {
		return nil, fmt.Errorf("AUTH_FAILURE_RATE (%g) must not be negative, and AUTH_FAILURE_BURST (%d) must be at least 1 when it is set", cfg.AuthFailureRate, cfg.AuthFailureBurst)
	}
	g.authFailures = throttle.Limit{Rate: cfg.AuthFailureRate, Burst: cfg.AuthFailureBurst}
	if g.limits, err = throttle.New(throttle.Options{MaxKeys: cfg.ThrottleMaxCallers, Now: d.Now, Share: share}); err != nil {
		return nil, fmt.Errorf("THROTTLE_MAX_CALLERS: %w", err)
	}
	ttl := cfg.AuthCacheTTL
	if g.ids, err = otter.New(&otter.Options[[sha256.Size]byte, auth.Identity]{
		MaximumSize: cfg.AuthCacheSize,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[[sha256.Size]byte, auth.Identity]) time.Duration {
			return min(ttl, e.Value.Expiry.Sub(d.Now()))
		}),
	}); err != nil {
		return nil, fmt.Errorf("AUTH_CACHE_SIZE: %w", err)
	}
	return g, nil
}

// Metrics returns the handler of /metrics.
func (g *Gateway) Metrics() http.Handler { return g.metrics.reg.Handler() }

// Close stops the gateway's background goroutines.
func (g *Gateway) Close() {
	g.cache.Close()
	g.limits.Close()
	if g.edge != nil {
		g.edge.close()
	}
	g.ids.StopAllGoroutines()
	for _, c := range g.clients {
		c.closeIdle()
	}
}

// exchange is one request going through the pipeline.
type exchange struct {
	w      *statusWriter
	r      *http.Request
	rt     *route.Route
	id     auth.Identity
	authed bool
	cache  string // hit, miss, bypass; "" for the gateway's own answers
	// beforeAnswer, when set, runs once just before the answer's status goes out.
	beforeAnswer func()
}

// answering runs the exchange's beforeAnswer hook, once.
func (x *exchange) answering() {
	if f := x.beforeAnswer; f != nil {
		x.beforeAnswer = nil
		f()
	}
}

// ServeHTTP runs the pipeline.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	x := &exchange{w: sw, r: r}
	g.serve(x)
	name := "unmatched"
	if x.rt != nil {
		name = x.rt.Name
	}
	g.metrics.requests.WithLabelValues(name, svcmetrics.MethodLabel(r.Method), strconv.Itoa(sw.code), x.cache).Inc()
}

func (g *Gateway) serve(x *exchange) {
	if g.edge != nil {
		g.serveEdge(x)
		return
	}
	r := x.r
	if !route.CleanPath(r.URL.Path) {
		g.fail(x, apperr.New(apperr.Invalid, "the path %q is not in canonical form (no empty, . or .. segments)", r.URL.Path))
		return
	}
	rt, allowed, err := g.table.Match(r.Method, r.URL.Path)
	switch {
	case errors.Is(err, route.ErrNoRoute):
		g.fail(x, apperr.New(apperr.NotFound, "no route for %s", r.URL.Path))
		return
	case errors.Is(err, route.ErrMethod):
		x.w.Header().Set("Allow", strings.Join(allowed, ", "))
		g.fail(x, apperr.New(apperr.MethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
		return
	}
	x.rt = rt
	stripIdentity(r.Header)

	// An address that keeps failing to authenticate is refused before the route's
	// bucket, so that its flood cannot drain the bucket signed-in callers share.
	var failKey string
	if rt.Auth == route.AuthCognito && g.authFailures.Rate > 0 {
		failKey = "f\x00" + addressKey(g.clientIP(r))
		if wait, empty := g.limits.Empty(failKey, g.authFailures); empty {
			g.throttled(x, "auth_failures", wait)
			return
		}
	}

	var routeToken throttle.Reservation
	if rt.Throttle.Route.Enabled() {
		res, wait, ok := g.limits.Take("r\x00"+rt.Name, throttle.Limit(rt.Throttle.Route))
		if !ok {
			g.throttled(x, "route", wait)
			return
		}
		routeToken = res
	}

	if rt.Auth == route.AuthCognito {
		id, err := g.identify(r)
		if err != nil {
			if failKey != "" && isUnauthenticated(err) {
				g.limits.Take(failKey, g.authFailures)
			}
			g.unauthorized(x, err)
			return
		}
		x.id, x.authed = id, true
	}

	if rt.Throttle.Caller.Enabled() {
		caller := x.id.Subject
		if !x.authed {
			caller = g.clientIP(r)
		}
		if _, wait, ok := g.limits.Take("c\x00"+rt.Name+"\x00"+caller, throttle.Limit(rt.Throttle.Caller)); !ok {
			routeToken.Cancel()
			g.throttled(x, "caller", wait)
			return
		}
	}

	if rt.CachesMethod(r.Method) {
		g.serveCached(x)
		return
	}
	x.cache = "bypass"
	if isWrite(r.Method) {
		g.forwardWrite(x)
		return
	}
	g.forward(x, "Bypass", false)
}

// forwardWrite proxies a write and invalidates what it touches, here and on every
// peer, once the upstream has answered and before the client sees the answer: a client
// that has its answer reads its write on this replica, and on the others within the
// peer window. A write the upstream did not answer (a timeout, a broken connection) is
// invalidated all the same: it may have happened.
func (g *Gateway) forwardWrite(x *exchange) {
	x.beforeAnswer = func() { g.invalidate(x) }
	g.forward(x, "Bypass", false)
	x.answering()
}

// invalidate makes the caller's cached entries under the resource prefixes that a
// write through the route touches stale (and the shared entries of public routes).
func (g *Gateway) invalidate(x *exchange) {
	var items []peer.Item
	for _, s := range x.rt.Invalidates {
		who := x.id.Subject
		if s.Public {
			who = ""
		}
		g.cache.Invalidate(g.cache.Scope(who, s.Prefix))
		if g.peers != nil {
			items = append(items, peer.Item{Identity: who, Prefix: s.Prefix})
		}
	}
	if g.peers != nil {
		g.peers.Publish(items...)
	}
}

// coherent reports whether the cache may answer now: always for a single replica;
// with peers, while every peer's lease runs.
func (g *Gateway) coherent() bool { return g.peers == nil || g.peers.Coherent() }

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}
