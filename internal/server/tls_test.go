package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
)

// TestTLSSuites: the HTTPS server speaks TLS 1.3 and TLS 1.2 with AEAD suites, and
// refuses a client that offers only the CBC-SHA1 suites, or TLS 1.1.
func TestTLSSuites(t *testing.T) {
	paths, err := devtls.Ensure(filepath.Join(t.TempDir(), "tls"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{TLSCertFile: paths.Cert, TLSKeyFile: paths.Key, ShutdownTimeout: 5e9}, logging.New(&logtest.Buffer{}, "error", "test"),
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), WithListener(l))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	pem, err := os.ReadFile(paths.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	for _, tc := range []struct {
		name       string
		min, max   uint16
		suites     []uint16
		wantSuite  uint16
		wantRefuse bool
	}{
		{name: "TLS 1.3", min: tls.VersionTLS13, max: tls.VersionTLS13},
		{name: "TLS 1.2 AES-GCM", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{name: "TLS 1.2 ChaCha20", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{name: "TLS 1.2 CBC-SHA1 only", min: tls.VersionTLS12, max: tls.VersionTLS12, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}, wantRefuse: true},
		{name: "TLS 1.1", min: tls.VersionTLS10, max: tls.VersionTLS11, wantRefuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tc.min, MaxVersion: tc.max, CipherSuites: tc.suites})
			if tc.wantRefuse {
				if err == nil {
					conn.Close()
					t.Fatalf("handshake succeeded with %s", tls.CipherSuiteName(conn.ConnectionState().CipherSuite))
				}
				if !strings.Contains(err.Error(), "handshake failure") && !strings.Contains(err.Error(), "protocol version") {
					t.Errorf("refused, but not by the handshake: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if got := conn.ConnectionState().CipherSuite; tc.wantSuite != 0 && got != tc.wantSuite {
				t.Errorf("suite %s, want %s", tls.CipherSuiteName(got), tls.CipherSuiteName(tc.wantSuite))
			}
		})
	}
	for _, id := range TLSConfig(tls.Certificate{}).CipherSuites {
		for _, weak := range tls.InsecureCipherSuites() {
			if weak.ID == id {
				t.Errorf("%s is configured and Go calls it insecure", weak.Name)
			}
		}
		if name := tls.CipherSuiteName(id); strings.Contains(name, "CBC") || strings.HasSuffix(name, "_SHA") {
			t.Errorf("%s is configured", name)
		}
	}
}

// TestHeaders: WithHeaders puts its headers on every answer: the service's, the health
// endpoints', and the server's own errors.
func TestHeaders(t *testing.T) {
	hdr := http.Header{"Strict-Transport-Security": {"max-age=31536000"}, "X-Content-Type-Options": {"nosniff"}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{MaxBodyBytes: 4, ShutdownTimeout: 5e9}, logging.New(&logtest.Buffer{}, "error", "test"),
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), WithListener(l), WithHeaders(hdr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + l.Addr().String()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/x", ""}, {"GET", "/healthz", ""}, {"GET", "/readyz", ""}, {"POST", "/healthz", ""}, {"POST", "/x", "too large"},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, v := range hdr {
			if got := resp.Header.Get(k); got != v[0] {
				t.Errorf("%s %s (%d): %s = %q, want %q", c.method, c.path, resp.StatusCode, k, got, v[0])
			}
		}
	}
}
