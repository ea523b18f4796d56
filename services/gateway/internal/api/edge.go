package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/store"
)

// Edge mode: the gateway runs a CloudFront distribution document (internal/cdn, as
// `sa provision` recorded it) the way CloudFront does. A request is served by the
// first behaviour whose path pattern matches (the default last); a method the
// behaviour does not allow is 403, as CloudFront answers; the behaviour's functions
// rewrite the URI; cacheable requests are answered from a shared cache whose key and
// TTLs the cache policy sets, with ETag revalidation; what reaches the origin (headers,
// cookies, query strings, Host) is what the cache and origin request policies say;
// origin groups fail over on their status codes; every answer gets the response
// headers policy's headers. As at CloudFront, a write through the edge leaves the
// cache alone: only the distribution's invalidations drop cached answers
// (edge_invalidation.go).

// originReadTimeout is CloudFront's default origin response timeout.
const originReadTimeout = 30 * time.Second

// revalidateWindow is how long an expired entry with a validator is kept to be
// revalidated with If-None-Match instead of fetched whole.
const revalidateWindow = time.Hour

// edgeOrigin is an origin of the distribution and what reaches it.
type edgeOrigin struct {
	cdn.Origin
	// base is scheme://host:port of a custom origin, s3://bucket of an S3 one.
	base *url.URL
	// direct is the synchronous client of a custom origin; transport reads an S3 one.
	direct    *upstreamClient
	transport http.RoundTripper
}

// edgeBehavior is one behaviour the edge serves.
type edgeBehavior struct {
	*cdn.Resolved
	rt        *route.Route
	origins   []*edgeOrigin
	functions []cdn.ViewerRequestFunc
}

// edgeState is the distribution the edge runs.
type edgeState struct {
	// routes are the resolved behaviours in CloudFront's order, for cdn.Match.
	routes []*cdn.Resolved
	// behaviors are by Resolved.Index, which is also their route's Index.
	behaviors []*edgeBehavior
	// invalidations are the CloudFront invalidations applied lately (edge_invalidation.go).
	invalidations edgeInvalidations
}

// patternPrefix is the path prefix of a behaviour's route (its cache scope, which only
// a flush raises in edge mode: writes do not invalidate there, as at CloudFront):
// "/v1" for "/v1/*", "/" for the default and any other pattern.
func patternPrefix(pattern string) string {
	if p, ok := strings.CutSuffix(pattern, "/*"); ok && p != "" && !strings.ContainsAny(p, "*?") && route.CleanPath(p) {
		return p
	}
	return "/"
}

// newEdge builds what the gateway runs for the distribution d: a route per behaviour
// (names, timeouts, invalidation scopes, metrics) and the behaviours with their
// origins' transports. originURLs replaces the address of origins by id (the local
// stand-in for DNS: a latency-routed API host resolves to this region's blog-api).
func newEdge(d *cdn.Distribution, originURLs map[string]string, s3 func(context.Context) (store.API, error), maxIdle int) (*route.Table, *edgeState, error) {
	resolved, err := d.Resolve()
	if err != nil {
		return nil, nil, fmt.Errorf("distribution %s: %w", d.Name, err)
	}
	for id := range originURLs {
		if d.Origin(id) == nil {
			return nil, nil, fmt.Errorf("ORIGIN_URLS names origin %q, which distribution %s does not have", id, d.Name)
		}
	}
	st := &edgeState{routes: resolved}
	origins := map[string]*edgeOrigin{}
	var routes []*route.Route
	for _, r := range resolved {
		b := &edgeBehavior{Resolved: r}
		name := r.Pattern()
		if r.PathPattern == "" {
			name = "default"
		}
		b.rt = &route.Route{Name: name, PathPrefix: patternPrefix(r.Pattern()), Auth: route.AuthNone, Timeout: originReadTimeout}
		if r.Cache.Caches() {
			b.rt.Cache = &route.Cache{TTL: time.Duration(r.Cache.MaxTTL) * time.Second, Methods: r.CachedMethods, Statuses: []int{http.StatusOK}}
		}
		for _, f := range r.Functions {
			fn, ok := cdn.LocalFunction(f.CodeSHA256)
			if !ok {
				return nil, nil, fmt.Errorf("behaviour %s: function %s (code sha256 %s) has no local twin in internal/cdn: the edge cannot run what CloudFront would",
					name, f.Name, f.CodeSHA256)
			}
			b.functions = append(b.functions, fn)
		}
		for _, o := range r.Origins {
			eo, ok := origins[o.ID]
			if !ok {
				if eo, err = newEdgeOrigin(o, originURLs[o.ID], s3, d.DefaultRootObject, maxIdle); err != nil {
					return nil, nil, err
				}
				origins[o.ID] = eo
			}
			b.origins = append(b.origins, eo)
		}
		b.rt.Upstream = route.Upstream{URL: b.origins[0].base}
		routes = append(routes, b.rt)
		st.behaviors = append(st.behaviors, b)
	}
	return route.NewTable(routes), st, nil
}

