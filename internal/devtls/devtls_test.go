package devtls

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnsureCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := Ensure(dir)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	want := Paths{
		CACert: filepath.Join(dir, "ca.pem"),
		CAKey:  filepath.Join(dir, "ca-key.pem"),
		Cert:   filepath.Join(dir, "localhost.pem"),
		Key:    filepath.Join(dir, "localhost-key.pem"),
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	modes := map[string]os.FileMode{p.CACert: 0o644, p.CAKey: 0o600, p.Cert: 0o644, p.Key: 0o600}
	for path, mode := range modes {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), mode)
		}
	}

	ca, caKey := mustLoad(t, p.CACert, p.CAKey)
	if !ca.IsCA || !ca.BasicConstraintsValid {
		t.Errorf("CA certificate is not a CA")
	}
	if k, ok := caKey.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", caKey)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life < 9*365*24*time.Hour {
		t.Errorf("CA valid for %v, want about 10 years", life)
	}
	leaf, _ := mustLoad(t, p.Cert, p.Key)
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("leaf not signed by CA: %v", err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 360*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("leaf valid for %v, want about 1 year", life)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("leaf not valid for %s: %v", h, err)
		}
	}
}

func TestEnsureReusesFiles(t *testing.T) {
	dir := t.TempDir()
	p, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := readAll(t, p)
	if _, err := Ensure(dir); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if diff := cmp.Diff(before, readAll(t, p)); diff != "" {
		t.Errorf("second Ensure changed files (-before +after):\n%s", diff)
	}
}

func TestHandshakeTrustingOnlyCA(t *testing.T) {
	p, err := Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	port := srv.Listener.Addr().String()
	port = port[strings.LastIndex(port, ":")+1:]

	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			resp, err := trusting.Get("https://" + host + ":" + port + "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != "hello" {
				t.Errorf("body %q, want hello", b)
			}
		})
	}
	t.Run("a client that does not trust the CA fails", func(t *testing.T) {
		other := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
		resp, err := other.Get("https://localhost:" + port + "/")
		if err == nil {
			resp.Body.Close()
			t.Fatal("handshake succeeded without trusting the CA")
		}
	})
}

func TestEnsureReissuesLeaf(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		spoil func(t *testing.T, p Paths)
	}{
		{"expiring within 30 days", func(t *testing.T, p Paths) {
			ca, caKey := mustLoad(t, p.CACert, p.CAKey)
			if err := issueLeaf(p, ca, caKey, now.Add(-300*24*time.Hour), now.Add(10*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}},
		{"signed by another CA", func(t *testing.T, p Paths) {
			other, err := Ensure(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range [][2]string{{other.Cert, p.Cert}, {other.Key, p.Key}} {
				b, err := os.ReadFile(f[0])
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f[1], b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"key does not match", func(t *testing.T, p Paths) {
			b, err := os.ReadFile(p.CAKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p.Key, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing key", func(t *testing.T, p Paths) {
			if err := os.Remove(p.Key); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := Ensure(dir)
			if err != nil {
				t.Fatal(err)
			}
			caBefore := readAll(t, p)[CACertFile]
			tt.spoil(t, p)
			spoiled, err := os.ReadFile(p.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Ensure(dir); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			after := readAll(t, p)
			if bytes.Equal(spoiled, []byte(after[CertFile])) {
				t.Error("leaf was not reissued")
			}
			if after[CACertFile] != caBefore {
				t.Error("CA changed; only the leaf should be reissued")
			}
			ca, _ := mustLoad(t, p.CACert, p.CAKey)
			leaf, _ := mustLoad(t, p.Cert, p.Key)
			if !leafOK(leaf, ca, time.Now()) {
				t.Errorf("reissued leaf is not valid: expires %v", leaf.NotAfter)
			}
		})
	}
}

func TestEnsureRejectsBrokenCA(t *testing.T) {
	dir := t.TempDir()
	p, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.CACert, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Ensure(dir)
	if err == nil || !strings.Contains(err.Error(), "delete the directory") {
		t.Errorf("Ensure with a broken ca.pem: err = %v, want advice to delete the directory", err)
	}
}

func mustLoad(t *testing.T, cert, key string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	c, k, err := loadPair(cert, key)
	if err != nil {
		t.Fatalf("load %s: %v", cert, err)
	}
	return c, k
}

func readAll(t *testing.T, p Paths) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range []string{p.CACert, p.CAKey, p.Cert, p.Key} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = string(b)
	}
	return m
}
