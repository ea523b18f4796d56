package cdn

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file is what CloudFront does with a viewer's request on a behaviour: which
// behaviour serves it, what the cache key is, and what reaches the origin. The rules
// are those of the CloudFront Developer Guide ("Control the cache key with a policy",
// "Control origin requests with a policy", "HTTP request headers and CloudFront
// behavior"), limited to what a local stand-in can compute.

// MatchPattern reports whether path matches a CloudFront path pattern: '*' matches
// any run of characters, slashes included, '?' exactly one; the match is
// case-sensitive and covers the whole path; a pattern without a leading '/' is read
// as if it had one.
func MatchPattern(pattern, path string) bool {
	if !strings.HasPrefix(pattern, "/") && pattern != "*" {
		pattern = "/" + pattern
	}
	// Iterative wildcard match with backtracking to the last '*'.
	p, s, star, mark := 0, 0, -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]):
			p++
			s++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Match returns the behaviour of routes (as Resolve returns them, the default last)
// that serves path: the first whose pattern matches.
func Match(routes []*Resolved, path string) *Resolved {
	for _, r := range routes {
		if r.PathPattern == "" || MatchPattern(r.PathPattern, path) {
			return r
		}
	}
	return nil
}

// Allows reports whether the behaviour lets method through (CloudFront answers 403
// otherwise).
func (r *Resolved) Allows(method string) bool { return slices.Contains(r.AllowedMethods, method) }

// Caches reports whether answers to method may come from and go into the cache.
func (r *Resolved) Caches(method string) bool {
	return r.Cache.Caches() && slices.Contains(r.CachedMethods, method)
}

// Codings are the content codings the behaviour compresses with: those the cache
// policy enables, when the behaviour compresses at all.
func (r *Resolved) Codings() []string {
	if !r.Compress {
		return nil
	}
	var c []string
	if r.Cache.Brotli {
		c = append(c, "br")
	}
	if r.Cache.Gzip {
		c = append(c, "gzip")
	}
	return c
}

// Viewer is what the origin request is made from besides the viewer's header.
type Viewer struct {
	// Addr is the viewer's address, ip:port (CloudFront-Viewer-Address).
	Addr string
	// Proto is the viewer's protocol, http or https (CloudFront-Forwarded-Proto).
	Proto string
}

// alwaysForwarded are the viewer headers CloudFront passes to the origin whatever the
// policies say: the body's description, conditionals and ranges (which the local
// edge answers itself on cached requests), Pragma and Max-Forwards.
var alwaysForwarded = []string{
	"Content-Type", "Content-Length", "Content-Md5",
	"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range",
	"Max-Forwards", "Pragma",
}

// neverForwarded are connection-level headers and those CloudFront sets itself.
var neverForwarded = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade", "Via", "X-Real-Ip", "Accept-Encoding", "Cookie", "X-Forwarded-For",
}

// cfUserAgent is the User-Agent CloudFront sends when the viewer's is not forwarded.
const cfUserAgent = "Amazon CloudFront"

// forwardsViewerHeader reports whether a viewer header of that (canonical) name
// reaches the origin: it is in the cache key, or the origin request policy selects
// it, or CloudFront always forwards it. Authorization only reaches the origin when it
// is in the cache key, or when caching is off and the origin request policy forwards
// all viewer headers; Host only when a policy names it (otherwise the origin sees its
// own domain name); CloudFront's own headers are never taken from the viewer.
func (r *Resolved) forwardsViewerHeader(name string) bool {
	name = http.CanonicalHeaderKey(name)
	orp := r.OriginRequest
	byORP := orp != nil && orp.Headers.selects(name, true)
	switch {
	case slices.Contains(neverForwarded, name), isCloudFrontHeader(name), strings.HasPrefix(name, "X-Amz-Cf-"):
		return false
	case name == "Authorization":
		return r.Cache.keysHeader(name) || !r.Cache.Caches() && byORP && orp.Headers.Behavior != Whitelist
	case slices.Contains(alwaysForwarded, name):
		return true
	}
	return r.Cache.keysHeader(name) || byORP
}

// cloudFrontHeaders are the CloudFront-* headers the behaviour's policies ask for.
func (r *Resolved) cloudFrontHeaders() []string {
	var names []string
	add := func(n string) {
		if isCloudFrontHeader(n) && !slices.Contains(names, http.CanonicalHeaderKey(n)) {
			names = append(names, http.CanonicalHeaderKey(n))
		}
	}
	for _, h := range r.Cache.Headers {
		add(h)
	}
	if orp := r.OriginRequest; orp != nil && (orp.Headers.Behavior == Whitelist || orp.Headers.Behavior == AllViewerAndWhitelistCloudFront) {
		for _, h := range orp.Headers.Items {
			add(h)
		}
	}
	return names
}

