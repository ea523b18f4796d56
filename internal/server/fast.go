package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
)

// Answerer answers some requests on the server's fast path (WithFastPath).
type Answerer interface {
	// AnswerFast either writes the whole answer to r through w and reports true, or
	// reports false: r then goes through net/http and the server's handler like any
	// request. What w received when AnswerFast reports false is discarded.
	AnswerFast(w http.ResponseWriter, r *http.Request) bool
}

// WithFastPath makes the server read requests from its connections itself, offer the
// simple ones to a, and hand the connection to net/http at the first request a does
// not answer or that is not simple: that request (its bytes replayed) and every later
// one on the connection then take the ordinary path.
//
// A simple request is an HTTP/1.1 GET or HEAD in origin form, without a body, a
// Connection other than keep-alive, Expect or Upgrade, with exactly one valid Host, a
// head of at most fastHeadBytes and headers net/http would accept as they are. This is
// what serves a cache hit without net/http's per-request work (a request context, a
// goroutine that watches the connection, the response plumbing): the hit path is
// measured against nginx in test/bench. Everything net/http does about bodies, framing,
// 100-continue, Expect, upgrades, HTTP/1.0 and malformed input stays with net/http.
func WithFastPath(a Answerer) Option {
	return func(s *Server) { s.fast = a }
}

// fastHeadBytes bounds a request head on the fast path; a longer one goes to net/http
// (which allows 1 MiB). A connection's buffer starts at fastBufBytes (a request with a
// Cognito token fits) and grows to fastHeadBytes only for a longer head, so that idle
// keep-alive connections cost about what net/http's do.
const (
	fastHeadBytes = 16 << 10
	fastBufBytes  = 4 << 10
)

// fastMaxHeaders bounds the header lines of a request on the fast path.
const fastMaxHeaders = 100

// tlsStateKey carries, in the context of a connection handed to net/http, the TLS
// state net/http cannot see through the wrapper (Request.TLS is restored from it).
type tlsStateKey struct{}

// Memo is a place an Answerer may keep what holds for every request of one connection
// (such as the identity of the token it verified last), between them.
type Memo struct {
	// Value is the Answerer's; nil at first.
	Value any
}

type memoKey struct{}

// ConnMemo returns the memo of the connection r came on when it is served on the fast
// path, else nil. The requests of one connection are served one at a time.
func ConnMemo(r *http.Request) *Memo {
	m, _ := r.Context().Value(memoKey{}).(*Memo)
	return m
}

// fastServer runs the fast path of one Server.
type fastServer struct {
	s       *Server
	tls     *tls.Config
	handOff *handOffListener
	ctx     context.Context

	mu      sync.Mutex
	conns   map[*fastConn]bool // true while the connection waits for a request
	closing bool
	wg      sync.WaitGroup
}

// serve accepts connections from l until it is closed.
func (f *fastServer) serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		fc := &fastConn{f: f, raw: c}
		if !f.track(fc, true) {
			_ = c.Close()
			continue
		}
		f.wg.Add(1)
		go fc.serve()
	}
}

// track adds fc (idle or not), or reports false while closing.
func (f *fastServer) track(fc *fastConn, idle bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.conns[fc] = idle
	return true
}

// setIdle records whether fc waits for a request; it reports false when the server is
// closing and an idle connection should go.
func (f *fastServer) setIdle(fc *fastConn, idle bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[fc] = idle
	return !(idle && f.closing)
}

func (f *fastServer) forget(fc *fastConn) {
	f.mu.Lock()
	delete(f.conns, fc)
	f.mu.Unlock()
	f.wg.Done()
}

