package devstack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// MaxGatewayReplicas bounds --gateway-replicas.
const MaxGatewayReplicas = 8

// GatewayReplicaPortBase is the first loopback port of the gateway's replicas (with
// DefaultPortBase; Options.PortBase moves it too): replica i listens for HTTPS on
// GatewayReplicaPortBase+3i, serves /metrics on the next port and receives its peers'
// invalidations on the one after.
const GatewayReplicaPortBase = DefaultPortBase + 16

// ReplicaPorts are replica i's HTTPS, metrics and peer ports.
func (o Options) ReplicaPorts(i int) (https, metrics, peer int) {
	p := o.Local(GatewayReplicaPortBase + 3*i)
	return p, p + 1, p + 2
}

// PeerKey is the local stack's PEER_KEY, shared by the gateway's replicas: derived
// from the stack's page-token key (HMAC-SHA256 with a label), as UnsubscribeKey is.
func PeerKey(in Inputs) string {
	m := hmac.New(sha256.New, []byte(in.PageTokenKey))
	m.Write([]byte("gateway peer key"))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// GatewayReplicaEnv is replica i's own configuration on top of the gateway's
// (GatewayEnv): its metrics and peer ports, every replica as its peers, the shared
// key, and the balancer in front as the one trusted proxy.
func GatewayReplicaEnv(in Inputs, o Options, i int) []string {
	_, metrics, peer := o.ReplicaPorts(i)
	peers := make([]string, o.GatewayReplicas)
	for j := range peers {
		_, _, p := o.ReplicaPorts(j)
		peers[j] = "127.0.0.1:" + strconv.Itoa(p)
	}
	return []string{
		"METRICS_PORT=" + strconv.Itoa(metrics),
		"PEER_PORT=" + strconv.Itoa(peer),
		"PEERS=" + strings.Join(peers, ","),
		"PEER_KEY=" + PeerKey(in),
		"FORWARDED_HOPS=1",
	}
}

// replicaPortsFree reports an error naming the first replica port in use.
func (o Options) replicaPortsFree() error {
	for i := range o.GatewayReplicas {
		h, m, p := o.ReplicaPorts(i)
		for _, port := range []int{h, m, p} {
			if err := portFree(port); err != nil {
				return fmt.Errorf("gateway replica %d cannot listen: %w; choose another --port-base", i+1, err)
			}
		}
	}
	return nil
}

// startGatewayReplicas starts o.GatewayReplicas gateway processes, each on its own
// ports with the others as peers, and the round-robin balancer on the API port in
// front of them. It returns the balancer's and the replicas' entries of stack.json.
func (s *stackRun) startGatewayReplicas(svc Service, bin string, in Inputs) (stack.Service, []stack.Service, error) {
	o := s.o
	cert, err := tls.LoadX509KeyPair(in.TLS.Cert, in.TLS.Key)
	if err != nil {
		return stack.Service{}, nil, fmt.Errorf("balancer: load the certificate: %w", err)
	}
	var reps []stack.Service
	var targets []*url.URL
	for i := range o.GatewayReplicas {
		port, _, _ := o.ReplicaPorts(i)
		rin := in
		rin.Port = port
		renv := append(append(s.inheritedEnv(), CommonEnv(rin)...), svc.Env(rin)...)
		renv = append(renv, GatewayReplicaEnv(rin, o, i)...)
		c, err := s.start(fmt.Sprintf("%s-%d", svc.Name, i+1), bin, nil, renv, o.SourceDir)
		if err != nil {
			return stack.Service{}, nil, err
		}
		u := "https://localhost:" + strconv.Itoa(port)
		s.noteURL(fmt.Sprintf("%s-%d", svc.Name, i+1), u)
		reps = append(reps, stack.Service{URL: u, Port: port, PID: c.PID()})
		targets = append(targets, &url.URL{Scheme: "https", Host: "localhost:" + strconv.Itoa(port)})
	}
	if err := s.serveBalancer(in.Port, targets, &cert, in.TLS.CACert); err != nil {
		return stack.Service{}, nil, err
	}
	return stack.Service{URL: "https://localhost:" + strconv.Itoa(in.Port), Port: in.Port, PID: os.Getpid()}, reps, nil
}

// serveBalancer runs, inside this process, an HTTPS reverse proxy on port that sends
// each request to the next of targets in turn, as Knative's ingress spreads requests
// over a Service's pods. It adds the client to X-Forwarded-For (the replicas trust one
// hop) and answers 502 in the API's error envelope when a replica cannot be reached.
func (s *stackRun) serveBalancer(port int, targets []*url.URL, cert *tls.Certificate, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("balancer: read CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("balancer: %s holds no certificate", caFile)
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			t := targets[(next.Add(1)-1)%uint64(len(targets))]
			r.SetURL(t)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		ErrorLog: slog.NewLogLogger(slog.NewTextHandler(prefixed(s.con, "balancer | "), nil), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.con.Printf("balancer | %s %s: %v", r.Method, r.URL.Path, err)
			apperr.Write(w, apperr.New(apperr.BadGateway, "the gateway replica could not be reached"), r.Header.Get(server.RequestIDHeader))
		},
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("balancer: listen on port %d: %w", port, err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second, TLSConfig: server.TLSConfig(*cert)}
	go func() {
		if err := srv.Serve(tls.NewListener(l, srv.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.con.Printf("balancer | %v", err)
		}
	}()
	s.mu.Lock()
	s.balancer = srv
	s.mu.Unlock()
	s.con.Printf("balancer on https://localhost:%d sends requests to %d gateway replicas in turn", port, len(targets))
	return nil
}

// stopBalancer stops the balancer, if this run started one.
func (s *stackRun) stopBalancer() {
	s.stopServer(&s.balancer)
}

// stopServer shuts down the in-process server *field holds (the balancer, the Cognito
// stand-in), if this run started it, waiting at most 5 s for its requests.
func (s *stackRun) stopServer(field **http.Server) {
	s.mu.Lock()
	srv := *field
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
