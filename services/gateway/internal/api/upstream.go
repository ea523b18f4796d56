package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstreamIdleTimeout is how long an idle keep-alive connection to an upstream is kept.
const upstreamIdleTimeout = 60 * time.Second

// upstreamClient is a synchronous HTTP/1.1 client for one upstream (scheme and host)
// with a bounded pool of keep-alive connections. The goroutine that calls RoundTrip
// writes the request and reads the response itself: unlike http.Transport, no reader
// and writer goroutines per connection and no channel hand-offs per exchange, which
// were a fifth of the gateway's CPU on the proxy path.
//
// A connection goes back to the pool only once its response body was read to the end
// and the response allowed keep-alive; a response body closed early closes it. A
// request without a body and with an idempotent method is retried once on a new
// connection when a reused one turns out dead before any byte of a response arrived
// (the upstream closed it while idle). The exchange's deadline (Do's, or RoundTrip's
// request context's) is the connection's, and the context's cancellation breaks the
// connection off.
type upstreamClient struct {
	addr    string // host:port
	tls     *tls.Config
	dialer  net.Dialer
	maxIdle int
	now     func() time.Time

	mu   sync.Mutex
	idle []*upstreamConn // oldest first
}

// upstreamConn is one connection to the upstream.
type upstreamConn struct {
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// newUpstreamClient returns the client of the upstream at scheme ("http" or "https")
// and host (with or without a port). TLS upstreams are verified against the system
// roots, which honour SSL_CERT_FILE.
func newUpstreamClient(scheme, host string, maxIdle int) (*upstreamClient, error) {
	c := &upstreamClient{maxIdle: maxIdle, now: time.Now, dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
	hostname, port, err := net.SplitHostPort(host)
	if err != nil {
		hostname, port = host, ""
	}
	switch scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		c.tls = &tls.Config{ServerName: hostname, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("upstream scheme %q is neither http nor https", scheme)
	}
	c.addr = net.JoinHostPort(hostname, port)
	return c, nil
}

// longAgo is the deadline that breaks a connection off when its request's context is
// cancelled.
var longAgo = time.Unix(1, 0)

// RoundTrip sends r and returns the response with its hop-by-hop headers intact. The
// caller must read the body to the end or close it. The context's deadline, if any,
// bounds the exchange.
func (c *upstreamClient) RoundTrip(r *http.Request) (*http.Response, error) {
	deadline, _ := r.Context().Deadline()
	return c.Do(r, deadline)
}

// Do is RoundTrip with the exchange bounded by deadline (zero: no deadline) rather
// than by the context's: the gateway's proxy path saves a timer and a context per
// request. A dial, a write or a read past the deadline fails with an error that
// errors.Is matches to os.ErrDeadlineExceeded or context.DeadlineExceeded.
func (c *upstreamClient) Do(r *http.Request, deadline time.Time) (*http.Response, error) {
	ctx := r.Context()
	var body *bodyReader
	if r.Body != nil && r.Body != http.NoBody {
		body = &bodyReader{r: r.Body}
		r.Body = body
	}
	retryable := body == nil && idempotent(r.Method)
	for attempt := 0; ; attempt++ {
		uc, reused, err := c.get(ctx, deadline)
		if err != nil {
			return nil, err
		}
		resp, err := c.exchange(ctx, deadline, uc, r, body)
		if err == nil {
			return resp, nil
		}
		if reused && retryable && attempt == 0 && errors.Is(err, errNoResponse) && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// errNoResponse marks a failure before any byte of the response arrived.
var errNoResponse = errors.New("upstream connection failed before any response")

// exchange writes r on uc and reads the response head, by deadline. On error uc is
// closed.
func (c *upstreamClient) exchange(ctx context.Context, deadline time.Time, uc *upstreamConn, r *http.Request, body *bodyReader) (*http.Response, error) {
	// Set on every exchange, zero included, so a pooled connection keeps no stale one.
	if err := uc.conn.SetDeadline(deadline); err != nil {
		_ = uc.conn.Close()
		return nil, fmt.Errorf("upstream %s: %w", c.addr, errors.Join(errNoResponse, err))
	}
	stop := context.AfterFunc(ctx, func() { _ = uc.conn.SetDeadline(longAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = uc.conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream %s: %w (%w)", c.addr, ctx.Err(), err)
		}
		return nil, fmt.Errorf("upstream %s: %w", c.addr, err)
	}
	if err := r.Write(uc.bw); err != nil {
		if body != nil && body.err != nil {
			return fail(body.err)
		}
		return fail(errors.Join(errNoResponse, err))
	}
	if err := uc.bw.Flush(); err != nil {
		return fail(errors.Join(errNoResponse, err))
	}
	if _, err := uc.br.Peek(1); err != nil {
		return fail(errors.Join(errNoResponse, err))
	}
	var resp *http.Response
	for {
		var err error
		if resp, err = http.ReadResponse(uc.br, r); err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 1xx: an interim answer, the final one follows.
	}
	resp.Body = &upstreamBody{c: c, uc: uc, rc: resp.Body, keep: !resp.Close, stop: stop}
	return resp, nil
}

// get returns an idle connection (reused true) or dials a new one by deadline.
func (c *upstreamClient) get(ctx context.Context, deadline time.Time) (uc *upstreamConn, reused bool, err error) {
	now := c.now()
	c.mu.Lock()
	for n := len(c.idle); n > 0; n = len(c.idle) {
		uc = c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		if now.Sub(uc.idleAt) < upstreamIdleTimeout {
			c.mu.Unlock()
			return uc, true, nil
		}
		_ = uc.conn.Close()
	}
	c.mu.Unlock()

	var conn net.Conn
	dialer := c.dialer
	dialer.Deadline = deadline
	if c.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: &dialer, Config: c.tls}).DialContext(ctx, "tcp", c.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return nil, false, fmt.Errorf("dial upstream %s: %w", c.addr, err)
	}
	return &upstreamConn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 16<<10)}, false, nil
}

// put returns uc to the pool, closing it when the pool is full, and closes the
// connections idle for too long. uc keeps its last deadline until its next exchange
// sets one: nobody reads or writes an idle connection.
func (c *upstreamClient) put(uc *upstreamConn) {
	now := c.now()
	uc.idleAt = now
	c.mu.Lock()
	expired := 0
	for expired < len(c.idle) && now.Sub(c.idle[expired].idleAt) >= upstreamIdleTimeout {
		_ = c.idle[expired].conn.Close()
		expired++
	}
	if expired > 0 {
		c.idle = append(c.idle[:0], c.idle[expired:]...)
	}
	if len(c.idle) >= c.maxIdle {
		c.mu.Unlock()
		_ = uc.conn.Close()
		return
	}
	c.idle = append(c.idle, uc)
	c.mu.Unlock()
}

// closeIdle closes every idle connection.
func (c *upstreamClient) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, uc := range idle {
		_ = uc.conn.Close()
	}
}

// upstreamBody is a response body: read to the end of a keep-alive response, its
// connection goes back to the pool; closed before that, its connection is closed.
type upstreamBody struct {
	c    *upstreamClient
	uc   *upstreamConn // nil once released
	rc   io.ReadCloser
	keep bool
	eof  bool
	stop func() bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.uc == nil {
		return 0, errors.New("read on a closed upstream body")
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		b.release()
	} else if err != nil {
		b.keep = false
		b.release()
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if b.uc != nil {
		if b.rc == http.NoBody {
			b.eof = true
		}
		b.release()
	}
	return nil
}

// release hands the connection back or closes it.
func (b *upstreamBody) release() {
	uc := b.uc
	if uc == nil {
		return
	}
	b.uc = nil
	// stop is false when the context was cancelled: the deadline is spoiled.
	if b.stop() && b.eof && b.keep {
		b.c.put(uc)
		return
	}
	_ = uc.conn.Close()
}

// bodyReader remembers the error reading the client's request body, which
// (*http.Request).Write does not let errors.As reach.
type bodyReader struct {
	r   io.ReadCloser
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}