// shutdown closes the idle connections, lets the others finish the answer they are
// writing, and waits for them until ctx ends.
func (f *fastServer) shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.closing = true
	for fc, idle := range f.conns {
		if idle {
			_ = fc.conn().SetReadDeadline(time.Now()) // wakes its read; it sees closing
		}
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fastConn is one connection on the fast path.
type fastConn struct {
	f   *fastServer
	raw net.Conn
	tc  *tls.Conn // nil for plain HTTP
	c   net.Conn  // tc or raw

	buf        []byte
	start, end int // the unparsed bytes are buf[start:end]

	req    http.Request
	url    url.URL
	reqHdr http.Header
	w      fastWriter
	remote string
	state  tls.ConnectionState
}

func (c *fastConn) conn() net.Conn {
	if c.c != nil {
		return c.c
	}
	return c.raw
}

// serve answers the connection's requests until one goes to net/http, the peer goes
// away, or the server closes.
func (c *fastConn) serve() {
	handedOff := false
	defer func() {
		if !handedOff {
			_ = c.conn().Close()
		}
		c.f.forget(c)
	}()
	cfg := c.f.s.cfg
	c.c = c.raw
	if c.f.tls != nil {
		c.tc = tls.Server(c.c, c.f.tls)
		c.c = c.tc
		_ = c.raw.SetDeadline(time.Now().Add(max(cfg.ReadHeaderTimeout, time.Second)))
		if err := c.tc.HandshakeContext(c.f.ctx); err != nil {
			c.f.s.log.Debug("TLS handshake failed", "remote", c.raw.RemoteAddr().String(), "err", err)
			return
		}
		_ = c.raw.SetDeadline(time.Time{})
		c.state = c.tc.ConnectionState()
		c.req.TLS = &c.state
	}
	c.remote = c.raw.RemoteAddr().String()
	c.buf = make([]byte, fastBufBytes)
	c.reqHdr = make(http.Header, 8)
	c.w.hdr = make(http.Header, 16)
	c.req = http.Request{TLS: c.req.TLS}
	base := context.WithValue(c.f.ctx, memoKey{}, &Memo{})
	if c.req.TLS != nil {
		base = context.WithValue(base, tlsStateKey{}, &c.state)
	}
	c.req = *c.req.WithContext(base)
	for {
		end, ok := c.readHead()
		if !ok {
			return
		}
		if end < 0 || !c.parse(c.buf[c.start:end]) || !c.answer() {
			handedOff = c.handOff()
			return
		}
		c.start = end
		if c.start == c.end {
			c.start, c.end = 0, 0
			if err := c.w.flush(c.c, cfg.WriteTimeout); err != nil {
				return
			}
		} else if headEnd(c.buf[c.start:c.end]) >= 0 {
			continue // a pipelined request is already here: answer it before flushing
		} else if err := c.w.flush(c.c, cfg.WriteTimeout); err != nil {
			return
		}
	}
}

// headEnd returns the index after the blank line that ends the request head in b, or
// -1. A head with bare LF line ends is found too (net/http accepts them; parse leaves
// them to it).
func headEnd(b []byte) int {
	i, j := bytes.Index(b, lflf), bytes.Index(b, lfcrlf)
	switch {
	case i < 0 && j < 0:
		return -1
	case j < 0 || (i >= 0 && i < j):
		return i + len(lflf)
	default:
		return j + len(lfcrlf)
	}
}

var (
	lflf   = []byte("\n\n")
	lfcrlf = []byte("\n\r\n")
)

// readHead reads until buf[start:] holds a whole request head and returns the index
// after it; -1 when the head is longer than the fast path takes. ok is false when the
// connection ended (or the server is closing and the connection was idle).
func (c *fastConn) readHead() (end int, ok bool) {
	cfg := c.f.s.cfg
	for {
		if i := headEnd(c.buf[c.start:c.end]); i >= 0 {
			return c.start + i, true
		}
		if c.end-c.start == len(c.buf) {
			if len(c.buf) >= fastHeadBytes {
				return -1, true
			}
			c.buf = append(c.buf, make([]byte, fastHeadBytes-len(c.buf))...)
		}
		if c.end == len(c.buf) { // room at the front only
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		idle := c.start == c.end
		if !c.f.setIdle(c, idle) {
			return 0, false // closing
		}
		timeout := cfg.ReadHeaderTimeout
		if idle && cfg.IdleTimeout > 0 {
			timeout = cfg.IdleTimeout
		}
		if timeout > 0 {
			_ = c.c.SetReadDeadline(time.Now().Add(timeout))
		}
		n, err := c.c.Read(c.buf[c.end:])
		c.end += n
		c.f.setIdle(c, false)
		if err != nil {
			if c.end > c.start && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				// A half-read head that timed out: net/http answers that (408 or 400).
				return -1, true
			}
			return 0, false
		}
	}
}

// parse reads a request head into c.req, reporting false for anything that is not a
// simple request (see WithFastPath).
func (c *fastConn) parse(head []byte) bool {
	line, rest, ok := bytes.Cut(head, crlf)
	if !ok {
		return false
	}
	var method string
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		method, line = http.MethodGet, line[4:]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		method, line = http.MethodHead, line[5:]
	default:
		return false
	}
	target, proto, ok := bytes.Cut(line, []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return false
	}
	for _, b := range target {
		if b <= ' ' || b >= 0x7f || b == '#' {
			return false
		}
	}
	clear(c.reqHdr)
	hosts := 0
	for lines := 0; ; lines++ {
		line, rest, ok = bytes.Cut(rest, crlf)
		if !ok || lines > fastMaxHeaders {
			return false
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name := string(line[:colon]) // textproto keeps common names without allocating
		if !httpguts.ValidHeaderFieldName(name) {
			return false
		}
		value := string(bytes.Trim(line[colon+1:], " \t"))
		if !httpguts.ValidHeaderFieldValue(value) {
			return false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			hosts++
			if !httpguts.ValidHostHeader(value) {
				return false
			}
		case "Content-Length":
			if value != "0" {
				return false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return false
		case "Connection":
			if !httpguts.HeaderValuesContainsToken([]string{value}, "keep-alive") || len(value) != len("keep-alive") {
				return false
			}
		}
		c.reqHdr[key] = append(c.reqHdr[key], value)
	}
	if hosts != 1 {
		return false
	}
	raw := string(target)
	u, err := url.ParseRequestURI(raw)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return false
	}
	c.url = *u
	r := &c.req
	r.Method = method
	r.URL = &c.url
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = c.reqHdr
	r.Host = c.reqHdr["Host"][0]
	r.RequestURI = raw
	r.RemoteAddr = c.remote
	r.Body = http.NoBody
	r.ContentLength = 0
	r.Close = false
	return true
}

var crlf = []byte("\r\n")

// answer offers the parsed request to the Answerer, with the server's own headers and
// the request id set; it reports whether the Answerer answered.
func (c *fastConn) answer() bool {
	s := c.f.s
	if c.req.URL.Path == "/healthz" || c.req.URL.Path == "/readyz" {
		return false
	}
	started := time.Now()
	w := &c.w
	w.reset(c.req.Method == http.MethodHead)
	for k, v := range s.headers {
		w.hdr[k] = v
	}
	id := ""
	if v := c.reqHdr[RequestIDHeader]; len(v) == 1 && logging.ValidRequestID(v[0]) {
		id = v[0]
	} else {
		id = logging.NewRequestID()
	}
	w.hdr[RequestIDHeader] = []string{id}
	if !s.fast.AnswerFast(w, &c.req) {
		return false
	}
	telemetry.Answered(&c.req, w.hdr, started, w.status)
	w.compose()
	if s.log.Enabled(c.f.ctx, slog.LevelInfo) {
		s.log.LogAttrs(logging.WithRequestID(c.f.ctx, id), slog.LevelInfo, "request",
			slog.String("method", c.req.Method),
			slog.String("path", c.req.URL.Path),
			slog.Int("status", w.status),
			slog.Int64("bytes", int64(w.sent)),
			slog.Duration("duration", time.Since(started)),
			slog.String("remote", c.remote),
		)
	}
	return true
}

// handOff gives the connection, with the bytes not yet parsed, to net/http; it reports
// whether net/http took it.
func (c *fastConn) handOff() bool {
	if err := c.w.flush(c.c, c.f.s.cfg.WriteTimeout); err != nil {
		return false
	}
	_ = c.c.SetDeadline(time.Time{})
	rc := &replayConn{Conn: c.c, pending: bytes.Clone(c.buf[c.start:c.end])}
	if c.tc != nil {
		rc.state = &c.state
	}
	return c.f.handOff.give(rc)
}

// fastWriter is the ResponseWriter of the fast path: it holds the whole answer and
// writes it, framed with Content-Length, when the Answerer is done.
type fastWriter struct {
	hdr         http.Header
	status      int
	wroteHeader bool
	head        bool // a HEAD request: no body goes out
	body        []byte
	out         []byte // answers composed and not yet flushed
	sent        int    // body bytes of the last answer
}

func (w *fastWriter) reset(head bool) {
	clear(w.hdr)
	w.status, w.wroteHeader, w.head, w.body, w.sent = http.StatusOK, false, head, w.body[:0], 0
}

// Header returns the answer's header.
func (w *fastWriter) Header() http.Header { return w.hdr }

// WriteHeader sets the status (once; informational statuses are not supported here and
// ignored).
func (w *fastWriter) WriteHeader(code int) {
	if w.wroteHeader || code < 200 {
		return
	}
	w.status, w.wroteHeader = code, true
}

// Write adds to the body.
func (w *fastWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if !w.head && bodyAllowed(w.status) {
		w.body = append(w.body, p...)
	}
	return len(p), nil
}

// bodyAllowed reports whether a status may carry a body (RFC 9110 §6.4.1).
func bodyAllowed(code int) bool {
	return code != http.StatusNoContent && code != http.StatusNotModified && code >= 200
}

// dateCache holds the formatted Date of the current second.
var dateCache struct {
	sync.Mutex
	sec int64
	val []byte
}

func appendDate(b []byte, now time.Time) []byte {
	dateCache.Lock()
	defer dateCache.Unlock()
	if sec := now.Unix(); sec != dateCache.sec || dateCache.val == nil {
		dateCache.sec = sec
		dateCache.val = now.UTC().AppendFormat(dateCache.val[:0], http.TimeFormat)
	}
	return append(b, dateCache.val...)
}

// compose appends the answer (status line, headers, body) to w.out, as net/http would
// frame it: Content-Length from the body unless the Answerer set it (HEAD), a Date,
// a sniffed Content-Type for a body without one, header values with line breaks
// turned to spaces, invalid names dropped.
func (w *fastWriter) compose() {
	h := w.hdr
	if bodyAllowed(w.status) {
		if !w.head || h["Content-Length"] == nil {
			h["Content-Length"] = []string{strconv.Itoa(len(w.body))}
		}
		if h["Content-Type"] == nil && len(w.body) > 0 && h["Content-Encoding"] == nil {
			h["Content-Type"] = []string{http.DetectContentType(w.body)}
		}
	} else {
		delete(h, "Content-Length")
	}
	w.out = append(w.out, "HTTP/1.1 "...)
	w.out = strconv.AppendInt(w.out, int64(w.status), 10)
	w.out = append(w.out, ' ')
	w.out = append(w.out, http.StatusText(w.status)...)
	w.out = append(w.out, "\r\n"...)
	if h["Date"] == nil {
		w.out = append(w.out, "Date: "...)
		w.out = appendDate(w.out, time.Now())
		w.out = append(w.out, "\r\n"...)
	}
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			w.out = append(w.out, k...)
			w.out = append(w.out, ": "...)
			for i := 0; i < len(v); i++ {
				if b := v[i]; b == '\r' || b == '\n' {
					w.out = append(w.out, ' ')
				} else {
					w.out = append(w.out, b)
				}
			}
			w.out = append(w.out, "\r\n"...)
		}
	}
	w.out = append(w.out, "\r\n"...)
	w.out = append(w.out, w.body...)
	w.sent = len(w.body) // the body's bytes, as AccessLog counts them
}

