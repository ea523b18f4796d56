package api

import (
	"crypto/sha256"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	svcmetrics "github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/throttle"
)

// AnswerFast answers r on the server's fast path (server.WithFastPath) when it is a
// cache hit that needs nothing the cache does not hold: a GET or HEAD on a cached
// (per-user or public, not origin-driven) route, a token verified before and not
// expired, a fresh entry that matches the request's Vary headers, while the replica
// is coherent with its peers, no refresh asked for, and no limit refusing. The answer,
// metrics and side effects are those ServeHTTP gives the same request
// (TestAnswerFastAgrees). Anything else reports false before any side effect and goes
// through ServeHTTP.
func (g *Gateway) AnswerFast(w http.ResponseWriter, r *http.Request) bool {
	rt, id, authed, e, ok := g.fastHit(r)
	if !ok {
		return false
	}
	// The limits, in ServeHTTP's order. A refusal takes nothing (and gives the route's
	// token back), so ServeHTTP then refuses the request just the same.
	var routeToken throttle.Reservation
	if rt.Throttle.Route.Enabled() {
		res, _, ok := g.limits.Take("r\x00"+rt.Name, throttle.Limit(rt.Throttle.Route))
		if !ok {
			return false
		}
		routeToken = res
	}
	if rt.Throttle.Caller.Enabled() {
		caller := id.Subject
		if !authed {
			caller = g.clientIP(r)
		}
		if _, _, ok := g.limits.Take("c\x00"+rt.Name+"\x00"+caller, throttle.Limit(rt.Throttle.Caller)); !ok {
			routeToken.Cancel()
			return false
		}
	}
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	x := &exchange{w: sw, r: r, rt: rt, id: id, authed: authed, cache: "hit"}
	g.fastCounters(rt, r.Method, 0).lookups.Inc()
	g.serveEntry(x, e, "Hit")
	g.fastCounters(rt, r.Method, sw.code).requests.Inc()
	return true
}

// fastRoutes reports whether any route can be answered on the fast path: a route that
// caches. The edge runs a distribution, not a route table, and its connections stay
// with net/http from the start.
func (g *Gateway) fastRoutes() bool {
	if g.edge != nil || g.table == nil {
		return false
	}
	for _, rt := range g.table.Routes {
		if rt.Cache != nil {
			return true
		}
	}
	return false
}

// fastHit makes the checks of ServeHTTP that decide a hit, without side effects.
func (g *Gateway) fastHit(r *http.Request) (rt *route.Route, id auth.Identity, authed bool, e *cache.Entry, ok bool) {
	if !route.CleanPath(r.URL.Path) {
		return nil, id, false, nil, false
	}
	rt, _, err := g.table.Match(r.Method, r.URL.Path)
	if err != nil || !rt.CachesMethod(r.Method) {
		return nil, id, false, nil, false
	}
	identity := ""
	switch {
	case rt.Auth == route.AuthCognito:
		if g.authFailures.Rate > 0 {
			if _, empty := g.limits.Empty("f\x00"+addressKey(g.clientIP(r)), g.authFailures); empty {
				return nil, id, false, nil, false
			}
		}
		token, err := auth.BearerToken(r)
		if err != nil {
			return nil, id, false, nil, false
		}
		cached, found := g.knownToken(r, token)
		if !found || !g.now().Before(cached.Expiry) {
			return nil, id, false, nil, false
		}
		id, authed, identity = cached, true, cached.Subject
		if wantsRefresh(r.Header) {
			return nil, id, false, nil, false
		}
	case r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "":
		return nil, id, false, nil, false // a bypass of the shared cache
	}
	if r.Header.Get("Range") != "" || !g.coherent() {
		return nil, id, false, nil, false
	}
	key, ok := cache.Key(r.Method, r.URL.Path, r.URL.RawQuery, rt.Cache.QueryKeys, identity)
	if !ok {
		return nil, id, false, nil, false
	}
	if e, ok = g.cache.Get(key); !ok || !varyMatches(e, r.Header) {
		return nil, id, false, nil, false
	}
	return rt, id, authed, e, true
}

// tokenMemo is the token a connection sent last, and the identity it was verified as.
type tokenMemo struct {
	token string
	id    auth.Identity
}

// knownToken returns the identity of a token verified before (by ServeHTTP): from the
// connection's memo when it sent the same bytes last (a client sends the same token
// on every request of a connection), else from the verified-token cache (SHA-256 of
// the token). The memo compares the whole token, so it is exactly as safe as the
// cache; the caller checks the expiry either way.
func (g *Gateway) knownToken(r *http.Request, token string) (auth.Identity, bool) {
	memo := server.ConnMemo(r)
	if memo != nil {
		if m, ok := memo.Value.(*tokenMemo); ok && m.token == token {
			return m.id, true
		}
	}
	id, ok := g.ids.GetIfPresent(sha256.Sum256([]byte(token)))
	if ok && memo != nil {
		memo.Value = &tokenMemo{token: token, id: id}
	}
	return id, ok
}

// hitSeries are the series a hit counts in.
type hitSeries struct {
	lookups  prometheus.Counter
	requests prometheus.Counter
}

type hitSeriesKey struct {
	route  int
	method string
	code   int
}

// fastCounters returns the series of a hit on rt answered with code (0: the lookup's
// only), made once: looking series up by label values on every hit costs more than
// the rest of the bookkeeping.
func (g *Gateway) fastCounters(rt *route.Route, method string, code int) *hitSeries {
	k := hitSeriesKey{rt.Index, method, code}
	if s, ok := g.hitSeries.Load(k); ok {
		return s.(*hitSeries)
	}
	s := &hitSeries{lookups: g.metrics.lookups.WithLabelValues(rt.Name, "hit")}
	if code != 0 {
		s.requests = g.metrics.requests.WithLabelValues(rt.Name, svcmetrics.MethodLabel(method), strconv.Itoa(code), "hit")
	}
	v, _ := g.hitSeries.LoadOrStore(k, s)
	return v.(*hitSeries)
}
