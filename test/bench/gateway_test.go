package bench

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbt "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// The bytes of a to-do list page, as todo-api answers GET /v1/todos.
const listBody = `{"items":[{"id":"01JBENCH0000000000000000001","title":"buy milk","notes":"two litres","done":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","version":1},{"id":"01JBENCH0000000000000000002","title":"write the report","notes":"","done":true,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00Z","version":3}],"nextToken":null}`

// proc starts bin with env (plus HOST, LOG_LEVEL) and waits for readyz at base.
func proc(b *testing.B, bin string, env []string, base string) *exec.Cmd {
	b.Helper()
	return procOn(b, "", bin, env, base)
}

// procOn is proc on the CPUs cpus ("" = any CPU).
func procOn(b *testing.B, cpus, bin string, env []string, base string) *exec.Cmd {
	b.Helper()
	return procArgsOn(b, cpus, bin, nil, env, base)
}

// procArgsOn is procOn with command-line arguments.
func procArgsOn(b *testing.B, cpus, bin string, args, env []string, base string) *exec.Cmd {
	b.Helper()
	cmd := command(cpus, bin, args...)
	cmd.Env = append(append(os.Environ(), env...), "HOST=127.0.0.1", "LOG_LEVEL=error", "DRAIN_DELAY=0s")
	childproc.Prepare(cmd, false)
	if _, err := childproc.Start(cmd); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
	}
	b.Fatalf("%s not ready at %s", bin, base)
	return nil
}

// gatewayProc starts the gateway as p places servers, with a route table and the auth
// settings of pool.
func gatewayProc(b *testing.B, p placement, bin, routes string, pool *authtest.Pool, tlsPaths *devtls.Paths, extra ...string) string {
	b.Helper()
	base, _ := gatewayProcess(b, p, bin, routes, pool, tlsPaths, extra...)
	return base
}

// gatewayProcess is gatewayProc that also returns the process.
func gatewayProcess(b *testing.B, p placement, bin, routes string, pool *authtest.Pool, tlsPaths *devtls.Paths, extra ...string) (string, *exec.Cmd) {
	b.Helper()
	file := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte(routes), 0o600); err != nil {
		b.Fatal(err)
	}
	port := porttest.Free(b)
	env := append([]string{
		fmt.Sprintf("PORT=%d", port), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(b)), "ROUTES_FILE=" + file,
		"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
	}, extra...)
	scheme := "http"
	if tlsPaths != nil {
		env = append(env, "TLS_CERT_FILE="+tlsPaths.Cert, "TLS_KEY_FILE="+tlsPaths.Key)
		scheme = "https"
	}
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	return base, procOn(b, p.servers, bin, env, base)
}

// bareProc starts the bare reference server as p places servers.
func bareProc(b *testing.B, p placement, bin string, tlsPaths *devtls.Paths) string {
	b.Helper()
	return bareProcBody(b, p, bin, tlsPaths, listBody)
}

// bareProcBody is bareProc answering with body.
func bareProcBody(b *testing.B, p placement, bin string, tlsPaths *devtls.Paths, body string) string {
	b.Helper()
	base, _ := bareProcess(b, p, bin, tlsPaths, body)
	return base
}

// bareProcess is bareProcBody that also returns the process.
func bareProcess(b *testing.B, p placement, bin string, tlsPaths *devtls.Paths, body string) (string, *exec.Cmd) {
	b.Helper()
	port := porttest.Free(b)
	env := []string{fmt.Sprintf("PORT=%d", port), "BODY=" + body}
	scheme := "http"
	if tlsPaths != nil {
		env = append(env, "TLS_CERT_FILE="+tlsPaths.Cert, "TLS_KEY_FILE="+tlsPaths.Key)
		scheme = "https"
	}
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	return base, procOn(b, p.servers, bin, env, base)
}

