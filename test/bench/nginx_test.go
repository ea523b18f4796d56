package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// twelveItems is a to-do list page of 12 items, as todo-api answers GET /v1/todos: the
// body of the comparison with nginx.
func twelveItems() string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range 12 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"01JBENCH00000000000000%04d","title":"to-do number %d","notes":"some notes for the item","done":%t,"dueAt":"2026-03-01T09:00:00Z","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00Z","version":%d}`, i, i, i%3 == 0, i+1)
	}
	b.WriteString(`],"nextToken":null}`)
	return b.String()
}

// nginxConf is an nginx configuration that serves HTTPS on port with one worker,
// proxying to upstream and caching 200s for an hour keyed on the request URI and the
// Authorization header: what an operator would put in front of todo-api instead of the
// gateway (no token check: nginx cannot verify a Cognito token on its own).
func nginxConf(dir string, port int, upstream string, tlsPaths devtls.Paths) string {
	user := ""
	if os.Geteuid() == 0 {
		// As root nginx would run its worker as nobody, who cannot enter the test's
		// private temporary directory.
		user = "user root;"
	}
	return fmt.Sprintf(`%[1]s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  proxy_cache_path %[2]s/cache levels=1:2 keys_zone=hits:10m max_size=64m inactive=60m use_temp_path=off;
  upstream todo { server %[3]s; keepalive 64; }
  server {
    listen 127.0.0.1:%[4]d ssl;
    ssl_certificate %[5]s;
    ssl_certificate_key %[6]s;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 100000;
    location = /readyz { return 200 "ok\n"; }
    location / {
      proxy_pass http://todo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache hits;
      proxy_cache_key "$request_uri|$http_authorization";
      proxy_cache_valid 200 3600s;
      proxy_cache_lock on;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
      add_header X-Cache $upstream_cache_status;
    }
  }
}
`, user, dir, strings.TrimPrefix(upstream, "http://"), port, tlsPaths.Cert, tlsPaths.Key)
}

// nginxProc starts nginx as p places servers and returns its HTTPS base URL and its
// master process (the worker is its child).
func nginxProc(b *testing.B, p placement, bin, upstream string, tlsPaths devtls.Paths) (string, *exec.Cmd) {
	b.Helper()
	dir := b.TempDir()
	port := porttest.Free(b)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, port, upstream, tlsPaths)), 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-q", "-c", conf, "-p", dir).CombinedOutput(); err != nil {
		b.Fatalf("nginx -t: %v\n%s", err, out)
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	return base, procArgsOn(b, p.servers, bin, []string{"-c", conf, "-p", dir}, nil, base)
}

func needNginx(b *testing.B) string {
	b.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	b.Skip("nginx is not installed: apt-get install -y nginx (hack/bench.sh installs it)")
	return ""
}

// BenchmarkGatewayVersusNginx: the gateway's cache hits (every token verified, a
// per-user key) against nginx's proxy_cache hits (key: URI + Authorization), both over
// TLS with one CPU for the servers and the other for wrk, 64 connections, the same
// 12-item body from the same upstream; medians of 3 runs each, in turns. Targets:
// throughput ≥ 0.9× nginx's, p99 ≤ 2× nginx's.
func BenchmarkGatewayVersusNginx(b *testing.B) {
	wrk := needWrk(b)
	ngx := needNginx(b)
	p, ok := isolated()
	if !ok {
		b.Skip("needs 2 CPUs and taskset: the servers get one CPU, wrk the other")
	}
	dir := b.TempDir()
	bare := build(b, dir, "./test/bench/testdata/bare", "bare")
	gw := build(b, dir, "./services/gateway", "gateway")
	paths, err := devtls.Ensure(filepath.Join(dir, "tls"))
	if err != nil {
		b.Fatal(err)
	}
	pool := authtest.NewPool(b)
	token := pool.IDToken(b, "bench-user", nil)
	auth := "Authorization: Bearer " + token
	upPort := porttest.Free(b)
	upstream := fmt.Sprintf("http://127.0.0.1:%d", upPort)
	procOn(b, "", bare, []string{fmt.Sprintf("PORT=%d", upPort), "BODY=" + twelveItems()}, upstream)
	ngxBase, ngxCmd := nginxProc(b, p, ngx, upstream, paths)
	bareTLS, bareCmd := bareProcess(b, p, bare, &paths, twelveItems())
	gwBase, gwCmd := gatewayProcess(b, p, gw, fmt.Sprintf(`
routes:
  - {name: todos, pathPrefix: /v1/todos, upstream: {url: %q}, auth: cognito, cache: {ttl: 3600s, queryKeys: [limit, nextToken]}}
`, upstream), pool, &paths)
	b.ResetTimer()
	for range b.N {
		r := compare(b, wrk, p, 64,
			target{url: ngxBase + "/v1/todos", headers: []string{auth}, pids: []int{ngxCmd.Process.Pid}},
			target{url: gwBase + "/v1/todos", headers: []string{auth}, pids: []int{gwCmd.Process.Pid}},
			target{url: bareTLS + "/v1/todos", headers: []string{auth}, pids: []int{bareCmd.Process.Pid}})
		rn, rg, rb := r[0], r[1], r[2]
		b.ReportMetric(rb.rps, "bare-rps")
		b.ReportMetric(rb.rps/rn.rps, "bare-rps-ratio")
		b.ReportMetric(rn.cpuUs(), "nginx-cpu-us/req")
		b.ReportMetric(rg.cpuUs(), "gateway-cpu-us/req")
		b.ReportMetric(rb.cpuUs(), "bare-cpu-us/req")
		b.ReportMetric(rn.cpuUs()/rg.cpuUs(), "cpu-ratio")
		b.ReportMetric(rn.rps, "nginx-rps")
		b.ReportMetric(rg.rps, "gateway-rps")
		b.ReportMetric(rg.rps/rn.rps, "rps-ratio")
		b.ReportMetric(rn.p99ms(), "nginx-p99-ms")
		b.ReportMetric(rg.p99ms(), "gateway-p99-ms")
		b.ReportMetric(rg.p99ms()/rn.p99ms(), "p99-ratio")
	}
}
