package route

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"
)

// Load reads, expands and validates the route table at file. lookupEnv resolves the
// ${VAR} references of upstream URLs.
func Load(file string, lookupEnv func(string) (string, bool)) (*Table, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	t, err := Parse(data, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("route table %s: %w", file, err)
	}
	return t, nil
}

// The YAML shapes. Unknown fields are errors.
type fileDoc struct {
	ResponseHeaders map[string]string `yaml:"responseHeaders"`
	Routes          []rawRoute        `yaml:"routes"`
}

type rawRoute struct {
	Name       string       `yaml:"name"`
	PathPrefix string       `yaml:"pathPrefix"`
	Methods    []string     `yaml:"methods"`
	Upstream   *rawUpstream `yaml:"upstream"`
	Auth       string       `yaml:"auth"`
	Timeout    *Duration    `yaml:"timeout"`
	Cache      *rawCache    `yaml:"cache"`
	Throttle   *rawThrottle `yaml:"throttle"`
	// Invalidates names more cached route prefixes that a write through this route
	// makes stale, beyond those that contain or lie under its own prefix.
	Invalidates []string `yaml:"invalidates"`
}

type rawUpstream struct {
	URL string `yaml:"url"`
}

type rawCache struct {
	TTL       *Duration `yaml:"ttl"`
	Methods   []string  `yaml:"methods"`
	Statuses  []int     `yaml:"statuses"`
	QueryKeys []string  `yaml:"queryKeys"`
}

type rawThrottle struct {
	Route  *rawLimit `yaml:"route"`
	Caller *rawLimit `yaml:"caller"`
}

type rawLimit struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Duration is a YAML duration: a Go duration string ("10s", "1m30s") or a whole number
// of seconds.
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a duration such as 10s or a number of seconds")
	}
	if secs, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		d.Duration = time.Duration(secs) * time.Second
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 10s or a number of seconds", n.Value)
	}
	d.Duration = v
	return nil
}

// Parse validates a route table held in memory; see Load.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Table, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc fileDoc
	err := dec.Decode(&doc)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(doc.Routes) == 0 {
		return nil, errors.New("routes: the table has no routes")
	}
	t := &Table{}
	if t.ResponseHeaders, err = responseHeaders(doc.ResponseHeaders); err != nil {
		return nil, err
	}
	names := map[string]int{}
	extra := map[*Route][]string{}
	for i, raw := range doc.Routes {
		r, err := validate(i, raw, lookupEnv)
		if err != nil {
			return nil, err
		}
		for _, o := range t.Routes {
			if o.PathPrefix == r.PathPrefix && methodsOverlap(o.Methods, r.Methods) {
				return nil, fmt.Errorf("routes[%d].methods: routes[%d] already serves some of these methods on %s", i, o.Index, r.PathPrefix)
			}
		}
		if j, ok := names[r.Name]; ok {
			return nil, fmt.Errorf("routes[%d].name: %q is also the name of routes[%d]", i, r.Name, j)
		}
		names[r.Name] = i
		t.Routes = append(t.Routes, r)
		extra[r] = doc.Routes[i].Invalidates
	}
	for _, r := range t.Routes {
		for j, p := range extra[r] {
			named := false
			for _, c := range t.Routes {
				named = named || (c.Cache != nil && c.PathPrefix == p)
			}
			if !named {
				return nil, fmt.Errorf("routes[%d].invalidates[%d]: %q is not the pathPrefix of a cached route", r.Index, j, p)
			}
		}
	}
	t.index(extra)
	return t, nil
}

// perResponse are headers the gateway writes itself on each answer; a table must not
// set them.
var perResponse = []string{"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Connection", "Date", "Age", "Etag", "Vary", "X-Cache", "X-Request-Id", "Retry-After", "Www-Authenticate", "Allow", "Location", "Set-Cookie"}

