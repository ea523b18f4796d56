package api

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
)

// benchGateway is a gateway with one route, in front of a trivial upstream on loopback.
func benchGateway(b *testing.B, routeYAML string) (*Gateway, *authtest.Pool) {
	b.Helper()
	// A raw upstream that allocates nothing per request, so that allocs/op is the
	// gateway's: it answers every request head (GET, no body) with the same bytes.
	body := `{"items":[{"id":"01JBENCH0000000000000000001","title":"buy milk"}],"nextToken":null}`
	answer := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 { // the blank line after the head
						if _, err := c.Write(answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	upURL := "http://" + ln.Addr().String()
	pool := authtest.NewPool(b)
	table, err := route.Parse([]byte(routeYAML), func(k string) (string, bool) {
		if k == "UP" {
			return upURL, true
		}
		return "", false
	})
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(pool.Config(), nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{CacheMaxEntries: 1000, CacheMaxBytes: 16 << 20, AuthCacheSize: 100, AuthCacheTTL: time.Minute, ThrottleMaxCallers: 100, UpstreamMaxIdleConns: 16}
	g, err := New(cfg, Deps{Table: table, Verifier: v, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	return g, pool
}

// BenchmarkProxy is the gateway's own work on the proxy path (route, headers, the
// upstream exchange over loopback, relay), without the HTTP server in front: its
// allocations per request are the ones this package can cut.
func BenchmarkProxy(b *testing.B) {
	g, _ := benchGateway(b, "routes:\n  - {name: hop, pathPrefix: /, upstream: {url: \"${UP}\"}, auth: none}\n")
	req := httptest.NewRequest("GET", "/v1/todos", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkCacheHit is the gateway's work for a cache hit on an authenticated route
// (token looked up, cache looked up, entry written).
func BenchmarkCacheHit(b *testing.B) {
	g, pool := benchGateway(b, "routes:\n  - {name: todos, pathPrefix: /v1/todos, upstream: {url: \"${UP}\"}, auth: cognito, cache: {ttl: 3600s}}\n")
	req := httptest.NewRequest("GET", "/v1/todos", nil)
	req.Header.Set("Authorization", "Bearer "+pool.IDToken(b, "alice", nil))
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Header().Get(HeaderCache) != "Hit" {
			b.Fatalf("X-Cache %q", w.Header().Get(HeaderCache))
		}
	}
}
