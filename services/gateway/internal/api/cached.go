package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/etag"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
)

// serveCached answers a request on a cached route: from a fresh entry (Hit), from the
// entry a concurrent identical miss is fetching (Hit, after waiting for it), or from
// the upstream, storing the answer when it may be stored (Miss). Requests the cache
// must not answer go upstream untouched (Bypass).
func (g *Gateway) serveCached(x *exchange) {
	r, rt := x.r, x.rt
	identity := ""
	if x.authed {
		identity = x.id.Subject
	} else if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
		// A public entry is shared by everyone: never key one by credentials the
		// gateway did not check, nor answer such a request from one.
		g.bypass(x)
		return
	}
	if r.Header.Get("Range") != "" {
		g.bypass(x)
		return
	}
	key, ok := cache.Key(r.Method, r.URL.Path, r.URL.RawQuery, rt.Cache.QueryKeys, identity)
	if !ok {
		g.bypass(x)
		return
	}

	// A caller may ask for a fresh answer (API Gateway's Cache-Control: max-age=0),
	// but only an authenticated one: anonymous callers cannot empty a shared cache.
	refresh := x.authed && wantsRefresh(r.Header)
	var flight *cache.Flight
	if !refresh {
		// Hits only while the replica is coherent with its peers; otherwise the
		// request goes upstream (and its answer is stored: it is fresh).
		if !g.coherent() {
			g.metrics.uncached.Inc()
		} else if e, ok := g.cache.Get(key); ok && varyMatches(e, r.Header) {
			g.lookup(x, "hit")
			g.serveEntry(x, e, "Hit")
			return
		}
		f, leader := g.cache.Join(key)
		if !leader {
			if g.followLeader(x, f) {
				return
			}
			// The leader's answer could not be stored: fetch for ourselves.
		} else {
			flight = f
		}
	}

	g.lookup(x, "miss")
	scope := g.cache.Scope(identity, rt.PathPrefix)
	begin := g.cache.Begin()
	var stored *cache.Entry
	if flight != nil {
		defer func() { g.cache.Land(key, flight, stored) }()
	}
	c := g.forward(x, "Miss", true)
	if c == nil || !g.storable(x, c) {
		return
	}
	e := &cache.Entry{Status: c.status, Header: replayHeader(c.header), Body: c.body}
	for _, v := range c.header.Values("Vary") {
		for name := range strings.SplitSeq(v, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			if name == "" || (x.authed && name == "Authorization") {
				// The key holds the verified caller, which is what an
				// Authorization-dependent answer depends on.
				continue
			}
			e.Vary = append(e.Vary, name)
			e.VaryValues = append(e.VaryValues, strings.Join(r.Header.Values(name), ","))
		}
	}
	if g.cache.Put(key, scope, begin, rt.Cache.TTL, e) {
		stored = e
	}
}

func (g *Gateway) bypass(x *exchange) {
	g.lookup(x, "bypass")
	g.forward(x, "Bypass", false)
}

func (g *Gateway) lookup(x *exchange, result string) {
	x.cache = result
	g.metrics.lookups.WithLabelValues(x.rt.Name, result).Inc()
}

// storable reports whether an upstream answer may be stored: a status the route
// caches, no cookie, no `Vary: *`, no `Cache-Control: no-store`, and on a public
// route no `private`. The route's TTL, not the upstream's max-age or no-cache, says how
// long (the gateway is part of the origin, as API Gateway's cache is).
func (g *Gateway) storable(x *exchange, c *captured) bool {
	if !x.rt.CachesStatus(c.status) || len(c.header["Set-Cookie"]) > 0 {
		return false
	}
	for _, v := range c.header.Values("Vary") {
		if strings.TrimSpace(v) == "*" {
			return false
		}
	}
	for _, v := range c.header.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-store" || (!x.authed && strings.HasPrefix(d, "private")) {
				return false
			}
		}
	}
	return true
}

// replayHeader is the part of a response header a hit replays: not the per-response
// Date, X-Request-Id, X-Trace-Id, X-Cache, Age or Content-Length (set on every answer). Values are
// clipped so an append by a later handler never writes into the entry.
func replayHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		switch k {
		case "Date", "X-Request-Id", telemetry.TraceIDHeader, HeaderCache, "Age", "Content-Length":
			continue
		}
		out[k] = slices.Clip(slices.Clone(v))
	}
	return out
}

// serveEntry answers from e with X-Cache set to label (and Age on a Hit): 304 for a
// matching If-None-Match (or, without one, an If-Modified-Since not before the
// entry's Last-Modified), else the body in the encoding the client prefers among e's.
func (g *Gateway) serveEntry(x *exchange, e *cache.Entry, label string) {
	h := x.w.Header()
	own := g.table.ResponseHeaders
	for k, v := range e.Header {
		if _, set := own[k]; !set {
			h[k] = v
		}
	}
	h[HeaderCache] = []string{label}
	if label == "Hit" {
		age := int64(g.now().Sub(e.Stored).Seconds())
		h["Age"] = []string{strconv.FormatInt(max(age, 0), 10)}
	}
	body := e.Body
	if len(e.Encodings) > 0 {
		h["Vary"] = appendVary(h["Vary"], "Accept-Encoding")
		if enc := pickEncoding(x.r.Header.Values("Accept-Encoding"), e.Encodings); enc != nil {
			body = enc.Body
			h["Content-Encoding"] = []string{enc.Coding}
			if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
				h["Etag"] = []string{"W/" + et} // another representation of the same content
			}
		}
	}
	if e.Status == http.StatusOK && notModified(x.r.Header, h) {
		delete(h, "Content-Length")
		x.w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	x.w.WriteHeader(e.Status)
	if x.r.Method != http.MethodHead {
		_, _ = x.w.Write(body)
	}
}

// notModified reports whether the request's conditionals are satisfied by a response
// with header h: If-None-Match when present, else If-Modified-Since.
func notModified(req, h http.Header) bool {
	if inm := req.Get("If-None-Match"); inm != "" {
		return etag.NoneMatchHit(inm, h.Get("Etag"))
	}
	ims, lm := req.Get("If-Modified-Since"), h.Get("Last-Modified")
	if ims == "" || lm == "" {
		return false
	}
	since, err1 := http.ParseTime(ims)
	modified, err2 := http.ParseTime(lm)
	return err1 == nil && err2 == nil && !modified.After(since)
}

// wantsRefresh reports whether the client's Cache-Control asks for a fresh answer.
func wantsRefresh(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "max-age=0" || d == "no-cache" {
				return true
			}
		}
	}
	return false
}

// varyMatches reports whether the request agrees with the entry on every header the
// entry varies by. The cache keeps one variant per key: a request for another variant
// misses and its answer replaces the entry.
func varyMatches(e *cache.Entry, h http.Header) bool {
	for i, name := range e.Vary {
		if strings.Join(h.Values(name), ",") != e.VaryValues[i] {
			return false
		}
	}
	return true
}

// followLeader waits for the leader of a coalesced miss and serves the entry it
// stored. It reports whether the exchange is over: served, or the client gone (499).
// False means the leader's answer could not be stored and the caller fetches itself.
func (g *Gateway) followLeader(x *exchange, f *cache.Flight) bool {
	e, err := f.Wait(x.r.Context())
	if err != nil {
		x.w.code = 499
		return true
	}
	if e != nil && g.cache.Fresh(e) && varyMatches(e, x.r.Header) {
		g.lookup(x, "hit")
		g.serveEntry(x, e, "Hit")
		return true
	}
	return false
}
