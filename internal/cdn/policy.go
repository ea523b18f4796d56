package cdn

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Selection behaviours of headers, cookies and query strings.
const (
	// None selects nothing.
	None = "none"
	// Whitelist selects the listed items (CloudFront's name for an allow list).
	Whitelist = "whitelist"
	// AllExcept selects everything but the listed items.
	AllExcept = "allExcept"
	// All selects everything.
	All = "all"
	// AllViewer selects every viewer header (origin request policies only).
	AllViewer = "allViewer"
	// AllViewerAndWhitelistCloudFront selects every viewer header and the listed
	// CloudFront headers (origin request policies only).
	AllViewerAndWhitelistCloudFront = "allViewerAndWhitelistCloudFront"
)

// Selection picks headers, cookies or query strings by name.
type Selection struct {
	// Behavior is None, Whitelist, AllExcept or All (and, for an origin request
	// policy's headers, AllViewer or AllViewerAndWhitelistCloudFront).
	Behavior string `json:"behavior"`
	// Items are the names Whitelist, AllExcept or AllViewerAndWhitelistCloudFront
	// list.
	Items []string `json:"items,omitempty"`
}

// Nothing is the empty selection.
var Nothing = Selection{Behavior: None}

// Everything selects all.
var Everything = Selection{Behavior: All}

// Only selects the names listed.
func Only(names ...string) Selection { return Selection{Behavior: Whitelist, Items: names} }

// has reports whether the selection's items name name (headers compare without case).
func (s Selection) has(name string, header bool) bool {
	for _, it := range s.Items {
		if it == name || header && strings.EqualFold(it, name) {
			return true
		}
	}
	return false
}

// selects reports whether the selection takes name. For header selections, the
// viewer-header behaviours select every viewer header; CloudFront headers are decided
// by the caller.
func (s Selection) selects(name string, header bool) bool {
	switch s.Behavior {
	case Whitelist:
		return s.has(name, header)
	case AllExcept:
		return !s.has(name, header)
	case All, AllViewer, AllViewerAndWhitelistCloudFront:
		return true
	}
	return false
}

// CachePolicy says what is in the cache key (and so also sent to the origin) and how
// long answers are kept. TTLs are in seconds.
type CachePolicy struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
	// MinTTL, DefaultTTL and MaxTTL bound the time an answer is kept (seconds).
	MinTTL     int64 `json:"minTtl"`
	DefaultTTL int64 `json:"defaultTtl"`
	MaxTTL     int64 `json:"maxTtl"`
	// Headers are the header names in the cache key.
	Headers []string `json:"headers,omitempty"`
	// Cookies and QueryStrings in the cache key (None, Whitelist, AllExcept, All).
	Cookies      Selection `json:"cookies"`
	QueryStrings Selection `json:"queryStrings"`
	// Gzip and Brotli let the behaviour compress with those codings (and key the
	// normalised Accept-Encoding).
	Gzip   bool `json:"gzip,omitempty"`
	Brotli bool `json:"brotli,omitempty"`
}

// Caches reports whether the policy caches at all (CachingDisabled does not).
func (p *CachePolicy) Caches() bool { return p.MaxTTL > 0 }

// keysHeader reports whether the header is in the cache key.
func (p *CachePolicy) keysHeader(name string) bool {
	return slices.ContainsFunc(p.Headers, func(h string) bool { return strings.EqualFold(h, name) })
}

// TTL is how long CloudFront keeps an answer with header h before it asks the origin
// again, and whether it keeps it at all, following CloudFront's rules for the
// policy's TTLs ("Manage how long content stays in the cache"):
//
//   - MaxTTL 0 (caching disabled): never;
//   - no-store, no-cache or private: never with MinTTL 0, else MinTTL;
//   - s-maxage, else max-age: that value, at least MinTTL and at most MaxTTL;
//   - neither: DefaultTTL.
//
// A TTL of 0 with cache true means: kept, but revalidated on every request.
func (p *CachePolicy) TTL(h http.Header) (ttl time.Duration, cache bool) {
	if !p.Caches() {
		return 0, false
	}
	d := Directives(h)
	secs := func(v int64) time.Duration { return time.Duration(v) * time.Second }
	for _, name := range []string{"no-store", "no-cache", "private"} {
		if _, ok := d[name]; ok {
			if p.MinTTL == 0 {
				return 0, false
			}
			return secs(p.MinTTL), true
		}
	}
	for _, name := range []string{"s-maxage", "max-age"} {
		if v, ok := d[name]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				n = 0 // a malformed age is stale at once (RFC 9111 §4.2.1)
			}
			return secs(min(max(n, p.MinTTL), p.MaxTTL)), true
		}
	}
	return secs(min(max(p.DefaultTTL, p.MinTTL), p.MaxTTL)), true
}