// responseHeaders validates the table's responseHeaders.
func responseHeaders(raw map[string]string) (http.Header, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(raw))
	for name, value := range raw {
		field := fmt.Sprintf("responseHeaders[%q]", name)
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			return nil, fmt.Errorf("%s: not a header name", field)
		case !httpguts.ValidHeaderFieldValue(value) || strings.TrimSpace(value) == "":
			return nil, fmt.Errorf("%s: the value must be non-empty, without control characters", field)
		case slices.Contains(perResponse, canon):
			return nil, fmt.Errorf("%s: the gateway sets %s on each answer itself", field, canon)
		case h[canon] != nil:
			return nil, fmt.Errorf("%s: set twice (names are case-insensitive)", field)
		}
		h[canon] = []string{value}
	}
	return h, nil
}

// methodsOverlap reports whether two method lists (empty meaning all) share a method.
func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return true
		}
	}
	return false
}

var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

func validate(i int, raw rawRoute, lookupEnv func(string) (string, bool)) (*Route, error) {
	field := func(name string) string { return fmt.Sprintf("routes[%d].%s", i, name) }
	r := &Route{Index: i, Name: raw.Name}

	switch p := raw.PathPrefix; {
	case p == "":
		return nil, fmt.Errorf("%s: is required (for example /v1/todos)", field("pathPrefix"))
	case !strings.HasPrefix(p, "/"):
		return nil, fmt.Errorf("%s: %q must start with /", field("pathPrefix"), p)
	case p != "/" && (strings.HasSuffix(p, "/") || path.Clean(p) != p):
		return nil, fmt.Errorf("%s: %q must be a clean path without a trailing slash (%q)", field("pathPrefix"), p, path.Clean(p))
	case strings.ContainsAny(p, "?#%*{} \t"):
		return nil, fmt.Errorf("%s: %q must be a literal path, without query, escapes or patterns", field("pathPrefix"), p)
	}
	r.PathPrefix = raw.PathPrefix
	if r.Name == "" {
		r.Name = r.PathPrefix
	}

	for j, m := range raw.Methods {
		if !slices.Contains(knownMethods, m) {
			return nil, fmt.Errorf("%s: %q is not one of %s", field(fmt.Sprintf("methods[%d]", j)), m, strings.Join(knownMethods, ", "))
		}
		if slices.Contains(raw.Methods[:j], m) {
			return nil, fmt.Errorf("%s: %s is listed twice", field(fmt.Sprintf("methods[%d]", j)), m)
		}
	}
	r.Methods = raw.Methods

	if raw.Upstream == nil {
		return nil, fmt.Errorf("%s: is required", field("upstream"))
	}
	up, err := upstream(raw.Upstream, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field("upstream"), err)
	}
	r.Upstream = up

	switch raw.Auth {
	case AuthCognito, AuthNone:
		r.Auth = raw.Auth
	case "":
		return nil, fmt.Errorf("%s: is required: %q or %q", field("auth"), AuthCognito, AuthNone)
	default:
		return nil, fmt.Errorf("%s: %q is not %q or %q", field("auth"), raw.Auth, AuthCognito, AuthNone)
	}

	r.Timeout = DefaultTimeout
	if raw.Timeout != nil {
		if raw.Timeout.Duration <= 0 || raw.Timeout.Duration > MaxTimeout {
			return nil, fmt.Errorf("%s: %s must be above 0 and at most %s", field("timeout"), raw.Timeout.Duration, MaxTimeout)
		}
		r.Timeout = raw.Timeout.Duration
	}

	if raw.Cache != nil {
		c, err := cacheSettings(raw.Cache)
		if err != nil {
			return nil, fmt.Errorf("%s%w", field("cache"), err)
		}
		r.Cache = c
		if c != nil {
			for _, m := range c.Methods {
				if len(r.Methods) > 0 && !slices.Contains(r.Methods, m) {
					return nil, fmt.Errorf("%s: %s is not among the route's methods", field("cache.methods"), m)
				}
			}
		}
	}

	if raw.Throttle != nil {
		for _, l := range []struct {
			name string
			raw  *rawLimit
			dst  *Limit
		}{{"route", raw.Throttle.Route, &r.Throttle.Route}, {"caller", raw.Throttle.Caller, &r.Throttle.Caller}} {
			if l.raw == nil {
				continue
			}
			f := field("throttle." + l.name)
			if l.raw.Rate <= 0 {
				return nil, fmt.Errorf("%s.rate: %v must be above 0 requests a second", f, l.raw.Rate)
			}
			if l.raw.Burst < 1 {
				return nil, fmt.Errorf("%s.burst: %d must be at least 1", f, l.raw.Burst)
			}
			*l.dst = Limit{Rate: l.raw.Rate, Burst: l.raw.Burst}
		}
	}
	return r, nil
}

