package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
)

// TestAuthFailuresLimitedPerAddress: with the clock stopped (no bucket refills), one
// address sends many bad tokens; a signed-in user from another address must still get
// through the route's bucket. Without the per-address limit the same flood drains the
// route's bucket and the user is refused: the test tells the two apart.
func TestAuthFailuresLimitedPerAddress(t *testing.T) {
	pool := authtest.NewPool(t)
	up := newUpstream(t)
	table, err := route.Parse([]byte(`
routes:
  - name: todos
    pathPrefix: /v1/todos
    upstream: {url: "${UP}"}
    auth: cognito
    throttle: {route: {rate: 1, burst: 10}}
`), LookupEnv(map[string]string{"UP": up.srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	good := pool.IDToken(t, "alice", nil)
	stopped := time.Now()
	for _, tc := range []struct {
		name             string
		failRate         float64
		wantGood         int
		wantFloodRefused string
	}{
		{"limited", 1, 200, "auth_failures"},
		{"not limited", 0, 429, "route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := auth.NewVerifier(pool.Config(), nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{CacheMaxEntries: 10, CacheMaxBytes: 4 << 20, AuthCacheSize: 10, AuthCacheTTL: time.Minute, ThrottleMaxCallers: 100,
				UpstreamMaxIdleConns: 4, ForwardedHops: 1, AuthFailureRate: tc.failRate, AuthFailureBurst: 3}
			g, err := New(cfg, Deps{Table: table, Verifier: v, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return stopped }})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			send := func(from, token string) *httptest.ResponseRecorder {
				req := httptest.NewRequest("GET", "/v1/todos", nil)
				req.Header.Set("X-Forwarded-For", from)
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				g.ServeHTTP(w, req)
				return w
			}
			codes := map[int]int{}
			for range 100 {
				codes[send("203.0.113.7", "not-a-token").Code]++
			}
			if tc.failRate > 0 && (codes[401] != 3 || codes[429] != 97) {
				t.Errorf("flood answers %v; want 3 × 401 (the burst of failures), then 97 × 429", codes)
			}
			w := send("198.51.100.1", good)
			if w.Code != tc.wantGood {
				t.Errorf("the signed-in user from another address got %d, want %d", w.Code, tc.wantGood)
			}
			// The flood's address stays refused, even with a good token: the check
			// comes before the authorizer and is about the address.
			if tc.failRate > 0 {
				if w := send("203.0.113.7", good); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
					t.Errorf("the flooding address got %d (Retry-After %q), want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
				}
			}
		})
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"not an address":       "not an address",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
