package devstack

// Scale to zero (Options.ScaleToZero, `sa dev --scale-to-zero`), as Knative does it:
// the services whose Knative Service in config/ has min-scale 0 (todo-api, blog-api,
// welcome-mailer, thumbnailer) are each fronted by an activator in this process, which
// holds the service's port (its URL does not change) while the service listens on an
// inner loopback port. The activator proxies each request to the service; when the
// service has had no request for Options.Idle it is stopped; the next request starts
// it again and is held, as are the requests that come meanwhile, until the service
// answers /readyz, then proxied. A start that fails, or takes longer than
// Options.ReadyTimeout, answers 503 with Retry-After. The gateway (min-scale 1 in its
// manifest: API Gateway, which it stands in for, is always on, and a cold start
// there would be paid by every client), the sources (Deployments that poll, with
// nothing to wake them), the edges (CloudFront) and moto stay up. Each cold start's
// time (process start to ready) is recorded for `sa status` and in sa dev's own
// histogram sa_dev_cold_start_seconds{service} (metrics.go).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// minScaleAnnotation is Knative's per-revision minimum number of pods.
const minScaleAnnotation = "autoscaling.knative.dev/min-scale"

// ScalesToZero reads the Knative Services of the manifests in <sourceDir>/config and
// returns the names of those that may scale to zero: min-scale "0", or none set
// (Knative's default is 0). A Service whose min-scale does not parse is an error.
func ScalesToZero(sourceDir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(sourceDir, "config", "*.yaml"))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var doc struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
				Spec struct {
					Template struct {
						Metadata struct {
							Annotations map[string]string `yaml:"annotations"`
						} `yaml:"metadata"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if doc.Kind != "Service" || !strings.HasPrefix(doc.APIVersion, "serving.knative.dev/") {
				continue
			}
			min := doc.Spec.Template.Metadata.Annotations[minScaleAnnotation]
			n, err := strconv.Atoi(min)
			if min != "" && err != nil {
				return nil, fmt.Errorf("%s: Service %s: %s %q is not a number", f, doc.Metadata.Name, minScaleAnnotation, min)
			}
			names[doc.Metadata.Name] = n == 0
		}
	}
	return names, nil
}

// activator fronts one service that scales to zero.
type activator struct {
	s     *stackRun
	name  string
	inner string // the service's own URL, on its inner port
	srv   *http.Server
	proxy *httputil.ReverseProxy
	ready *http.Client // trusts the stack's CA

	mu       sync.Mutex
	inflight int
	lastDone time.Time
	starting chan struct{} // closed when the cold start under way ends
	startErr error         // of the last cold start
}

// startScaled starts the service name (bin, with env for the inner port) behind an
// activator listening on port, and returns the process.
func (s *stackRun) startScaled(name, bin string, port int, env func(port int) []string, certs devtls.Paths) (*child, error) {
	innerPort, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: a port for the service behind its activator: %w", name, err)
	}
	cert, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		return nil, fmt.Errorf("activator of %s: load the certificate: %w", name, err)
	}
	pem, err := os.ReadFile(certs.CACert)
	if err != nil {
		return nil, fmt.Errorf("activator of %s: read CA: %w", name, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("activator of %s: %s holds no certificate", name, certs.CACert)
	}
	inner := "https://localhost:" + strconv.Itoa(innerPort)
	target, _ := url.Parse(inner)
	a := &activator{s: s, name: name, inner: inner, lastDone: time.Now(),
		ready: &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
	a.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
		ErrorLog:  slog.NewLogLogger(slog.NewTextHandler(prefixed(s.con, "activator | "), nil), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.con.Printf("activator | %s %s to %s: %v", r.Method, r.URL.Path, name, err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("%s could not be reached behind its activator: %v", name, err), http.StatusBadGateway)
		},
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("activator of %s: listen on port %d: %w", name, port, err)
	}
	// A connection closed before its TLS handshake (a port probe) is no news.
	quiet := &handshakeFilter{w: prefixed(s.con, "activator | ")}
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second, TLSConfig: server.TLSConfig(cert), ErrorLog: log.New(quiet, "", 0)}
	c, err := s.start(name, bin, nil, env(innerPort), s.o.SourceDir)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	go func() {
		if err := a.srv.Serve(tls.NewListener(l, a.srv.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.con.Printf("activator | %s: %v", name, err)
		}
	}()
	s.mu.Lock()
	s.activators = append(s.activators, a)
	s.supervisedLocked(name).scales = true
	s.mu.Unlock()
	go a.scaleDown()
	return c, nil
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ServeHTTP holds the request until the service runs (starting it if it is scaled to
// zero), then proxies it. Probes (/readyz, /healthz: sa status, a developer's curl)
// neither start the service nor keep it up: while it runs they are proxied, while it
// is scaled to zero the activator answers them, as Knative's probes never reach the
// activator.
func (a *activator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" || r.URL.Path == "/healthz" {
		if a.s.current(a.name) != nil {
			a.proxy.ServeHTTP(w, r)
			return
		}
		fmt.Fprintf(w, "%s is scaled to zero; the next request starts it\n", a.name)
		return
	}
	a.mu.Lock()
	a.inflight++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.inflight--
		a.lastDone = time.Now()
		a.mu.Unlock()
	}()
	if err := a.ensure(r.Context()); err != nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("%s was scaled to zero and could not be started for this request: %v; see %s", a.name, err,
			filepath.Join(a.s.o.Dir, LogsDir, a.name+".log")), http.StatusServiceUnavailable)
		return
	}
	a.proxy.ServeHTTP(w, r)
}

// ensure returns once the service runs: at once when it does, else after the cold
// start that this call or a concurrent one began (one start for them all).
func (a *activator) ensure(ctx context.Context) error {
	a.mu.Lock()
	if a.s.current(a.name) != nil && a.starting == nil {
		a.mu.Unlock()
		return nil
	}
	if a.starting == nil {
		a.starting = make(chan struct{})
		go a.coldStart(a.starting)
	}
	done := a.starting
	a.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.startErr
}

// coldStart starts the service and waits until it is ready, then closes done.
func (a *activator) coldStart(done chan struct{}) {
	s := a.s
	began := time.Now()
	err := func() error {
		s.mu.Lock()
		old := s.lastChild(a.name)
		s.mu.Unlock()
		if old == nil {
			return errors.New("it was never started")
		}
		c, err := s.respawn(old)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.replaceLocked(old, c)
		s.mu.Unlock()
		deadline := time.Now().Add(s.o.ReadyTimeout)
		for !answersReady(context.Background(), a.ready, a.inner) {
			if c.exited() {
				return fmt.Errorf("it exited while starting: %s", c.exitStatus())
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("it did not answer %s/readyz within %s", a.inner, s.o.ReadyTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}()
	took := time.Since(began)
	s.mu.Lock()
	sv := s.supervisedLocked(a.name)
	if err == nil {
		sv.coldStarts++
		sv.lastColdStart = took
		s.observeColdStart(a.name, took)
	} else {
		sv.lastError = "cold start: " + err.Error()
	}
	s.writeStatusLocked()
	s.mu.Unlock()
	if err == nil {
		s.con.Printf("%s started on a request after being scaled to zero: ready in %s (cold start %d)", a.name, took.Round(time.Millisecond), sv.coldStarts)
	} else {
		s.con.Printf("!!! %s could not be started on a request: %v", a.name, err)
	}
	a.mu.Lock()
	a.startErr = err
	a.starting = nil
	a.lastDone = time.Now()
	a.mu.Unlock()
	close(done)
}

// scaleDown stops the service once it has had no request for Options.Idle, until the
// stack stops.
func (a *activator) scaleDown() {
	s := a.s
	tick := time.NewTicker(max(min(s.o.Idle/4, time.Second), 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
		}
		a.mu.Lock()
		c := s.current(a.name)
		if c == nil || a.inflight > 0 || a.starting != nil || time.Since(a.lastDone) < s.o.Idle {
			a.mu.Unlock()
			continue
		}
		// Held while it stops: a request that comes meanwhile waits, then starts it.
		c.stop(s.o.StopTimeout)
		a.mu.Unlock()
		s.mu.Lock()
		s.writeStatusLocked()
		s.mu.Unlock()
		s.con.Printf("%s scaled to zero after %s without a request (pid %d stopped); the next request starts it", a.name, s.o.Idle, c.PID())
	}
}

// current returns the process name runs as now, or nil.
func (s *stackRun) current(name string) *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.lastChild(name); c != nil && !c.exited() {
		return c
	}
	return nil
}

// lastChild returns the child name started last, or nil; s.mu is held.
func (s *stackRun) lastChild(name string) *child {
	for i := len(s.children) - 1; i >= 0; i-- {
		if s.children[i].name == name {
			return s.children[i]
		}
	}
	return nil
}

// stopActivators stops the activators' listeners, waiting at most 5 s for the
// requests they hold.
func (s *stackRun) stopActivators() {
	s.mu.Lock()
	list := s.activators
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range list {
		wg.Go(func() { s.stopServer(&a.srv) })
	}
	wg.Wait()
}

// scaledServices returns the services of this run that scale to zero (none without
// Options.ScaleToZero), and says which do and which stay up.
func (s *stackRun) scaledServices() (map[string]bool, error) {
	if !s.o.ScaleToZero {
		return nil, nil
	}
	knative, err := ScalesToZero(s.o.SourceDir)
	if err != nil {
		return nil, fmt.Errorf("--scale-to-zero reads min-scale from the Knative Services in config/: %w", err)
	}
	scales := map[string]bool{}
	var up []string
	for _, svc := range s.o.Services {
		if knative[svc.Name] && !(svc.API && s.o.GatewayReplicas > 1) {
			scales[svc.Name] = true
			continue
		}
		why := "no Knative Service in config/"
		if _, ok := knative[svc.Name]; ok {
			why = "min-scale above 0"
		}
		up = append(up, svc.Name+" ("+why+")")
	}
	names := make([]string, 0, len(scales))
	for _, svc := range s.o.Services {
		if scales[svc.Name] {
			names = append(names, svc.Name)
		}
	}
	s.con.Printf("scale to zero: %s stop after %s without a request and start on the next; always up: %s",
		strings.Join(names, ", "), s.o.Idle, strings.Join(up, ", "))
	return scales, nil
}

// handshakeFilter passes on every line but the server's TLS handshake errors.
type handshakeFilter struct{ w io.Writer }

// Write implements io.Writer; log.Logger writes one line at a time.
func (f *handshakeFilter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "TLS handshake error") {
		return len(p), nil
	}
	return f.w.Write(p)
}