func newEdgeOrigin(o cdn.Origin, override string, s3 func(context.Context) (store.API, error), rootObject string, maxIdle int) (*edgeOrigin, error) {
	eo := &edgeOrigin{Origin: o}
	if o.S3 {
		if s3 == nil {
			return nil, fmt.Errorf("origin %s reads S3 bucket %s, but no S3 client was configured", o.ID, o.Bucket())
		}
		eo.base = &url.URL{Scheme: "s3", Host: o.Bucket()}
		eo.transport = &store.Transport{S3: s3, Bucket: o.Bucket(), RootObject: rootObject}
		return eo, nil
	}
	scheme, port := "https", o.HTTPSPort
	if o.ProtocolPolicy == cdn.HTTPOnly {
		scheme, port = "http", o.HTTPPort
	}
	host := o.DomainName
	if port != 0 {
		host = fmt.Sprintf("%s:%d", host, port)
	}
	eo.base = &url.URL{Scheme: scheme, Host: host}
	if override != "" {
		u, err := url.Parse(override)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("ORIGIN_URLS: %q for origin %s is not an http(s)://host[:port] URL", override, o.ID)
		}
		eo.base = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	c, err := newUpstreamClient(eo.base.Scheme, eo.base.Host, maxIdle)
	if err != nil {
		return nil, fmt.Errorf("origin %s: %w", o.ID, err)
	}
	eo.direct = c
	return eo, nil
}

// policyWriter adds the behaviour's response headers policy to the answer's headers
// just before they are written.
type policyWriter struct {
	http.ResponseWriter
	policy  *cdn.ResponseHeadersPolicy
	written bool
}

