// Package server runs the project's HTTP servers the way Knative expects them to run:
// listen on $PORT, answer /healthz (alive) and /readyz (ready to take traffic; fails
// while draining), give every request an id, log one JSON line per request, limit
// request bodies, and on context cancellation (SIGTERM) fail readiness, wait for the
// load balancer to notice, then shut down gracefully. HTTPS uses one TLS configuration
// for every service (TLSConfig); a service may answer some requests on a fast path
// that skips net/http's per-request work (WithFastPath).
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
	"github.com/serverless-architect/serverless-architect/internal/version"
)

// Config holds the settings every HTTP service shares. Services embed it in their own
// config struct; the env tags are the variables that set it.
type Config struct {
	// Port is the TCP port to listen on. Knative sets PORT.
	Port int `env:"PORT" envDefault:"8080"`
	// Host is the address to bind; empty means all interfaces.
	Host string `env:"HOST"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// MaxBodyBytes bounds every request body; larger bodies get 413.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES" envDefault:"1048576"`
	// ReadHeaderTimeout bounds the time to read request headers.
	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"5s"`
	// ReadTimeout bounds the time to read a whole request.
	ReadTimeout time.Duration `env:"READ_TIMEOUT" envDefault:"30s"`
	// WriteTimeout bounds the time to write a response.
	WriteTimeout time.Duration `env:"WRITE_TIMEOUT" envDefault:"60s"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `env:"IDLE_TIMEOUT" envDefault:"120s"`
	// DrainDelay is how long /readyz fails after SIGTERM before the listener closes, so
	// load balancers stop sending new requests first.
	DrainDelay time.Duration `env:"DRAIN_DELAY" envDefault:"3s"`
	// ShutdownTimeout bounds how long in-flight requests may take to finish.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	// TLSCertFile and TLSKeyFile, when both set, make the server speak HTTPS.
	TLSCertFile string `env:"TLS_CERT_FILE"`
	TLSKeyFile  string `env:"TLS_KEY_FILE"`
}

// ServerConfig returns c. Through embedding, it gives every service's configuration
// struct access to its server settings (svcmain.Config).
func (c Config) ServerConfig() Config { return c }

// Server is an HTTP server with health endpoints and graceful drain.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	draining atomic.Bool
	ready    func(context.Context) error
	listener net.Listener
	headers  http.Header
	fast     Answerer
}

// Option configures a Server.
type Option func(*Server)

// WithReadiness adds a check to /readyz beyond "not draining". Keep it cheap: it runs
// on every probe.
func WithReadiness(check func(context.Context) error) Option {
	return func(s *Server) { s.ready = check }
}

// WithHeaders sets h on every response, the health endpoints' and every error's
// included (a service's handler may still replace a value). For headers such as
// Strict-Transport-Security that every answer must carry.
func WithHeaders(h http.Header) Option {
	return func(s *Server) { s.headers = h }
}

// WithListener makes the server use l instead of listening on Host:Port (tests).
func WithListener(l net.Listener) Option {
	return func(s *Server) { s.listener = l }
}

// New returns a server for h. h sees requests with a request id in their context and a
// body limited to cfg.MaxBodyBytes.
func New(cfg Config, log *slog.Logger, h http.Handler, opts ...Option) *Server {
	s := &Server{cfg: cfg, log: log, handler: h}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Handler returns the full handler chain: tracing (telemetry.Handler: the server span,
// X-Trace-Id), request ids, access log, then the health
// endpoints (/healthz, /readyz: GET or HEAD) or, for every other path, the body limit
// and the service's handler. Paths reach the service exactly as sent: unlike
// http.ServeMux, nothing redirects a non-canonical path ("//a", "/a/./b") to its
// cleaned form, so each service answers such paths itself, in the error envelope (the
// gateway with 400).
func (s *Server) Handler() http.Handler {
	app := Limit(s.cfg.MaxBodyBytes, s.handler)
	h := RequestID(AccessLog(s.log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var probe func(http.ResponseWriter, *http.Request)
		switch r.URL.Path {
		case "/healthz":
			probe = healthz
		case "/readyz":
			probe = s.readyz
		default:
			app.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apperr.Write(w, apperr.New(apperr.MethodNotAllowed, "%s answers GET and HEAD only", r.URL.Path), logging.RequestID(r.Context()))
			return
		}
		probe(w, r)
	})))
	h = telemetry.Handler(h)
	if len(s.headers) == 0 && s.fast == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		restoreTLS(r)
		wh := w.Header()
		for k, v := range s.headers {
			wh[k] = v
		}
		h.ServeHTTP(w, r)
	})
}