// OriginHeader is the header of the request CloudFront sends to origin for a viewer
// request with header h: the viewer headers the policies forward, the viewer's
// cookies the policies select, X-Forwarded-For with the viewer's address appended,
// User-Agent "Amazon CloudFront" unless the viewer's is forwarded, the CloudFront
// headers the policies ask for (of which the local edge can compute
// CloudFront-Viewer-Address and CloudFront-Forwarded-Proto), and the origin's custom
// headers. Host is not in it: see Host.
func (r *Resolved) OriginHeader(h http.Header, v Viewer, origin Origin) http.Header {
	out := make(http.Header, len(h)+4)
	for k, vals := range h {
		if k != "Host" && r.forwardsViewerHeader(k) {
			out[k] = slices.Clone(vals)
		}
	}
	if c := r.originCookies(h); c != "" {
		out["Cookie"] = []string{c}
	}
	ip := v.Addr
	if i := strings.LastIndexByte(ip, ':'); i > 0 {
		ip = strings.Trim(ip[:i], "[]")
	}
	if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
		out["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
	} else {
		out["X-Forwarded-For"] = []string{ip}
	}
	if _, ok := out["User-Agent"]; !ok {
		out["User-Agent"] = []string{cfUserAgent}
	}
	for _, name := range r.cloudFrontHeaders() {
		switch name {
		case "Cloudfront-Viewer-Address":
			out[name] = []string{strings.Trim(ip, "[]") + ":" + port(v.Addr)}
		case "Cloudfront-Forwarded-Proto":
			out[name] = []string{v.Proto}
		}
	}
	for _, c := range origin.CustomHeaders {
		out[http.CanonicalHeaderKey(c.Name)] = []string{c.Value}
	}
	return out
}

func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && !strings.HasSuffix(addr, "]") {
		return addr[i+1:]
	}
	return ""
}

// Host is the Host header the origin sees: the viewer's when a policy forwards it,
// else the origin's own domain name (what a Knative ingress or S3 routes by).
func (r *Resolved) Host(viewerHost string, origin Origin) string {
	if r.forwardsViewerHeader("Host") {
		return viewerHost
	}
	return origin.DomainName
}

// cookieSelected reports whether the cache key or the origin request policy takes the
// cookie.
func (r *Resolved) cookieSelected(name string) bool {
	if r.Cache.Cookies.selects(name, false) {
		return true
	}
	return r.OriginRequest != nil && r.OriginRequest.Cookies.selects(name, false)
}

// originCookies is the Cookie header sent to the origin: the viewer's selected
// cookies, in the viewer's order.
func (r *Resolved) originCookies(h http.Header) string {
	var keep []string
	for _, c := range viewerCookies(h) {
		if r.cookieSelected(c[0]) {
			keep = append(keep, c[0]+"="+c[1])
		}
	}
	return strings.Join(keep, "; ")
}

// viewerCookies are the viewer's cookies as name, value pairs, in order.
func viewerCookies(h http.Header) [][2]string {
	var out [][2]string
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != "" {
				out = append(out, [2]string{name, val})
			}
		}
	}
	return out
}

// queryParams splits a raw query into its parameters as written, with their decoded
// names, in order.
func queryParams(raw string) (parts, names []string) {
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		parts = append(parts, part)
		names = append(names, name)
	}
	return parts, names
}

// OriginQuery is the query string sent to the origin: the parameters the cache key or
// the origin request policy selects, as the viewer wrote them, in order.
func (r *Resolved) OriginQuery(rawQuery string) string {
	parts, names := queryParams(rawQuery)
	var keep []string
	for i, p := range parts {
		if r.Cache.QueryStrings.selects(names[i], false) || r.OriginRequest != nil && r.OriginRequest.QueryStrings.selects(names[i], false) {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "&")
}

// CacheKey is the key an answer to the request is cached under: the method, the path,
// and the query strings, headers and cookies the cache policy names (headers by
// name, without case). Every part is length-prefixed, so different requests never
// share a key whatever bytes they hold.
func (r *Resolved) CacheKey(method, path, rawQuery string, h http.Header) string {
	var b strings.Builder
	part := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	part(method)
	part(path)
	b.WriteByte('q')
	parts, names := queryParams(rawQuery)
	for i, p := range parts {
		if r.Cache.QueryStrings.selects(names[i], false) {
			part(p)
		}
	}
	b.WriteByte('h')
	headers := slices.Clone(r.Cache.Headers)
	sort.Slice(headers, func(i, j int) bool { return strings.ToLower(headers[i]) < strings.ToLower(headers[j]) })
	for _, name := range headers {
		part(strings.ToLower(name))
		vals := h.Values(name)
		b.WriteString(strconv.Itoa(len(vals)))
		for _, v := range vals {
			part(v)
		}
	}
	b.WriteByte('c')
	for _, c := range viewerCookies(h) {
		if r.Cache.Cookies.selects(c[0], false) {
			part(c[0])
			part(c[1])
		}
	}
	return b.String()
}

// KeyPath returns the path part of a key CacheKey made, and whether key is one.
func KeyPath(key string) (string, bool) {
	_, rest, ok := cutKeyPart(key) // the method
	if !ok {
		return "", false
	}
	path, _, ok := cutKeyPart(rest)
	return path, ok
}

// cutKeyPart splits the length-prefixed part at the start of s from the rest.
func cutKeyPart(s string) (part, rest string, ok bool) {
	n, after, found := strings.Cut(s, ":")
	l, err := strconv.Atoi(n)
	if !found || err != nil || l < 0 || l > len(after) {
		return "", "", false
	}
	return after[:l], after[l:], true
}

// InvalidationCovers reports whether the CloudFront invalidation path pattern covers
// the cached object at path (a request's escaped path, after the viewer request
// functions: what CacheKey keys it by). As CloudFront's: a pattern ending in * covers
// every path it prefixes, any other only its own path, case-sensitively; and an
// invalidation removes every cached version of an object, whatever query string,
// headers or cookies it was cached for, so a query string in the pattern changes
// nothing.
func InvalidationCovers(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, p)
	}
	if p, _, ok := strings.Cut(pattern, "?"); ok {
		pattern = p
	}
	return pattern == path
}
