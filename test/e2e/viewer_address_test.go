package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/originverify"
)

// clientFrom is client's TLS settings on connections made from the loopback address
// ip (Linux routes all of 127.0.0.0/8 to lo), so blog-api and the edge see distinct
// callers on one machine.
func clientFrom(t *testing.T, client *http.Client, ip string) *http.Client {
	t.Helper()
	base, ok := client.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("client transport %T", client.Transport)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: client.Timeout, Transport: &http.Transport{
		TLSClientConfig: base.TLSClientConfig.Clone(),
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp4", addr)
		},
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
}

// checkViewerAddressTrust: blog-api counts subscribe requests per client address, which
// it reads from CloudFront-Viewer-Address only on requests carrying the distribution's
// origin secret. Called directly (its Knative route is public) with a forged address,
// and with a forged secret, a caller is still counted under its own address: its 11th
// request is refused. Through the edge, which runs the provisioned distribution (the
// secret is an origin custom header of it), two viewers get a budget each even though
// every request reaches blog-api from the edge's one address.
func checkViewerAddressTrust(t *testing.T, s *localStack, client *http.Client, limit int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs several loopback source addresses (127.0.0.0/8 on lo), which only Linux routes without setup")
	}
	blogAPI, edge := s.stack.Services["blog-api"].URL, s.stack.BlogURL
	subscribe := func(c *http.Client, base, tag string, i int, headers map[string]string) int {
		email := fmt.Sprintf("%s-%d-%d@example.com", tag, time.Now().UnixNano(), i)
		code, _, _ := call(t, c, "POST", base+"/v1/subscribers", "", map[string]string{"email": email}, headers)
		return code
	}

	direct := clientFrom(t, client, "127.0.0.3")
	for i := range limit + 1 {
		headers := map[string]string{"CloudFront-Viewer-Address": fmt.Sprintf("198.51.100.%d:443", i+1)}
		if i%2 == 1 {
			headers[originverify.Header] = "forged-origin-secret-forged-origin-secret-0"
		}
		want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusAccepted}[i == limit]
		if code := subscribe(direct, blogAPI, "forged", i, headers); code != want {
			t.Fatalf("direct request %d claiming %s = %d, want %d: a caller of the origin chose the address it is counted under",
				i+1, headers["CloudFront-Viewer-Address"], code, want)
		}
	}

	first, second := clientFrom(t, client, "127.0.0.4"), clientFrom(t, client, "127.0.0.5")
	for i := range limit + 1 {
		want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusAccepted}[i == limit]
		if code := subscribe(first, edge, "viewer-a", i, nil); code != want {
			t.Fatalf("viewer 127.0.0.4 through the edge, request %d = %d, want %d", i+1, code, want)
		}
	}
	if code := subscribe(second, edge, "viewer-b", 0, nil); code != http.StatusAccepted {
		t.Errorf("a second viewer through the edge = %d, want 202: blog-api counted the edge's address, not the viewer's "+
			"(is the distribution's %s header reaching it, and ORIGIN_VERIFY_SECRET_ID set?)", code, originverify.Header)
	}
}
