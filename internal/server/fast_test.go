package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
)

// fakeAnswerer answers GET and HEAD of /hit itself, as a cache would.
type fakeAnswerer struct{ answered atomic.Int64 }

func (a *fakeAnswerer) AnswerFast(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/hit" {
		_, _ = w.Write([]byte("must be discarded"))
		return false
	}
	a.answered.Add(1)
	w.Header().Set("X-Source", "fast")
	w.Header().Set("X-Query", r.URL.RawQuery)
	w.Header().Set("X-Bad", "a\r\nInjected: yes")
	if r.Header.Get("If-None-Match") == `"1"` {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	w.Header().Set("Content-Length", "11")
	_, _ = io.WriteString(w, "from cache\n")
	return true
}

// fastServerFixture runs a Server with the fast path (TLS when tlsPaths is set) whose
// handler says what it saw.
func fastServerFixture(t *testing.T, tlsPaths *devtls.Paths) (addr string, a *fakeAnswerer, cancel context.CancelFunc, done chan error) {
	t.Helper()
	addr, a, cancel, done, _ = fastServerLogs(t, tlsPaths)
	return addr, a, cancel, done
}

// fastServerLogs is fastServerFixture that also returns the server's log.
func fastServerLogs(t *testing.T, tlsPaths *devtls.Paths) (addr string, a *fakeAnswerer, cancel context.CancelFunc, done chan error, logs *logtest.Buffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{MaxBodyBytes: 1 << 20, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 10 * time.Second, ShutdownTimeout: 5 * time.Second}
	if tlsPaths != nil {
		cfg.TLSCertFile, cfg.TLSKeyFile = tlsPaths.Cert, tlsPaths.Key
	}
	a = &fakeAnswerer{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Source", "net/http")
		fmt.Fprintf(w, "%s %s tls=%v body=%q\n", r.Method, r.URL.Path, r.TLS != nil, body)
	})
	logs = &logtest.Buffer{}
	s := New(cfg, logging.New(logs, "info", "test"), h, WithListener(l), WithFastPath(a),
		WithHeaders(http.Header{"X-Content-Type-Options": {"nosniff"}}))
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return l.Addr().String(), a, cancel, done, logs
}

// TestFastPathHandsOff: on one connection, pipelined, the fast path answers the
// requests its Answerer takes, and at the first it does not (or that is not simple)
// hands the connection to net/http, which answers that one and every later one.
func TestFastPathHandsOff(t *testing.T) {
	addr, a, _, _, logs := fastServerLogs(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reqs := "GET /hit?a=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-1\r\n\r\n" +
		"HEAD /hit HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /hit HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"1\"\r\n\r\n" +
		"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /hit HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(c, reqs); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	type answer struct {
		Status int
		Source string
		Body   string
	}
	var got []answer
	for _, method := range []string{"GET", "HEAD", "GET", "POST", "GET"} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("answer %d: %v", len(got)+1, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, answer{resp.StatusCode, resp.Header.Get("X-Source"), string(b)})
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Date") == "" {
			t.Errorf("answer %d lacks the server's headers: %v", len(got), resp.Header)
		}
		switch len(got) {
		case 1:
			if resp.Header.Get("X-Request-Id") != "req-1" || resp.Header.Get("X-Query") != "a=1" || resp.ContentLength != 11 {
				t.Errorf("first answer: %v", resp.Header)
			}
			if resp.Header.Get("X-Bad") != "a  Injected: yes" || resp.Header.Get("Injected") != "" {
				t.Errorf("a header value with a line break was sent as is: %v", resp.Header)
			}
		case 2:
			if resp.ContentLength != 11 {
				t.Errorf("HEAD: Content-Length %d, want the GET's 11", resp.ContentLength)
			}
		}
	}
	want := []answer{
		{200, "fast", "from cache\n"},
		{200, "fast", ""},
		{304, "fast", ""},
		{200, "net/http", "POST /write tls=false body=\"hello\"\n"},
		{200, "net/http", "GET /hit tls=false body=\"\"\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if n := a.answered.Load(); n != 3 {
		t.Errorf("the Answerer answered %d requests, want 3", n)
	}
	// The fast path logs each request as AccessLog does, with its request id.
	if l := logs.String(); !strings.Contains(l, `"method":"GET","path":"/hit","status":200,"bytes":11,`) || !strings.Contains(l, `"requestId":"req-1"`) {
		t.Errorf("no access log line for the fast path's first answer:\n%s", l)
	}
}