func upstream(raw *rawUpstream, lookupEnv func(string) (string, bool)) (Upstream, error) {
	expanded, err := expand("url", raw.URL, lookupEnv)
	if err != nil {
		return Upstream{}, err
	}
	if expanded == "" {
		return Upstream{}, errors.New("url: is required (for example http://todo-api.default.svc.cluster.local or ${TODO_API_URL})")
	}
	u, err := url.Parse(expanded)
	if err != nil {
		return Upstream{}, fmt.Errorf("url: %q: %w", expanded, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Upstream{}, fmt.Errorf("url: %q must be an http or https URL", expanded)
	}
	if u.Host == "" {
		return Upstream{}, fmt.Errorf("url: %q has no host", expanded)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Upstream{}, fmt.Errorf("url: %q must not carry a query, a fragment or credentials", expanded)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return Upstream{URL: u}, nil
}

// expand replaces the ${VAR}s of the field's value from the environment; a variable
// that is unset or empty is an error.
func expand(field, v string, lookupEnv func(string) (string, bool)) (string, error) {
	var missing []string
	expanded := os.Expand(v, func(name string) string {
		v, ok := lookupEnv(name)
		if !ok || v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s: %q uses $%s, which is not set in the environment", field, v, missing[0])
	}
	return expanded, nil
}

func cacheSettings(raw *rawCache) (*Cache, error) {
	ttl := DefaultTTL
	if raw.TTL != nil {
		ttl = raw.TTL.Duration
	}
	switch {
	case ttl == 0:
		return nil, nil // explicitly off
	case ttl < time.Second:
		return nil, fmt.Errorf(".ttl: %s must be 0 (off) or at least 1s", ttl)
	case ttl > MaxTTL:
		return nil, fmt.Errorf(".ttl: %s is above the maximum %s", ttl, MaxTTL)
	}
	c := &Cache{TTL: ttl, Methods: raw.Methods, Statuses: raw.Statuses}
	if len(c.Methods) == 0 {
		c.Methods = []string{http.MethodGet}
	}
	for j, m := range c.Methods {
		if m != http.MethodGet && m != http.MethodHead {
			return nil, fmt.Errorf(".methods[%d]: %q cannot be cached; only GET and HEAD can", j, m)
		}
	}
	if len(c.Statuses) == 0 {
		c.Statuses = []int{http.StatusOK}
	}
	for j, s := range c.Statuses {
		if s < 200 || s > 599 || s == http.StatusPartialContent || s == http.StatusNotModified {
			return nil, fmt.Errorf(".statuses[%d]: %d cannot be cached", j, s)
		}
	}
	for j, k := range raw.QueryKeys {
		if k == "" {
			return nil, fmt.Errorf(".queryKeys[%d]: must not be empty", j)
		}
		if slices.Contains(raw.QueryKeys[:j], k) {
			return nil, fmt.Errorf(".queryKeys[%d]: %q is listed twice", j, k)
		}
	}
	if len(raw.QueryKeys) > 0 {
		c.QueryKeys = slices.Sorted(slices.Values(raw.QueryKeys))
	}
	return c, nil
}