// BenchmarkGatewayCacheHit: GET /v1/todos answered from the gateway's cache over TLS
// (token verified, cache looked up) against a bare net/http TLS server returning the
// same bytes, 64 connections, same wrk, same run; medians of 3 runs each. Measured
// twice: wrk sharing the CPUs with the servers, and wrk on CPUs of its own (isolated,
// see placement), which is the figure for the latency target. Targets: throughput
// ratio ≥ 0.5, hit p99 ≤ 5 ms.
func BenchmarkGatewayCacheHit(b *testing.B) {
	wrk := needWrk(b)
	dir := b.TempDir()
	bare := build(b, dir, "./test/bench/testdata/bare", "bare")
	gw := build(b, dir, "./services/gateway", "gateway")
	paths, err := devtls.Ensure(filepath.Join(dir, "tls"))
	if err != nil {
		b.Fatal(err)
	}
	pool := authtest.NewPool(b)
	token := pool.IDToken(b, "bench-user", nil)
	upstream := bareProc(b, shared, bare, nil)
	auth := "Authorization: Bearer " + token
	b.ResetTimer()
	for range b.N {
		for _, p := range placements() {
			bareTLS := bareProc(b, p, bare, &paths)
			gwBase := gatewayProc(b, p, gw, fmt.Sprintf(`
routes:
  - {name: todos, pathPrefix: /v1/todos, upstream: {url: %q}, auth: cognito, cache: {ttl: 3600s, queryKeys: [limit, nextToken]}}
`, upstream), pool, &paths)
			r := compare(b, wrk, p, 64, target{url: bareTLS + "/v1/todos", headers: []string{auth}}, target{url: gwBase + "/v1/todos", headers: []string{auth}})
			rb, rg := r[0], r[1]
			b.ReportMetric(rb.rps, p.name+"-bare-rps")
			b.ReportMetric(rg.rps, p.name+"-gateway-rps")
			b.ReportMetric(rg.rps/rb.rps, p.name+"-ratio")
			b.ReportMetric(rb.p99ms(), p.name+"-bare-p99-ms")
			b.ReportMetric(rg.p99ms(), p.name+"-hit-p99-ms")
		}
	}
}

// BenchmarkGatewayProxyHop: the gateway (no auth, no cache) in front of a trivial
// in-memory upstream against that upstream alone, and beside it the standard library's
// httputil.ReverseProxy, tuned (testdata/revproxy), in front of the same upstream; 64
// connections, wrk sharing the CPUs as the upstream and the proxy do, medians of 3
// runs each. Target: ratio ≥ 0.3.
func BenchmarkGatewayProxyHop(b *testing.B) {
	wrk := needWrk(b)
	dir := b.TempDir()
	bare := build(b, dir, "./test/bench/testdata/bare", "bare")
	revproxy := build(b, dir, "./test/bench/testdata/revproxy", "revproxy")
	gw := build(b, dir, "./services/gateway", "gateway")
	pool := authtest.NewPool(b)
	upstream := bareProc(b, shared, bare, nil)
	gwBase := gatewayProc(b, shared, gw, fmt.Sprintf(`
routes:
  - {name: hop, pathPrefix: /, upstream: {url: %q}, auth: none}
`, upstream), pool, nil)
	rpPort := porttest.Free(b)
	rpBase := fmt.Sprintf("http://127.0.0.1:%d", rpPort)
	proc(b, revproxy, []string{fmt.Sprintf("PORT=%d", rpPort), "UPSTREAM=" + upstream}, rpBase)
	b.ResetTimer()
	for range b.N {
		r := compare(b, wrk, shared, 64, target{url: upstream + "/v1/todos"}, target{url: rpBase + "/v1/todos"}, target{url: gwBase + "/v1/todos"})
		ru, rr, rg := r[0], r[1], r[2]
		b.ReportMetric(ru.rps, "upstream-rps")
		b.ReportMetric(rr.rps, "revproxy-rps")
		b.ReportMetric(rg.rps, "gateway-rps")
		b.ReportMetric(rr.rps/ru.rps, "revproxy-ratio")
		b.ReportMetric(rg.rps/ru.rps, "ratio")
	}
}