// TestFastPathTLS: over TLS, hits are answered on the fast path, and a request handed
// to net/http still sees its TLS state.
func TestFastPathTLS(t *testing.T) {
	paths, err := devtls.Ensure(filepath.Join(t.TempDir(), "tls"))
	if err != nil {
		t.Fatal(err)
	}
	addr, a, _, _ := fastServerFixture(t, &paths)
	pem, _ := os.ReadFile(paths.CACert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxConnsPerHost: 1}}
	base := "https://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	for i, c := range []struct{ path, source, body string }{
		{"/hit", "fast", "from cache\n"},
		{"/hit", "fast", "from cache\n"},
		{"/other", "net/http", "GET /other tls=true body=\"\"\n"},
		{"/hit", "net/http", "GET /hit tls=true body=\"\"\n"},
		{"/healthz", "", "ok\n"},
	} {
		resp, err := client.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Source") != c.source || string(b) != c.body {
			t.Errorf("request %d (%s): source %q body %q, want %q %q", i, c.path, resp.Header.Get("X-Source"), b, c.source, c.body)
		}
	}
	if a.answered.Load() != 2 {
		t.Errorf("answered %d on the fast path, want 2", a.answered.Load())
	}
}

// TestFastPathLeavesToNetHTTP: requests the fast path does not take get net/http's
// answer, malformed ones included.
func TestFastPathLeavesToNetHTTP(t *testing.T) {
	addr, a, _, _ := fastServerFixture(t, nil)
	for _, c := range []struct {
		name, req  string
		wantStatus int
	}{
		{"no host", "GET /hit HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET /hit HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"HTTP/1.0", "GET /hit HTTP/1.0\r\nHost: a\r\n\r\n", 200},
		{"body", "GET /hit HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 200},
		{"chunked", "GET /hit HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200},
		{"both framings", "GET /hit HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200},
		{"obs-fold", "GET /hit HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 200},
		{"space before colon", "GET /hit HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"absolute form", "GET http://a/hit HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"expect", "GET /hit HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 200},
		{"connection close", "GET /hit HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200},
		{"control char in value", "GET /hit HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", 400},
		{"bad host", "GET /hit HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"LF only", "GET /hit HTTP/1.1\nHost: a\n\n", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := a.answered.Load()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, c.req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus || resp.Header.Get("X-Source") == "fast" {
				t.Errorf("%d from %q, want %d from net/http", resp.StatusCode, resp.Header.Get("X-Source"), c.wantStatus)
			}
			if a.answered.Load() != before {
				t.Error("the fast path answered it")
			}
		})
	}
}

// TestFastPathShutdown: idle fast-path connections are closed at shutdown and Run
// returns nil.
func TestFastPathShutdown(t *testing.T) {
	addr, _, cancel, done := fastServerFixture(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /hit HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with an idle fast-path connection open")
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("the idle connection is still open")
	}
}

// FuzzFastParse: whatever request head the fast path's parser takes, net/http reads
// the same way: same method, target, host and headers, and no body.
func FuzzFastParse(f *testing.F) {
	for _, s := range []string{
		"GET /v1/todos?limit=10 HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer abc.def.ghi\r\nAccept: */*\r\n\r\n",
		"HEAD /a%20b/c HTTP/1.1\r\nHost: localhost:8443\r\nIf-None-Match: \"x\"\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: Keep-Alive\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
		"GET //x/../y HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		c := &fastConn{reqHdr: http.Header{}, remote: "192.0.2.1:1234"}
		if !c.parse(head) {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(head))))
		if err != nil {
			t.Fatalf("the fast path took a head net/http refuses (%v):\n%q", err, head)
		}
		got := c.req
		if got.Method != r.Method || got.URL.String() != r.URL.String() || got.URL.Path != r.URL.Path || got.URL.RawQuery != r.URL.RawQuery || got.Host != r.Host || got.RequestURI != r.RequestURI {
			t.Fatalf("read differently:\nfast     %s %s %q %q host %q\nnet/http %s %s %q %q host %q\n%q",
				got.Method, got.URL, got.URL.Path, got.URL.RawQuery, got.Host, r.Method, r.URL, r.URL.Path, r.URL.RawQuery, r.Host, head)
		}
		// net/http moves Host out of the header map.
		want := r.Header.Clone()
		want["Host"] = []string{r.Host}
		if diff := cmp.Diff(want, got.Header); diff != "" {
			t.Fatalf("headers (-net/http +fast):\n%s\n%q", diff, head)
		}
		if r.ContentLength > 0 || len(r.TransferEncoding) > 0 || r.Close {
			t.Fatalf("net/http reads a body or a close the fast path ignored: %q", head)
		}
	})
}

// TestFastPathLongHeads: a head longer than the connection's first buffer is still
// answered on the fast path; one longer than the fast path takes goes to net/http.
func TestFastPathLongHeads(t *testing.T) {
	addr, a, _, _ := fastServerFixture(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, size := range []int{100, 8 << 10, 15 << 10, 20 << 10} {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /hit HTTP/1.1\r\nHost: x\r\nX-Long: %s\r\n\r\n", strings.Repeat("a", size)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
		resp.Body.Close()
		want := "fast"
		if size > fastHeadBytes {
			want = "net/http"
		}
		if got := resp.Header.Get("X-Source"); got != want || resp.StatusCode != 200 {
			t.Errorf("a %d-byte header: %d from %s, want 200 from %s", size, resp.StatusCode, got, want)
		}
	}
	if a.answered.Load() != 3 {
		t.Errorf("answered %d on the fast path, want 3", a.answered.Load())
	}
}
