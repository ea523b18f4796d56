package route

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const good = `
routes:
  - name: todos
    pathPrefix: /v1/todos
    methods: [GET, POST, PATCH, DELETE]
    upstream: {url: "${TODO_API_URL}/base/"}
    auth: cognito
    timeout: 5s
    cache: {queryKeys: [nextToken, limit]}
    throttle:
      route: {rate: 100, burst: 200}
      caller: {rate: 2.5, burst: 5}
  - pathPrefix: /v1/todos/export
    upstream: {url: "http://exporter:8080"}
    auth: cognito
  - pathPrefix: /public
    upstream: {url: "http://pub"}
    auth: none
    cache: {ttl: 60}
  - pathPrefix: /
    methods: [GET]
    upstream: {url: "http://root"}
    auth: none
  - name: me
    pathPrefix: /v1/me
    methods: [DELETE]
    upstream: {url: "http://me"}
    auth: cognito
    invalidates: [/v1/todos]
`

func TestParse(t *testing.T) {
	tab, err := Parse([]byte(good), env(map[string]string{"TODO_API_URL": "http://127.0.0.1:9"}))
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Name, Prefix, URL, Auth string
		Timeout                 time.Duration
		Cache                   *Cache
		Throttle                Throttle
		Invalidates             []Scope
	}
	var got []summary
	for _, r := range tab.Routes {
		got = append(got, summary{r.Name, r.PathPrefix, r.Upstream.URL.String(), r.Auth, r.Timeout, r.Cache, r.Throttle, r.Invalidates})
	}
	want := []summary{
		{"todos", "/v1/todos", "http://127.0.0.1:9/base", "cognito", 5 * time.Second,
			&Cache{TTL: 300 * time.Second, Methods: []string{"GET"}, Statuses: []int{200}, QueryKeys: []string{"limit", "nextToken"}},
			Throttle{Route: Limit{100, 200}, Caller: Limit{2.5, 5}}, []Scope{{Prefix: "/v1/todos"}}},
		{"/v1/todos/export", "/v1/todos/export", "http://exporter:8080", "cognito", DefaultTimeout, nil, Throttle{}, []Scope{{Prefix: "/v1/todos"}}},
		{"/public", "/public", "http://pub", "none", DefaultTimeout,
			&Cache{TTL: 60 * time.Second, Methods: []string{"GET"}, Statuses: []int{200}, QueryKeys: nil}, Throttle{}, []Scope{{Prefix: "/public", Public: true}}},
		{"/", "/", "http://root", "none", DefaultTimeout, nil, Throttle{}, []Scope{{Prefix: "/v1/todos"}, {Prefix: "/public", Public: true}}},
		{"me", "/v1/me", "http://me", "cognito", DefaultTimeout, nil, Throttle{}, []Scope{{Prefix: "/v1/todos"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	base := func(extra string) string {
		return "routes:\n  - pathPrefix: /v1\n    upstream: {url: http://up}\n    auth: none\n" + extra
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "routes: []", "routes: the table has no routes"},
		{"unknown field", base("    cahce: {}\n"), "field cahce not found"},
		{"no prefix", "routes:\n  - upstream: {url: http://up}\n    auth: none\n", "routes[0].pathPrefix: is required"},
		{"relative prefix", "routes:\n  - pathPrefix: v1\n    upstream: {url: http://up}\n    auth: none\n", `routes[0].pathPrefix: "v1" must start with /`},
		{"trailing slash", "routes:\n  - pathPrefix: /v1/\n    upstream: {url: http://up}\n    auth: none\n", "routes[0].pathPrefix: \"/v1/\" must be a clean path"},
		{"dot dot", "routes:\n  - pathPrefix: /v1/../x\n    upstream: {url: http://up}\n    auth: none\n", "routes[0].pathPrefix"},
		{"no upstream", "routes:\n  - pathPrefix: /v1\n    auth: none\n", "routes[0].upstream: is required"},
		{"missing var", "routes:\n  - pathPrefix: /v1\n    upstream: {url: \"${NOPE}\"}\n    auth: none\n", "routes[0].upstream: url: \"${NOPE}\" uses $NOPE, which is not set"},
		{"bad scheme", "routes:\n  - pathPrefix: /v1\n    upstream: {url: \"ftp://x\"}\n    auth: none\n", "routes[0].upstream: url: \"ftp://x\" must be an http or https URL"},
		{"no s3 upstreams", "routes:\n  - pathPrefix: /\n    upstream: {kind: s3, bucket: b}\n    auth: none\n", "field kind not found"},
		{"no origin-driven cache", base("    cache: {ttl: 60s, origin: true}\n"), "field origin not found"},
		{"no auth", "routes:\n  - pathPrefix: /v1\n    upstream: {url: http://up}\n", "routes[0].auth: is required"},
		{"bad auth", "routes:\n  - pathPrefix: /v1\n    upstream: {url: http://up}\n    auth: iam\n", `routes[0].auth: "iam" is not "cognito" or "none"`},
		{"ttl too long", base("    cache: {ttl: 2h}\n"), "routes[0].cache.ttl: 2h0m0s is above the maximum 1h0m0s"},
		{"ttl garbage", base("    cache: {ttl: soon}\n"), `"soon" is not a duration`},
		{"cache POST", base("    cache: {methods: [POST]}\n"), `routes[0].cache.methods[0]: "POST" cannot be cached`},
		{"cache 206", base("    cache: {statuses: [206]}\n"), "routes[0].cache.statuses[0]: 206 cannot be cached"},
		{"dup query key", base("    cache: {queryKeys: [a, a]}\n"), `routes[0].cache.queryKeys[1]: "a" is listed twice`},
		{"bad method", base("    methods: [FETCH]\n"), `routes[0].methods[0]: "FETCH" is not one of`},
		{"timeout", base("    timeout: 0s\n"), "routes[0].timeout: 0s must be above 0"},
		{"rate", base("    throttle: {caller: {rate: 0, burst: 1}}\n"), "routes[0].throttle.caller.rate: 0 must be above 0"},
		{"burst", base("    throttle: {route: {rate: 1, burst: 0}}\n"), "routes[0].throttle.route.burst: 0 must be at least 1"},
		{"overlap", base("  - pathPrefix: /v1\n    methods: [GET]\n    upstream: {url: http://up}\n    auth: none\n"), "routes[1].methods: routes[0] already serves"},
		{"header name", "responseHeaders: {\"X Bad\": v}\n" + base(""), `responseHeaders["X Bad"]: not a header name`},
		{"header value", "responseHeaders: {X-A: \"a\\r\\nb\"}\n" + base(""), `responseHeaders["X-A"]: the value must be non-empty`},
		{"header owned", "responseHeaders: {content-type: text/plain}\n" + base(""), `responseHeaders["content-type"]: the gateway sets Content-Type`},
		{"header twice", "responseHeaders: {x-a: a, X-A: b}\n" + base(""), "set twice"},
		{"invalidates no cached route", base("    invalidates: [/v1/todos]\n"), `routes[0].invalidates[0]: "/v1/todos" is not the pathPrefix of a cached route`},
		{"dup name", "routes:\n  - {name: a, pathPrefix: /a, upstream: {url: http://up}, auth: none}\n  - {name: a, pathPrefix: /b, upstream: {url: http://up}, auth: none}\n", `routes[1].name: "a" is also the name of routes[0]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), env(nil))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte("routes:\n  - pathPrefix: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file, env(nil))
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "routes[0].pathPrefix") {
		t.Errorf("error = %v, want one naming the file and the field", err)
	}
}

func TestShippedTable(t *testing.T) {
	tab, err := Load("../../routes.yaml", env(map[string]string{"TODO_API_URL": "http://127.0.0.1:8080"}))
	if err != nil {
		t.Fatal(err)
	}
	// The to-do API is HTTPS only, and answers JSON that no browser should sniff.
	hsts := tab.ResponseHeaders.Get("Strict-Transport-Security")
	if !strings.HasPrefix(hsts, "max-age=") || !strings.Contains(hsts, "includeSubDomains") {
		t.Errorf("Strict-Transport-Security = %q, want a max-age with includeSubDomains", hsts)
	}
	if got := tab.ResponseHeaders.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

func TestMatch(t *testing.T) {
	tab, err := Parse([]byte(good), env(map[string]string{"TODO_API_URL": "http://x"}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, want string
		err                error
	}{
		{"GET", "/v1/todos", "todos", nil},
		{"GET", "/v1/todos/", "todos", nil},
		{"PATCH", "/v1/todos/01H", "todos", nil},
		{"GET", "/v1/todos/export", "/v1/todos/export", nil},
		{"PUT", "/v1/todos/export/x", "/v1/todos/export", nil},
		{"GET", "/v1/todosx", "/", nil},
		{"PUT", "/v1/todos", "", ErrMethod},
		{"GET", "/public/a.css", "/public", nil},
		{"POST", "/elsewhere", "", ErrMethod},
		{"GET", "/", "/", nil},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r, _, err := tab.Match(c.method, c.path)
			if !errors.Is(err, c.err) {
				t.Fatalf("error = %v, want %v", err, c.err)
			}
			if r != nil && r.Name != c.want {
				t.Errorf("route = %s, want %s", r.Name, c.want)
			}
		})
	}
	noRoot, _ := Parse([]byte("routes:\n  - pathPrefix: /a\n    upstream: {url: http://up}\n    auth: none\n"), env(nil))
	if _, _, err := noRoot.Match("GET", "/b"); !errors.Is(err, ErrNoRoute) {
		t.Errorf("GET /b: error = %v, want ErrNoRoute", err)
	}
}

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/v1/todos": true, "/v1/todos/": true, "": false, "v1": false,
		"/v1//todos": false, "/v1/./todos": false, "/public/../v1/todos": false, "/v1/todos/..": false,
	} {
		if got := CleanPath(p); got != want {
			t.Errorf("CleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzRouteMatch checks the matcher's promises on any method and path: the route it
// returns covers the path on a segment boundary and serves the method, and no route
// with a longer covering prefix serves the method.
func FuzzRouteMatch(f *testing.F) {
	tab, err := Parse([]byte(good), env(map[string]string{"TODO_API_URL": "http://x"}))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct{ m, p string }{{"GET", "/v1/todos"}, {"PATCH", "/v1/todos/x/y"}, {"GET", "/v1/todosx"}, {"POST", "/public/../v1"}, {"DELETE", ""}, {"GET", "//"}} {
		f.Add(s.m, s.p)
	}
	f.Fuzz(func(t *testing.T, method, p string) {
		r, allowed, err := tab.Match(method, p)
		switch {
		case err == nil:
			if !underPrefix(p, r.PathPrefix) {
				t.Fatalf("%s %q matched %s, which does not cover it", method, p, r.PathPrefix)
			}
			if len(r.Methods) > 0 && !contains(r.Methods, method) {
				t.Fatalf("%s %q matched %s, which does not serve %s", method, p, r.Name, method)
			}
			for _, o := range tab.Routes {
				if len(o.PathPrefix) > len(r.PathPrefix) && underPrefix(p, o.PathPrefix) {
					t.Fatalf("%s %q matched %s although %s is longer", method, p, r.PathPrefix, o.PathPrefix)
				}
			}
		case errors.Is(err, ErrMethod):
			if len(allowed) == 0 || contains(allowed, method) {
				t.Fatalf("%s %q: 405 with allowed %v", method, p, allowed)
			}
		case errors.Is(err, ErrNoRoute):
			for _, o := range tab.Routes {
				if underPrefix(p, o.PathPrefix) {
					t.Fatalf("%s %q: no route, but %s covers it", method, p, o.PathPrefix)
				}
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The shipped route tables (the service's own, the chart's) answer a hung upstream
// with 504 and Retry-After well before a client's usual 10 s patience runs out.
func TestShippedRouteTimeoutsUnderTenSeconds(t *testing.T) {
	env := func(string) (string, bool) { return "https://upstream.example", true }
	for _, file := range []string{"../../routes.yaml", "../../../../charts/serverless-architect/files/routes.yaml"} {
		tab, err := Load(file, env)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, r := range tab.Routes {
			// Account deletion too: todo-api answers 503 and the client calls again
			// when one call's budget does not suffice (ACCOUNT_DELETE_BUDGET).
			limit := 10 * time.Second
			if r.Timeout >= limit {
				t.Errorf("%s: route %s times out after %s; a hung dependency must get its 504 in under %s", file, r.Name, r.Timeout, limit.Truncate(time.Second))
			}
		}
	}
}
