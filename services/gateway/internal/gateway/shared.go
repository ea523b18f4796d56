package gateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
)

// serveShared answers a request on a route whose cache is a shared cache driven by
// the origin (cache.origin in the table; the edge mode), as CloudFront's
// UseOriginCacheControlHeaders policy does:
//
//   - freshness is the origin's s-maxage, else its max-age (at most the route's TTL);
//     no-cache or no directive means "revalidate every time"; no-store, private,
//     Set-Cookie and Vary: * are never stored;
//   - a stale entry with an ETag is revalidated with If-None-Match, and a 304 from the
//     origin refreshes it (X-Cache: Hit);
//   - the client's own If-None-Match / If-Modified-Since are answered by the edge
//     (304), never forwarded on a cacheable fetch, so the edge always holds a body;
//   - on compressing routes text bodies are stored with brotli and gzip copies and
//     served by Accept-Encoding.
//
// Requests with credentials (Authorization, Cookie) or a Range bypass the cache.
func (g *Gateway) serveShared(x *exchange) {
	r, rt := x.r, x.rt
	if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" || r.Header.Get("Range") != "" {
		g.bypass(x)
		return
	}
	rawQuery := r.URL.RawQuery
	if rt.Upstream.Kind == route.UpstreamS3 {
		rawQuery = "" // an S3 origin never sees the query: post.html?slug=a is post.html
	}
	key, ok := cache.Key(r.Method, r.URL.Path, rawQuery, rt.Cache.QueryKeys, "")
	if !ok {
		g.bypass(x)
		return
	}

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

	scope := g.cache.Scope("", rt.PathPrefix)
	begin := g.cache.Begin()
	etag := ""
	if found {
		etag = old.Header.Get("Etag")
	}
	resp, ctx, cancel, err := g.send(x, func(h http.Header) {
		// The edge wants the whole identity body to store; it answers the client's
		// conditionals itself and compresses itself.
		for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Accept-Encoding"} {
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

	if resp.StatusCode == http.StatusNotModified && found {
		e := refreshed(old, resp.Header)
		e.Stored = g.now() // for Age, should the entry not be stored again
		if fresh, keep, ok := originTTL(e.Header, rt.Cache.DefaultTTL, rt.Cache.TTL); ok && g.cache.PutFor(key, scope, begin, fresh, keep, e) {
			stored = e
		}
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
	if rt.Compress && e.Status == http.StatusOK && compressible(e.Header, len(e.Body)) {
		e.Encodings = encode(e.Body)
	}
	if rt.CachesStatus(e.Status) && storableShared(resp.Header) {
		if fresh, keep, ok := originTTL(e.Header, rt.Cache.DefaultTTL, rt.Cache.TTL); ok && g.cache.PutFor(key, scope, begin, fresh, keep, e) {
			stored = e
		}
	}
	g.serveEntry(x, e, "Miss")
}

// storableShared reports whether a shared cache may store a response: no cookie, no
// `Vary: *`, no no-store or private.
func storableShared(h http.Header) bool {
	if len(h["Set-Cookie"]) > 0 {
		return false
	}
	for _, v := range h.Values("Vary") {
		if strings.TrimSpace(v) == "*" {
			return false
		}
	}
	d := directives(h)
	_, noStore := d["no-store"]
	_, private := d["private"]
	return !noStore && !private
}

// originTTL is how long a shared cache serves a response without revalidation
// (s-maxage, else max-age, else def, at most limit; 0 with no-cache) and how long it
// keeps it (fresh + limit when it has a validator to revalidate with, else fresh). ok
// is false when there is nothing worth keeping.
func originTTL(h http.Header, def, limit time.Duration) (fresh, keep time.Duration, ok bool) {
	d := directives(h)
	secs := int64(-1)
	if v, set := d["s-maxage"]; set {
		secs, _ = strconv.ParseInt(v, 10, 64)
	} else if v, set := d["max-age"]; set {
		secs, _ = strconv.ParseInt(v, 10, 64)
	}
	fresh = time.Duration(secs) * time.Second
	if secs < 0 {
		fresh = def
	}
	if _, noCache := d["no-cache"]; noCache {
		fresh = 0
	}
	fresh = min(fresh, limit)
	keep = fresh
	if h.Get("Etag") != "" {
		keep += limit
	}
	return fresh, keep, keep > 0
}

// directives parses Cache-Control into lower-case names and their values.
func directives(h http.Header) map[string]string {
	d := map[string]string{}
	for _, v := range h.Values("Cache-Control") {
		for part := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				d[name] = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return d
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
