package devstack

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

func TestGatewayReplicaEnv(t *testing.T) {
	o := Options{PortBase: 20000, GatewayReplicas: 3}.withDefaults()
	in := Inputs{PageTokenKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
	got := GatewayReplicaEnv(in, o, 1)
	want := []string{
		"METRICS_PORT=20020", "PEER_PORT=20021",
		"PEERS=127.0.0.1:20018,127.0.0.1:20021,127.0.0.1:20024",
		"PEER_KEY=" + PeerKey(in), "FORWARDED_HOPS=1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replica 2's env (-want +got):\n%s", diff)
	}
	if h, _, _ := o.ReplicaPorts(0); h != 20016 {
		t.Errorf("replica 1's HTTPS port %d, want 20016: right after the 16 ports of the services", h)
	}
	if PeerKey(in) == UnsubscribeKey(in) || PeerKey(in) == in.PageTokenKey {
		t.Error("the peer key is another key of the stack")
	}
}

// TestBalancer: the balancer sends requests to its targets in turn over HTTPS, adds
// the client to X-Forwarded-For and keeps the Host, and answers 502 in the API's
// envelope for a target that is down.
func TestBalancer(t *testing.T) {
	paths, err := devtls.Ensure(filepath.Join(t.TempDir(), "tls"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(paths.Cert, paths.Key)
	if err != nil {
		t.Fatal(err)
	}
	var targets []*url.URL
	for i := range 2 {
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%d %s %s", i, r.Header.Get("X-Forwarded-For"), r.Host)
		})}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
		targets = append(targets, &url.URL{Scheme: "https", Host: "localhost:" + fmt.Sprint(l.Addr().(*net.TCPAddr).Port)})
	}
	down := porttest.Free(t)
	targets = append(targets, &url.URL{Scheme: "https", Host: fmt.Sprintf("localhost:%d", down)})

	var out bytes.Buffer
	s := &stackRun{con: &console{w: &out}}
	port := porttest.Free(t)
	if err := s.serveBalancer(port, targets, &cert, paths.CACert); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stopBalancer)
	pem, _ := os.ReadFile(paths.CACert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := fmt.Sprintf("https://localhost:%d", port)
	var got []string
	for range 6 {
		resp, err := client.Get(base + "/v1/todos")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			if !strings.Contains(string(b), `"bad_gateway"`) {
				t.Errorf("502 body %s, want the error envelope", b)
			}
			got = append(got, "down")
			continue
		}
		got = append(got, string(b))
	}
	host := fmt.Sprintf("localhost:%d", port)
	want := []string{"0 127.0.0.1 " + host, "1 127.0.0.1 " + host, "down", "0 127.0.0.1 " + host, "1 127.0.0.1 " + host, "down"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers in turn (-want +got):\n%s", diff)
	}
}