func (w *policyWriter) WriteHeader(code int) {
	if !w.written {
		w.written = true
		w.policy.Apply(w.ResponseWriter.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *policyWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *policyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveEdge serves a request as the distribution does.
func (g *Gateway) serveEdge(x *exchange) {
	r := x.r
	if !route.CleanPath(r.URL.Path) {
		g.fail(x, apperr.New(apperr.Invalid, "the path %q is not in canonical form (no empty, . or .. segments)", r.URL.Path))
		return
	}
	b := g.edge.behaviors[cdn.Match(g.edge.routes, r.URL.Path).Index]
	x.rt = b.rt
	if b.ResponseHeaders != nil {
		x.w.ResponseWriter = &policyWriter{ResponseWriter: x.w.ResponseWriter, policy: b.ResponseHeaders}
	}
	if !b.Allows(r.Method) {
		g.fail(x, apperr.New(apperr.Forbidden, "this distribution does not allow %s on %s (the behaviour %s allows %s)",
			r.Method, r.URL.Path, b.rt.Name, strings.Join(b.AllowedMethods, ", ")))
		return
	}
	uri := r.URL.EscapedPath()
	for _, f := range b.functions {
		uri = f(uri)
	}
	if b.Caches(r.Method) && r.Header.Get("Range") == "" {
		g.serveEdgeCached(x, b, uri)
		return
	}
	if b.rt.Cache != nil {
		g.lookup(x, "bypass")
	} else {
		x.cache = "bypass"
	}
	resp, ctx, cancel, err := g.edgeFetch(x, b, uri, nil)
	defer cancel()
	if err != nil {
		g.upstreamFailed(ctx, x, err)
		return
	}
	defer resp.Body.Close()
	g.relay(x, resp, "Bypass", nil, false)
}

// serveEdgeCached answers a cacheable request from the shared cache, as CloudFront's
// cache does: a fresh entry is a Hit; a stale one with an ETag is revalidated with
// If-None-Match (a 304 refreshes it, X-Cache: Hit); the client's own conditionals are
// answered by the edge, never forwarded, so it always holds a whole identity body;
// concurrent misses of one key make one origin request; answers are kept for the TTL
// the cache policy gives their Cache-Control, and text is stored with the codings the
// behaviour compresses with.
func (g *Gateway) serveEdgeCached(x *exchange, b *edgeBehavior, uri string) {
	r := x.r
	key := b.CacheKey(r.Method, uri, r.URL.RawQuery, r.Header)
	old, found := g.cache.Peek(key)
	if found && !varyMatches(old, r.Header) {
		old, found = nil, false
	}
	if found && g.cache.Fresh(old) {
		g.lookup(x, "hit")
		g.serveEntry(x, old, "Hit")
		return
	}
	f, leader := g.cache.Join(key)
	if !leader {
		if g.followLeader(x, f) {
			return
		}
		f = nil // the leader's answer could not be stored: fetch for ourselves
	}
	var stored *cache.Entry
	if f != nil {
		defer func() { g.cache.Land(key, f, stored) }()
	}

	scope := g.cache.Scope("", b.rt.PathPrefix)
	begin := g.cache.Begin()
	etag := ""
	if found {
		etag = old.Header.Get("Etag")
	}
	resp, ctx, cancel, err := g.edgeFetch(x, b, uri, func(h http.Header) {
		for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
			delete(h, k)
		}
		if etag != "" {
			h["If-None-Match"] = []string{etag}
		}
	})
	defer cancel()
	if err != nil {
		g.upstreamFailed(ctx, x, err)
		return
	}
	defer resp.Body.Close()

	keep := func(e *cache.Entry) {
		ttl, ok := b.Cache.TTL(e.Header)
		if !ok || !storableAtEdge(resp.Header) || g.edge.invalidations.coveredSince(begin, uri) {
			return
		}
		window := ttl
		if e.Header.Get("Etag") != "" {
			window += revalidateWindow
		}
		if window > 0 && g.cache.PutFor(key, scope, begin, ttl, window, e) {
			stored = e
		}
	}
	if resp.StatusCode == http.StatusNotModified && found {
		e := refreshed(old, resp.Header)
		e.Stored = g.now() // for Age, should the entry not be stored again
		keep(e)
		g.lookup(x, "revalidated")
		g.serveEntry(x, e, "Hit")
		return
	}

	body, err := readUpTo(resp.Body, cache.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		// Too large to store or compress: stream it.
		g.lookup(x, "miss")
		g.relay(x, resp, "Miss", body, false)
		return
	}
	if err != nil {
		g.upstreamFailed(ctx, x, err)
		return
	}
	g.lookup(x, "miss")
	e := &cache.Entry{Status: resp.StatusCode, Header: replayHeader(resp.Header), Body: body}
	for _, v := range resp.Header.Values("Vary") {
		for name := range strings.SplitSeq(v, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			if name == "" || name == "Accept-Encoding" {
				continue // the edge asked for identity and picks the encoding itself
			}
			e.Vary = append(e.Vary, name)
			e.VaryValues = append(e.VaryValues, strings.Join(r.Header.Values(name), ","))
		}
	}
	if codings := b.Codings(); len(codings) > 0 && e.Status == http.StatusOK && compressible(e.Header, len(e.Body)) {
		e.Encodings = slices.DeleteFunc(encode(e.Body), func(enc cache.Encoded) bool { return !slices.Contains(codings, enc.Coding) })
	}
	if e.Status == http.StatusOK {
		keep(e)
	}
	g.serveEntry(x, e, "Miss")
}

// storableAtEdge reports whether an answer may be shared at all: no cookie set, no
// `Vary: *`. How long it is kept, and whether no-store or private keep it out, is the
// cache policy's TTL rule.
func storableAtEdge(h http.Header) bool {
	if len(h["Set-Cookie"]) > 0 {
		return false
	}
	for _, v := range h.Values("Vary") {
		if strings.TrimSpace(v) == "*" {
			return false
		}
	}
	return true
}

// failoverMethods are the methods an origin group fails over for.
var failoverMethods = []string{http.MethodGet, http.MethodHead, http.MethodOptions}

// edgeFetch sends the request to the behaviour's origin, and on an origin group to
// the second origin when the first cannot be reached or answers a failover status. edit
// changes the origin request's header (nil: as the policies make it).
func (g *Gateway) edgeFetch(x *exchange, b *edgeBehavior, uri string, edit func(http.Header)) (*http.Response, context.Context, context.CancelFunc, error) {
	for i, o := range b.origins {
		resp, ctx, cancel, err := g.edgeSend(x, b, o, uri, edit)
		if i == len(b.origins)-1 || !slices.Contains(failoverMethods, x.r.Method) || x.r.Context().Err() != nil {
			return resp, ctx, cancel, err
		}
		if err == nil && !slices.Contains(b.FailoverStatusCodes, resp.StatusCode) {
			return resp, ctx, cancel, nil
		}
		reason := fmt.Sprint(err)
		if err == nil {
			reason = resp.Status
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		cancel()
		g.log.InfoContext(x.r.Context(), "origin group fails over", "behaviour", b.rt.Name, "from", o.ID, "to", b.origins[i+1].ID, "reason", reason)
	}
	panic("unreachable: a behaviour has at least one origin")
}

// edgeSend sends the request to origin o as CloudFront would: the path after the
// functions (and the origin's path), the query strings and headers the policies
// forward, the Host they decide, bounded by the origin read timeout.
func (g *Gateway) edgeSend(x *exchange, b *edgeBehavior, o *edgeOrigin, uri string, edit func(http.Header)) (resp *http.Response, ctx context.Context, cancel context.CancelFunc, err error) {
	r := x.r
	deadline := time.Now().Add(b.rt.Timeout)
	if o.direct != nil {
		ctx, cancel = r.Context(), func() {}
	} else {
		ctx, cancel = context.WithDeadline(r.Context(), deadline)
	}
	raw := o.Path + uri
	p, perr := url.PathUnescape(raw)
	if perr != nil {
		p = raw
	}
	u := &url.URL{Scheme: o.base.Scheme, Host: o.base.Host, Path: p, RawPath: raw, RawQuery: b.OriginQuery(r.URL.RawQuery)}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h := b.OriginHeader(r.Header, cdn.Viewer{Addr: r.RemoteAddr, Proto: proto}, o.Origin)
	if edit != nil {
		edit(h)
	}
	out := (&http.Request{
		Method: r.Method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: b.Host(r.Host, o.Origin), ContentLength: r.ContentLength,
	}).WithContext(ctx)
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		out.Body = r.Body
	}
	traced := telemetry.Client(out)
	start := time.Now()
	if o.direct != nil {
		resp, err = o.direct.Do(out, deadline)
	} else {
		resp, err = o.transport.RoundTrip(out)
	}
	g.upstreamSeconds(b.rt).Observe(time.Since(start).Seconds())
	if err != nil {
		traced(0, err)
		return nil, ctx, cancel, err
	}
	traced(resp.StatusCode, nil)
	removeHopByHop(resp.Header)
	return resp, ctx, cancel, nil
}

// refreshed is old updated by a 304's headers (RFC 9111 §4.3.4): the validators and
// freshness information the origin sent replace the stored ones.
func refreshed(old *cache.Entry, h http.Header) *cache.Entry {
	e := &cache.Entry{Status: old.Status, Header: old.Header.Clone(), Body: old.Body, Encodings: old.Encodings, Vary: old.Vary, VaryValues: old.VaryValues}
	for _, k := range []string{"Cache-Control", "Etag", "Expires", "Last-Modified"} {
		if v := h.Values(k); len(v) > 0 {
			e.Header[k] = v
		}
	}
	return e
}

var errTooLarge = errors.New("body too large")

// readUpTo reads r whole if it holds at most limit bytes; otherwise it returns what
// it read (limit+1 bytes) and errTooLarge, leaving the rest in r.
func readUpTo(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return b, errTooLarge
	}
	return b, nil
}

// closeEdge releases the edge's idle origin connections.
func (s *edgeState) close() {
	seen := map[*upstreamClient]bool{}
	for _, b := range s.behaviors {
		for _, o := range b.origins {
			if o.direct != nil && !seen[o.direct] {
				seen[o.direct] = true
				o.direct.closeIdle()
			}
		}
	}
}
