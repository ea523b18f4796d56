// Package route holds the gateway's route table: which upstream serves a request, and
// with which authorizer, cache, throttle and timeout settings. The table is YAML, read
// once at start (Load); every problem in it is reported with the field that holds it,
// e.g. `routes[1].cache.ttl: 2h is above the maximum 1h0m0s`.
package route

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// Auth kinds a route can ask for.
const (
	// AuthCognito verifies a Cognito bearer token before the request goes upstream.
	AuthCognito = "cognito"
	// AuthNone lets every request through.
	AuthNone = "none"
)

// Limits and defaults of the table.
const (
	// DefaultTimeout is a route's timeout when it sets none: API Gateway's integration
	// limit.
	DefaultTimeout = 29 * time.Second
	// MaxTimeout bounds a route's timeout.
	MaxTimeout = 5 * time.Minute
	// DefaultTTL is a cached route's TTL when it sets none.
	DefaultTTL = 300 * time.Second
	// MaxTTL bounds a cached route's TTL.
	MaxTTL = 3600 * time.Second
)

// Table is a validated route table.
type Table struct {
	// Routes in the order the file lists them.
	Routes []*Route
	// ResponseHeaders are set on every answer of the gateway (health probes and
	// errors included), replacing an upstream's value: transport security headers
	// such as Strict-Transport-Security.
	ResponseHeaders http.Header
	// byLen is Routes ordered by prefix length, longest first (stable).
	byLen []*Route
}

// Route is one validated entry of the table.
type Route struct {
	// Name labels the route in metrics and logs; defaults to the path prefix.
	Name string
	// Index is the route's position in the file.
	Index int
	// PathPrefix matches the request path on segment boundaries: "/v1/todos" matches
	// "/v1/todos" and "/v1/todos/x" but not "/v1/todosx". "/" matches everything.
	PathPrefix string
	// Methods the route serves; empty means every method.
	Methods []string
	// Upstream is where matching requests go.
	Upstream Upstream
	// Auth is AuthCognito or AuthNone.
	Auth string
	// Timeout bounds the whole upstream exchange.
	Timeout time.Duration
	// Cache is nil when the route does not cache.
	Cache *Cache
	// Throttle limits the route's request rate; zero limits mean unlimited.
	Throttle Throttle
	// Invalidates are the path prefixes of cached routes whose entries a write through
	// this route makes stale: every cached route whose prefix contains this route's
	// prefix or is contained by it, and those the table names in its invalidates list
	// (DELETE /v1/me removes a caller's to-dos through another prefix).
	Invalidates []Scope
}

// Scope is a cached route's invalidation scope.
type Scope struct {
	// Prefix is the cached route's path prefix.
	Prefix string
	// Public is true when the cached route has no authorizer, so its entries are shared
	// by all callers and any caller's write makes them stale.
	Public bool
}

// Upstream says where a route's requests go.
type Upstream struct {
	// URL is the upstream's base URL, after ${VAR} expansion. The request path is
	// appended to its path.
	URL *url.URL
}

// Cache is a route's response-cache settings.
type Cache struct {
	// TTL is how long an entry is served; never zero for a route that caches.
	TTL time.Duration
	// Methods are the cached methods (default GET).
	Methods []string
	// Statuses are the cached response statuses (default 200).
	Statuses []int
	// QueryKeys are the query parameters that are part of the cache key, sorted. A
	// request carrying any other parameter bypasses the cache, so that it is never
	// answered with a response for different parameters.
	QueryKeys []string
}

// Limit is a token bucket: Rate tokens a second, at most Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// Enabled reports whether the limit applies.
func (l Limit) Enabled() bool { return l.Rate > 0 }

// Throttle is a route's rate limits.
type Throttle struct {
	// Route is shared by every caller of the route.
	Route Limit
	// Caller applies to each caller separately: the token's sub on AuthCognito routes,
	// the client address on AuthNone routes.
	Caller Limit
}

// CachesMethod reports whether the route caches responses to method.
func (r *Route) CachesMethod(method string) bool {
	return r.Cache != nil && slices.Contains(r.Cache.Methods, method)
}

// CachesStatus reports whether the route caches responses with status code.
func (r *Route) CachesStatus(code int) bool {
	return r.Cache != nil && slices.Contains(r.Cache.Statuses, code)
}

// NewTable is a table of routes made in code rather than read from YAML (the edge's,
// one per behaviour of the distribution it runs): each route's Index is its position,
// and the invalidation scopes are computed as Parse computes them. Matching by prefix
// (Match) is the caller's choice; the edge matches CloudFront's path patterns itself.
func NewTable(routes []*Route) *Table {
	t := &Table{Routes: routes}
	for i, r := range routes {
		r.Index = i
	}
	t.index(nil)
	return t
}

// index computes the routes' invalidation scopes (with extra, the prefixes a table
// names in a route's invalidates list) and the prefix-length order.
func (t *Table) index(extra map[*Route][]string) {
	for _, r := range t.Routes {
		for _, c := range t.Routes {
			if c.Cache != nil && (underPrefix(c.PathPrefix, r.PathPrefix) || underPrefix(r.PathPrefix, c.PathPrefix) || slices.Contains(extra[r], c.PathPrefix)) {
				s := Scope{Prefix: c.PathPrefix, Public: c.Auth == AuthNone}
				if !slices.Contains(r.Invalidates, s) {
					r.Invalidates = append(r.Invalidates, s)
				}
			}
		}
	}
	t.byLen = slices.Clone(t.Routes)
	slices.SortStableFunc(t.byLen, func(a, b *Route) int { return len(b.PathPrefix) - len(a.PathPrefix) })
}

// underPrefix reports whether p is prefix itself or lies under it on a segment
// boundary.
func underPrefix(p, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// Match outcomes besides a route.
var (
	// ErrNoRoute means no route's prefix covers the path.
	ErrNoRoute = errors.New("no route")
	// ErrMethod means routes cover the path, but none serves the method.
	ErrMethod = errors.New("method not allowed")
)

// Match returns the route for a request: of the routes whose prefix covers path, those
// with the longest prefix; of those, the one serving method. It returns ErrNoRoute or
// ErrMethod (with the methods allowed on the path) otherwise.
func (t *Table) Match(method, p string) (*Route, []string, error) {
	var allowed []string
	longest := -1
	for _, r := range t.byLen {
		if longest >= 0 && len(r.PathPrefix) < longest {
			break
		}
		if !underPrefix(p, r.PathPrefix) {
			continue
		}
		longest = len(r.PathPrefix)
		if len(r.Methods) == 0 || slices.Contains(r.Methods, method) {
			return r, nil, nil
		}
		allowed = append(allowed, r.Methods...)
	}
	if longest < 0 {
		return nil, nil, ErrNoRoute
	}
	return nil, allowed, ErrMethod
}

// CleanPath reports whether p is a path the gateway routes: absolute, with no empty,
// "." or ".." segments (a trailing slash is allowed). Anything else is refused, so that
// the route that authorizes a request is the route an upstream serves.
func CleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	trimmed := p
	if len(p) > 1 {
		trimmed = strings.TrimSuffix(p, "/")
	}
	return path.Clean(trimmed) == trimmed
}