// TLSConfig is the TLS configuration of every HTTPS server of the project: TLS 1.2 and
// 1.3 only, and in TLS 1.2 only forward-secret AEAD suites (ECDHE with AES-GCM or
// ChaCha20-Poly1305). The CBC suites with SHA-1 MACs that Go still enables by default
// are left out: they are what scanners flag (Lucky13-style padding oracles), and every
// client of the last decade has an AEAD suite. TLS 1.3's suites are all AEAD and not
// configurable.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Draining reports whether the server has begun its shutdown.
func (s *Server) Draining() bool { return s.draining.Load() }

// Run serves until ctx ends, then drains and shuts down. It returns nil after a clean
// shutdown.
func (s *Server) Run(ctx context.Context) error {
	l := s.listener
	if l == nil {
		var err error
		l, err = net.Listen("tcp", net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)))
		if err != nil {
			return fmt.Errorf("listen on port %d: %w", s.cfg.Port, err)
		}
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	scheme := "http"
	var tlsCfg *tls.Config
	if s.cfg.TLSCertFile != "" && s.cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			_ = l.Close()
			return fmt.Errorf("load TLS certificate %s: %w", s.cfg.TLSCertFile, err)
		}
		tlsCfg = TLSConfig(cert)
		scheme = "https"
	}

	errc := make(chan error, 1)
	fastErr := make(chan error, 1)
	var fast *fastServer
	if s.fast != nil {
		// The fast path reads every connection first (TLS included) and hands
		// net/http those it does not serve itself.
		fast = &fastServer{s: s, tls: tlsCfg, handOff: newHandOffListener(l.Addr()), ctx: context.WithoutCancel(ctx), conns: map[*fastConn]bool{}}
		hs.ConnContext = connContext
		go func() { fastErr <- fast.serve(l) }()
		go func() { errc <- hs.Serve(fast.handOff) }()
	} else {
		if tlsCfg != nil {
			hs.TLSConfig = tlsCfg
			l = tls.NewListener(l, tlsCfg)
		}
		go func() { errc <- hs.Serve(l) }()
	}
	s.log.Info("listening", "addr", scheme+"://"+l.Addr().String(), "version", version.Version, "commit", version.Commit, "fastPath", fast != nil)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-fastErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.log.Info("draining", "delay", s.cfg.DrainDelay.String())
	if s.cfg.DrainDelay > 0 {
		select {
		case <-time.After(s.cfg.DrainDelay):
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if fast != nil {
		_ = l.Close()
		<-fastErr //nolint:errcheck // the accept loop's error: the listener closed just above, as intended
		if err := fast.shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("stopped")
	return nil
}

// RequestIDHeader is the header that carries the request id in and out.
const RequestIDHeader = "X-Request-Id"

// RequestID takes a valid X-Request-Id from the request or makes one, puts it in the
// request's context and on the response.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !logging.ValidRequestID(id) {
			id = logging.NewRequestID()
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

// Limit refuses bodies declared larger than max with 413 and caps the rest, so a
// handler reading past max gets an *http.MaxBytesError.
func Limit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if max > 0 {
			if r.ContentLength > max {
				apperr.Write(w, apperr.New(apperr.TooLarge, "request body is %d bytes; the limit is %d", r.ContentLength, max), logging.RequestID(r.Context()))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// AccessLog logs one line per request, after it completes. Probe requests are logged
// at debug level only.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		switch {
		case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
			level = slog.LevelDebug
		case rec.status >= 500:
			level = slog.LevelError
		}
		log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
