package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer accepts connections and answers each request read on them with answer,
// conn numbering the connections from 1 and n the requests on one from 0; with
// hangUp true it closes the connection after the answer, and then sends on closed.
// It counts the connections accepted.
type rawServer struct {
	ln     net.Listener
	conns  atomic.Int32
	closed chan int32
}

func newRawServer(t *testing.T, answer func(conn int32, n int) (resp string, hangUp bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, closed: make(chan int32, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			id := s.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					a, hangUp := answer(id, n)
					if _, err := io.WriteString(c, a); err != nil {
						return
					}
					if hangUp {
						c.Close()
						s.closed <- id
						return
					}
				}
			}()
		}
	}()
	return s
}

func testClient(t *testing.T, addr string) *upstreamClient {
	t.Helper()
	c, err := newUpstreamClient("http", addr, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.closeIdle)
	return c
}

// call sends one request and reads the whole answer.
func call(ctx context.Context, c *upstreamClient, method, addr string, body io.Reader) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+"/x", body)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestUpstreamClientStaleConnection(t *testing.T) {
	tests := []struct {
		method    string
		body      io.Reader
		wantErr   bool
		wantConns int32
	}{
		{method: "GET", wantConns: 2},
		{method: "HEAD", wantConns: 2},
		{method: "POST", body: strings.NewReader("data"), wantErr: true, wantConns: 1},
		{method: "PUT", body: strings.NewReader("data"), wantErr: true, wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			// The first connection answers once with keep-alive, then the server
			// closes it, as it would an idle connection.
			s := newRawServer(t, func(conn int32, n int) (string, bool) { return okAnswer, conn == 1 })
			addr := s.ln.Addr().String()
			c := testClient(t, addr)
			if code, _, err := call(context.Background(), c, "GET", addr, nil); err != nil || code != 200 {
				t.Fatalf("first request: %d %v", code, err)
			}
			if len(c.idle) != 1 {
				t.Fatalf("idle connections after a keep-alive answer: %d, want 1", len(c.idle))
			}
			<-s.closed
			code, _, err := call(context.Background(), c, tt.method, addr, tt.body)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("second %s: status %d err %v, want error %v", tt.method, code, err, tt.wantErr)
			}
			if got := s.conns.Load(); got != tt.wantConns {
				t.Errorf("connections: %d, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestUpstreamClientReuse(t *testing.T) {
	tests := []struct {
		name      string
		answer    string
		hangUp    bool
		readBody  bool
		wantConns int32
	}{
		{name: "keep-alive, body read", answer: okAnswer, readBody: true, wantConns: 1},
		{name: "keep-alive, body unread", answer: okAnswer, readBody: false, wantConns: 3},
		{name: "Connection: close", answer: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", readBody: true, wantConns: 3},
		{name: "HTTP/1.0", answer: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", readBody: true, wantConns: 3},
		// The body ends when the server closes the connection.
		{name: "no framing", answer: "HTTP/1.1 200 OK\r\n\r\nok", hangUp: true, readBody: true, wantConns: 3},
		{name: "chunked", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", readBody: true, wantConns: 1},
		{name: "no body", answer: "HTTP/1.1 204 No Content\r\n\r\n", readBody: false, wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The server keeps every connection open whatever it answered, so only
			// the client decides whether to reuse one.
			s := newRawServer(t, func(int32, int) (string, bool) { return tt.answer, tt.hangUp })
			addr := s.ln.Addr().String()
			c := testClient(t, addr)
			for i := range 3 {
				req, _ := http.NewRequest("GET", "http://"+addr+"/x", nil)
				resp, err := c.RoundTrip(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if tt.readBody {
					if b, err := io.ReadAll(resp.Body); err != nil || (resp.StatusCode == 200 && string(b) != "ok") {
						t.Fatalf("request %d: body %q, %v", i, b, err)
					}
				}
				resp.Body.Close()
				wantIdle := 0
				if tt.wantConns == 1 {
					wantIdle = 1
				}
				if len(c.idle) != wantIdle {
					t.Errorf("request %d: %d idle connections, want %d", i, len(c.idle), wantIdle)
				}
			}
			if got := s.conns.Load(); got != tt.wantConns {
				t.Errorf("connections: %d, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestUpstreamClientTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		}
		<-release
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	addr := strings.TrimPrefix(up.URL, "http://")
	c := testClient(t, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := call(ctx, c, "GET", addr, nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow head: err %v, want a deadline error", err)
	}
	// The bound is loose for a loaded machine: the server never answers.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("slow head failed after %s, want about 200ms", took)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", up.URL+"/slow-body", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("slow body: err %v, want a deadline error", err)
	}
	if len(c.idle) != 0 {
		t.Errorf("a connection whose body timed out went back to the pool")
	}

	// Cancelling the context breaks a waiting exchange off at once.
	ctx, cancelNow := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancelNow)
	start = time.Now()
	if _, _, err := call(ctx, c, "GET", addr, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cancelled exchange ended after %s, want about 100ms", took)
	}
}

func TestUpstreamClientStreams(t *testing.T) {
	const size = 64 << 20
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v %d", n, err, r.ContentLength)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, _ = io.CopyN(w, zeros{}, size)
	}))
	t.Cleanup(up.Close)
	addr := strings.TrimPrefix(up.URL, "http://")
	c := testClient(t, addr)

	// Unknown length: sent chunked, never held whole.
	code, body, err := call(context.Background(), c, "POST", addr, io.LimitReader(zeros{}, size))
	if err != nil || code != 200 || body != fmt.Sprintf("%d <nil> -1", size) {
		t.Errorf("upload: %d %q %v", code, body, err)
	}
	req, _ := http.NewRequest("GET", up.URL, nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != size || err != nil {
		t.Errorf("download: %d bytes, %v", n, err)
	}
	if len(c.idle) != 1 {
		t.Errorf("idle connections after two full exchanges: %d, want 1", len(c.idle))
	}
}

func TestUpstreamClientDialFailure(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := testClient(t, addr)
	if _, _, err := call(context.Background(), c, "GET", addr, nil); err == nil {
		t.Error("a closed port answered")
	}
	if _, err := newUpstreamClient("ftp", "h", 1); err == nil {
		t.Error("ftp upstream accepted")
	}
	u, _ := url.Parse("https://example.test")
	c, err := newUpstreamClient(u.Scheme, u.Host, 1)
	if err != nil || c.addr != "example.test:443" || c.tls == nil || c.tls.ServerName != "example.test" {
		t.Errorf("https upstream: %+v %v", c, err)
	}
}

// A pooled connection keeps the deadline of its last exchange until the next exchange
// sets its own: an exchange long after that deadline, and one without any, still work
// on the same connection.
func TestUpstreamClientDeadlinePerExchange(t *testing.T) {
	s := newRawServer(t, func(int32, int) (string, bool) { return okAnswer, false })
	addr := s.ln.Addr().String()
	c := testClient(t, addr)
	do := func(deadline time.Time) error {
		req, _ := http.NewRequest("GET", "http://"+addr+"/x", nil)
		resp, err := c.Do(req, deadline)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
			return fmt.Errorf("body %q, %v", b, err)
		}
		return nil
	}
	// Each deadline leaves a loaded machine time for the exchange; the sleeps outlast it.
	first := time.Now().Add(time.Second)
	if err := do(first); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	time.Sleep(time.Until(first) + 50*time.Millisecond) // the first deadline has passed
	second := time.Now().Add(time.Second)
	if err := do(second); err != nil {
		t.Errorf("exchange after the previous deadline passed: %v", err)
	}
	time.Sleep(time.Until(second) + 50*time.Millisecond) // and so has the second
	if err := do(time.Time{}); err != nil {
		t.Errorf("exchange without a deadline: %v", err)
	}
	if got := s.conns.Load(); got != 1 {
		t.Errorf("connections: %d, want 1 (each exchange reused the pooled one)", got)
	}
}

// Do's deadline bounds the whole exchange, with no deadline on the context.
func TestUpstreamClientDoDeadline(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	c := testClient(t, strings.TrimPrefix(up.URL, "http://"))
	req, _ := http.NewRequest("GET", up.URL+"/slow", nil)
	start := time.Now()
	_, err := c.Do(req, start.Add(150*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failed after %s, want about 150ms", took)
	}
}
