package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
)

func start(t *testing.T, cfg Config, h http.Handler) (string, *Server, context.CancelFunc, chan error, *logtest.Buffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	s := New(cfg, logging.New(logs, "debug", "test"), h, WithListener(l))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(cancel)
	return "http://" + l.Addr().String(), s, cancel, done, logs
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHealthAndDrain(t *testing.T) {
	release := make(chan struct{})
	inflight := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inflight)
			<-release
		}
		_, _ = w.Write([]byte("done"))
	})
	// The drain delay is the time the two requests below have while draining, before
	// the listener closes: long enough for a loaded machine.
	url, s, cancel, done, _ := start(t, Config{DrainDelay: 3 * time.Second, ShutdownTimeout: 5 * time.Second, MaxBodyBytes: 10}, h)

	if resp, _ := get(t, url+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz = %d", resp.StatusCode)
	}
	if resp, _ := get(t, url+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz = %d", resp.StatusCode)
	}

	slow := make(chan string, 1)
	go func() { _, b := get(t, url+"/slow"); slow <- b }()
	<-inflight
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for !s.Draining() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if resp, _ := get(t, url+"/readyz"); resp.StatusCode != 503 {
		t.Errorf("readyz while draining = %d, want 503", resp.StatusCode)
	}
	if resp, _ := get(t, url+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz while draining = %d, want 200", resp.StatusCode)
	}
	close(release)
	if b := <-slow; b != "done" {
		t.Errorf("in-flight request got %q, want it to complete", b)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// The service sees every path as sent, non-canonical ones included (no redirects);
// the health endpoints answer GET and HEAD, and other methods get a 405 envelope.
func TestRouting(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	})
	url, _, cancel, done, _ := start(t, Config{MaxBodyBytes: 10}, h)
	defer func() { cancel(); <-done }()
	raw := func(method, path string) (int, http.Header, string) {
		t.Helper()
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, path)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, p := range []string{"//a", "/a/./b", "/a/../b", "/healthz/", "/x"} {
		if code, _, body := raw("GET", p); code != http.StatusTeapot {
			t.Errorf("GET %s = %d %s, want the service's 418", p, code, body)
		}
	}
	mu.Lock()
	want := []string{"GET //a", "GET /a/./b", "GET /a/../b", "GET /healthz/", "GET /x"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("the service saw %q, want %q", seen, want)
	}
	mu.Unlock()
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _, _ := raw("HEAD", p); code != 200 {
			t.Errorf("HEAD %s = %d, want 200", p, code)
		}
		code, h, body := raw("POST", p)
		if code != 405 || h.Get("Allow") != "GET, HEAD" || !strings.Contains(body, `"code":"method_not_allowed"`) {
			t.Errorf("POST %s = %d Allow %q %s, want a 405 envelope", p, code, h.Get("Allow"), body)
		}
	}
}

func TestRequestIDAndLog(t *testing.T) {
	var seen string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = logging.RequestID(r.Context())
	})
	url, _, _, _, logs := start(t, Config{DrainDelay: 0, ShutdownTimeout: time.Second}, h)

	resp, _ := get(t, url+"/x", "X-Request-Id", "abc-123")
	if resp.Header.Get("X-Request-Id") != "abc-123" || seen != "abc-123" {
		t.Errorf("valid id not kept: header %q, ctx %q", resp.Header.Get("X-Request-Id"), seen)
	}
	resp, _ = get(t, url+"/x", "X-Request-Id", "evil\"id with spaces")
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") || got != seen {
		t.Errorf("hostile id not replaced: header %q, ctx %q", got, seen)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" && rec["requestId"] == "abc-123" && rec["path"] == "/x" {
			found = true
		}
	}
	if !found {
		t.Errorf("no access log line with the request id:\n%s", logs.String())
	}
}

func TestBodyLimit(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(200)
	})
	url, _, _, _, _ := start(t, Config{MaxBodyBytes: 10, ShutdownTimeout: time.Second}, h)
	resp, err := http.Post(url+"/x", "application/json", strings.NewReader(strings.Repeat("a", 11)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(b), "payload_too_large") {
		t.Errorf("declared oversize: %d %s", resp.StatusCode, b)
	}
	// Chunked: no Content-Length, the cap still applies.
	req, _ := http.NewRequest("POST", url+"/x", io.MultiReader(strings.NewReader(strings.Repeat("a", 20))))
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked oversize: %d", resp.StatusCode)
	}
}
