package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/serverless-architect/serverless-architect/internal/server"
)

// TestAnswerFastAgrees: for each request, AnswerFast either declines (and then the
// request must be one ServeHTTP does not answer from the cache alone, or one a limit
// refuses) or gives exactly ServeHTTP's answer to the same request: status, headers
// (but the per-answer Date, X-Request-Id, Age), body, and the same metrics.
func TestAnswerFastAgrees(t *testing.T) {
	f := newFixture(t, `
  - name: limited
    pathPrefix: /limited
    upstream: {url: "${UP}"}
    auth: cognito
    cache: {ttl: 60s}
    throttle: {caller: {rate: 0.001, burst: 5}}
`)
	alice := f.pool.IDToken(t, "alice", nil)
	bob := f.pool.IDToken(t, "bob", nil)
	req := func(method, path, token string, hdr ...string) *http.Request {
		r := httptest.NewRequest(method, path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		f.gw.ServeHTTP(w, r)
		return w
	}
	// Fill the cache, and let the gateway verify alice's token (not bob's).
	for _, r := range []*http.Request{
		req("GET", "/v1/todos?limit=5", alice), req("GET", "/v1/todos/vary", alice, "Accept-Language", "en"),
		req("GET", "/public/a", ""), req("GET", "/limited", alice),
	} {
		if w := serve(r); w.Code != 200 || w.Header().Get(HeaderCache) != "Miss" {
			t.Fatalf("priming %s: %d %s", r.URL, w.Code, w.Header().Get(HeaderCache))
		}
	}
	hits := func() float64 {
		var m dto.Metric
		if err := f.gw.metrics.requests.WithLabelValues("todos", "GET", "200", "hit").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	for _, c := range []struct {
		name   string
		r      func() *http.Request
		answer bool
	}{
		{"hit", func() *http.Request { return req("GET", "/v1/todos?limit=5", alice) }, true},
		{"HEAD, not a cached method", func() *http.Request { return req("HEAD", "/v1/todos?limit=5", alice) }, false},
		{"conditional hit", func() *http.Request { return req("GET", "/v1/todos?limit=5", alice, "If-None-Match", `"1"`) }, true},
		{"gzip asked", func() *http.Request { return req("GET", "/v1/todos?limit=5", alice, "Accept-Encoding", "gzip") }, true},
		{"vary matches", func() *http.Request { return req("GET", "/v1/todos/vary", alice, "Accept-Language", "en") }, true},
		{"public hit", func() *http.Request { return req("GET", "/public/a", "") }, true},
		{"public refresh ignored", func() *http.Request { return req("GET", "/public/a", "", "Cache-Control", "no-cache") }, true},
		// Each answered case spends two tokens (AnswerFast's, ServeHTTP's); priming one.
		{"limited, within the burst", func() *http.Request { return req("GET", "/limited", alice) }, true},
		{"limited, the burst's last two", func() *http.Request { return req("GET", "/limited", alice) }, true},
		{"limited, refused", func() *http.Request { return req("GET", "/limited", alice) }, false},
		{"refresh", func() *http.Request { return req("GET", "/v1/todos?limit=5", alice, "Cache-Control", "max-age=0") }, false},
		{"token never verified", func() *http.Request { return req("GET", "/v1/todos?limit=5", bob) }, false},
		{"no token", func() *http.Request { return req("GET", "/v1/todos?limit=5", "") }, false},
		{"vary differs", func() *http.Request { return req("GET", "/v1/todos/vary", alice, "Accept-Language", "fr") }, false},
		{"not cached yet", func() *http.Request { return req("GET", "/v1/todos?limit=6", alice) }, false},
		{"unlisted parameter", func() *http.Request { return req("GET", "/v1/todos?limit=5&x=1", alice) }, false},
		{"range", func() *http.Request { return req("GET", "/v1/todos?limit=5", alice, "Range", "bytes=0-1") }, false},
		{"public with credentials", func() *http.Request { return req("GET", "/public/a", "", "Cookie", "a=b") }, false},
		{"not canonical", func() *http.Request { return req("GET", "/v1//todos", alice) }, false},
		{"no route", func() *http.Request { return req("GET", "/nope", alice) }, false},
		{"not cached route", func() *http.Request { return req("GET", "/echo-body", "") }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := hits()
			fw := httptest.NewRecorder()
			answered := f.gw.AnswerFast(fw, c.r())
			if answered != c.answer {
				t.Fatalf("AnswerFast = %v, want %v", answered, c.answer)
			}
			if !answered {
				if fw.Body.Len() > 0 || fw.Code != 200 || len(fw.Header()) > 0 {
					t.Errorf("declined, but wrote %d %v %q", fw.Code, fw.Header(), fw.Body)
				}
				return
			}
			fastHits := hits() - before
			upstream := f.up.calls.Load()
			sw := serve(c.r())
			if f.up.calls.Load() != upstream {
				t.Fatal("ServeHTTP went upstream for a request AnswerFast answered")
			}
			if hits()-before != 2*fastHits {
				t.Errorf("AnswerFast counted %v hits, ServeHTTP %v", fastHits, hits()-before-fastHits)
			}
			clean := func(h http.Header) http.Header {
				h = h.Clone()
				for _, k := range []string{"Date", "X-Request-Id", "Age"} {
					delete(h, k)
				}
				return h
			}
			if diff := cmp.Diff(sw.Code, fw.Code); diff != "" {
				t.Errorf("status (-ServeHTTP +AnswerFast):\n%s", diff)
			}
			if diff := cmp.Diff(clean(sw.Header()), clean(fw.Header())); diff != "" {
				t.Errorf("headers (-ServeHTTP +AnswerFast):\n%s", diff)
			}
			if diff := cmp.Diff(sw.Body.String(), fw.Body.String()); diff != "" {
				t.Errorf("body (-ServeHTTP +AnswerFast):\n%s", diff)
			}
		})
	}
	// The refused request took nothing: ServeHTTP refuses it the same way.
	if w := serve(req("GET", "/limited", alice)); w.Code != http.StatusTooManyRequests {
		t.Errorf("after the fast path declined a refused request, ServeHTTP answered %d", w.Code)
	}
}

// TestFastPathThroughServer: the gateway behind the server's fast path, one keep-alive
// connection, tokens of two users in turn: each user gets only their own entry (the
// connection's memo of the last token never answers for another token), and every
// answer carries the table's response headers.
func TestFastPathThroughServer(t *testing.T) {
	f := newFixture(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := server.New(server.Config{MaxBodyBytes: 1 << 20, ShutdownTimeout: time.Second}, log, f.gw,
		server.WithListener(l), server.WithFastPath(f.gw), server.WithHeaders(http.Header{"X-Content-Type-Options": {"nosniff"}}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	base := "http://" + l.Addr().String()
	alice, bob := f.pool.IDToken(t, "alice", nil), f.pool.IDToken(t, "bob", nil)
	get := func(token string) (string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/v1/todos", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		return resp.Header.Get(HeaderCache), string(b)
	}
	for _, c := range []struct{ token, user, cache string }{
		{alice, "alice", "Miss"}, // net/http (not a hit yet); the connection is handed over
	} {
		if cache, body := get(c.token); cache != c.cache || !strings.Contains(body, `"sub":"`+c.user+`"`) {
			t.Fatalf("%s: %s %s", c.user, cache, body)
		}
	}
	// A fresh connection: alice's hits on the fast path, then bob's token.
	client.CloseIdleConnections()
	for i, c := range []struct{ token, user, cache string }{
		{alice, "alice", "Hit"}, {alice, "alice", "Hit"}, {bob, "bob", "Miss"}, {bob, "bob", "Hit"}, {alice, "alice", "Hit"},
	} {
		if cache, body := get(c.token); cache != c.cache || !strings.Contains(body, `"sub":"`+c.user+`"`) {
			t.Fatalf("request %d as %s: %s %s", i, c.user, cache, body)
		}
	}
}