// flush writes the composed answers.
func (w *fastWriter) flush(c net.Conn, timeout time.Duration) error {
	if len(w.out) == 0 {
		return nil
	}
	if timeout > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, err := c.Write(w.out)
	w.out = w.out[:0]
	return err
}

// replayConn is a connection handed to net/http: its reads return the bytes the fast
// path had read but not used before the connection's own.
type replayConn struct {
	net.Conn
	pending []byte
	state   *tls.ConnectionState
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handOffListener is the listener net/http serves the handed-off connections from.
type handOffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandOffListener(addr net.Addr) *handOffListener {
	return &handOffListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// give passes c to net/http; it reports false (c closed) once the listener is closed.
func (l *handOffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		_ = c.Close()
		return false
	}
}

// Accept returns the next connection handed off.
func (l *handOffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener.
func (l *handOffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the address clients connected to.
func (l *handOffListener) Addr() net.Addr { return l.addr }

// connContext gives a handed-off TLS connection's requests their TLS state.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*replayConn); ok && rc.state != nil {
		return context.WithValue(ctx, tlsStateKey{}, rc.state)
	}
	return ctx
}

// restoreTLS sets r.TLS for a request that came on a handed-off TLS connection.
func restoreTLS(r *http.Request) {
	if r.TLS == nil {
		if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
			r.TLS = st
		}
	}
}