// BenchmarkGatewayMissPath: GET /v1/todos through gateway -> todo-api -> moto, every
// request a cache miss (Cache-Control: max-age=0), against todo-api -> moto directly,
// same run, 4 connections, medians of 3 runs each. Target: p50 ratio ≤ 1.2. Needs moto
// (make bench runs it).
func BenchmarkGatewayMissPath(b *testing.B) {
	wrk := needWrk(b)
	ep := mototest.Endpoint(b)
	dir := b.TempDir()
	gw := build(b, dir, "./services/gateway", "gateway")
	api := build(b, dir, "./services/todo-api", "todo-api")
	table := mototest.Name("bench-todos")
	db := dynamodb.NewFromConfig(mototest.AWSConfig(b, ep))
	mototest.CreateTable(b, db, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbt.BillingModePayPerRequest,
		AttributeDefinitions: []ddbt.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbt.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbt.ScalarAttributeTypeS}},
		KeySchema:            []ddbt.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbt.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbt.KeyTypeRange}},
	})
	pool := authtest.NewPool(b)
	token := pool.IDToken(b, "bench-user", nil)
	apiPort := porttest.Free(b)
	apiBase := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	proc(b, api, []string{
		fmt.Sprintf("PORT=%d", apiPort), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(b)), "AWS_REGION=" + mototest.Region, "AWS_ENDPOINT_URL=" + ep,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "TODOS_TABLE=" + table,
		"PAGE_TOKEN_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
	}, apiBase)
	gwBase := gatewayProc(b, shared, gw, fmt.Sprintf(`
routes:
  - {name: todos, pathPrefix: /v1/todos, upstream: {url: %q}, auth: cognito, cache: {ttl: 300s, queryKeys: [limit, nextToken]}}
`, apiBase), pool, nil)
	auth := "Authorization: Bearer " + token
	b.ResetTimer()
	for range b.N {
		r := compare(b, wrk, shared, 4, target{url: apiBase + "/v1/todos", headers: []string{auth}}, target{url: gwBase + "/v1/todos", headers: []string{auth, "Cache-Control: max-age=0"}})
		ra, rg := r[0], r[1]
		b.ReportMetric(ra.p50ms(), "todo-api-p50-ms")
		b.ReportMetric(rg.p50ms(), "gateway-p50-ms")
		b.ReportMetric(rg.p50ms()/ra.p50ms(), "p50-ratio")
	}
}

// BenchmarkGatewayCacheMemory: 100,000 distinct cache keys through a gateway whose
// cache is bounded at 64 MiB; reports the process's resident memory growth against
// that bound. Target: growth ≤ CACHE_MAX_BYTES + the stated overhead, 64 MiB (README).
func BenchmarkGatewayCacheMemory(b *testing.B) {
	wrk := needWrk(b)
	dir := b.TempDir()
	bare := build(b, dir, "./test/bench/testdata/bare", "bare")
	gw := build(b, dir, "./services/gateway", "gateway")
	pool := authtest.NewPool(b)
	upstream := bareProc(b, shared, bare, nil)
	const maxBytes = 64 << 20
	script := filepath.Join(dir, "keys.lua")
	if err := os.WriteFile(script, []byte(`
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/todos?k=" .. n .. "-" .. math.random(1, 1000000000))
end
`), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		file := filepath.Join(b.TempDir(), "routes.yaml")
		_ = os.WriteFile(file, fmt.Appendf(nil, "routes:\n  - {name: mem, pathPrefix: /, upstream: {url: %q}, auth: none, cache: {ttl: 3600s, queryKeys: [k]}}\n", upstream), 0o600)
		port := porttest.Free(b)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		cmd := proc(b, gw, []string{fmt.Sprintf("PORT=%d", port), "METRICS_PORT=0", "ROUTES_FILE=" + file,
			"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
			fmt.Sprintf("CACHE_MAX_BYTES=%d", maxBytes), "CACHE_MAX_ENTRIES=100000"}, base)
		before := rss(b, cmd.Process.Pid)
		out, err := exec.Command(wrk, "-t2", "-c32", "-d10s", "-s", script, base+"/").CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`(\d+) requests in`).FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk output:\n%s", out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		grew := rss(b, cmd.Process.Pid) - before
		b.ReportMetric(float64(n), "distinct-keys")
		b.ReportMetric(float64(grew)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(maxBytes)/(1<<20), "cache-max-MiB")
		b.ReportMetric(float64(grew-maxBytes)/(1<<20), "overhead-MiB")
	}
}

// rss is a process's resident set size in bytes.
func rss(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