// Directives parses Cache-Control into lower-case directive names and their values.
func Directives(h http.Header) map[string]string {
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

// OriginRequestPolicy says what, besides the cache key, is sent to the origin.
type OriginRequestPolicy struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
	// Headers: None, Whitelist (viewer or CloudFront headers), AllViewer,
	// AllViewerAndWhitelistCloudFront (listing CloudFront headers) or AllExcept.
	Headers Selection `json:"headers"`
	// Cookies and QueryStrings: None, Whitelist, AllExcept or All.
	Cookies      Selection `json:"cookies"`
	QueryStrings Selection `json:"queryStrings"`
}

// ResponseHeadersPolicy adds headers to every answer of the behaviours that name it.
type ResponseHeadersPolicy struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
	// ContentSecurityPolicy, FrameOptions and ReferrerPolicy set those headers.
	ContentSecurityPolicy *HeaderValue `json:"contentSecurityPolicy,omitempty"`
	FrameOptions          *HeaderValue `json:"frameOptions,omitempty"`
	ReferrerPolicy        *HeaderValue `json:"referrerPolicy,omitempty"`
	// ContentTypeOptions sets X-Content-Type-Options: nosniff.
	ContentTypeOptions *Flag `json:"contentTypeOptions,omitempty"`
	// StrictTransportSecurity sets Strict-Transport-Security.
	StrictTransportSecurity *HSTS `json:"strictTransportSecurity,omitempty"`
	// CustomHeaders are further headers.
	CustomHeaders []CustomHeader `json:"customHeaders,omitempty"`
}

// HeaderValue is a security header's value; Override replaces a value the origin sent,
// otherwise the origin's wins.
type HeaderValue struct {
	Value    string `json:"value"`
	Override bool   `json:"override"`
}

// Flag is a security header whose value is fixed (nosniff).
type Flag struct {
	Override bool `json:"override"`
}

// HSTS is Strict-Transport-Security's settings.
type HSTS struct {
	// MaxAge is in seconds.
	MaxAge            int64 `json:"maxAge"`
	IncludeSubdomains bool  `json:"includeSubdomains,omitempty"`
	Preload           bool  `json:"preload,omitempty"`
	Override          bool  `json:"override"`
}

// Value is the header's value.
func (s HSTS) Value() string {
	v := "max-age=" + strconv.FormatInt(s.MaxAge, 10)
	if s.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if s.Preload {
		v += "; preload"
	}
	return v
}

// Headers are the headers the policy sets, in a fixed order.
func (p *ResponseHeadersPolicy) Headers() []CustomHeader {
	var out []CustomHeader
	if v := p.ContentSecurityPolicy; v != nil {
		out = append(out, CustomHeader{Name: "Content-Security-Policy", Value: v.Value, Override: v.Override})
	}
	if v := p.StrictTransportSecurity; v != nil {
		out = append(out, CustomHeader{Name: "Strict-Transport-Security", Value: v.Value(), Override: v.Override})
	}
	if v := p.ContentTypeOptions; v != nil {
		out = append(out, CustomHeader{Name: "X-Content-Type-Options", Value: "nosniff", Override: v.Override})
	}
	if v := p.FrameOptions; v != nil {
		out = append(out, CustomHeader{Name: "X-Frame-Options", Value: v.Value, Override: v.Override})
	}
	if v := p.ReferrerPolicy; v != nil {
		out = append(out, CustomHeader{Name: "Referrer-Policy", Value: v.Value, Override: v.Override})
	}
	return append(out, p.CustomHeaders...)
}

// Apply sets the policy's headers on an answer's header h: each replaces the origin's
// value when it overrides, and is added where the origin sent none.
func (p *ResponseHeadersPolicy) Apply(h http.Header) {
	for _, c := range p.Headers() {
		k := http.CanonicalHeaderKey(c.Name)
		if _, sent := h[k]; sent && !c.Override {
			continue
		}
		h[k] = []string{c.Value}
	}
}
