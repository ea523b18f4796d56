package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbt "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// wrkDuration is how long each wrk run lasts.
const wrkDuration = "4s"

// The bytes of a to-do list page, as todo-api answers GET /v1/todos.
const listBody = `{"items":[{"id":"01JBENCH0000000000000000001","title":"buy milk","notes":"two litres","done":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","version":1},{"id":"01JBENCH0000000000000000002","title":"write the report","notes":"","done":true,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00Z","version":3}],"nextToken":null}`

func needWrk(b *testing.B) string {
	b.Helper()
	p, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed: apt-get install -y wrk (hack/bench.sh installs it)")
	}
	return p
}

// proc starts bin with env (plus HOST, LOG_LEVEL) and waits for readyz at base.
func proc(b *testing.B, bin string, env []string, base string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "HOST=127.0.0.1", "LOG_LEVEL=error", "DRAIN_DELAY=0s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
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

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rps          float64
	p50, p99     time.Duration
	non2xx       int
	socketErrors bool
}

var (
	rpsRe    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latRe    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk loads url with conns connections for wrkDuration.
func runWrk(b *testing.B, wrk, url string, conns int, headers ...string) wrkResult {
	b.Helper()
	args := []string{"-t2", fmt.Sprintf("-c%d", conns), "-d" + wrkDuration, "--latency", "--timeout", "5s"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command(wrk, append(args, url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	var r wrkResult
	m := rpsRe.FindSubmatch(out)
	if m == nil {
		b.Fatalf("wrk output has no Requests/sec:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, l := range latRe.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(l[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(l[3])]
		d := time.Duration(v * float64(unit))
		if string(l[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := non2xxRe.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	r.socketErrors = strings.Contains(string(out), "Socket errors")
	return r
}

// gatewayProc starts the gateway with a route table and the auth settings of pool.
func gatewayProc(b *testing.B, bin, routes string, pool *authtest.Pool, tlsPaths *devtls.Paths, extra ...string) string {
	b.Helper()
	file := filepath.Join(b.TempDir(), "routes.yaml")
	if err := os.WriteFile(file, []byte(routes), 0o600); err != nil {
		b.Fatal(err)
	}
	port := freePort(b)
	env := append([]string{
		fmt.Sprintf("PORT=%d", port), fmt.Sprintf("METRICS_PORT=%d", freePort(b)), "ROUTES_FILE=" + file,
		"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
	}, extra...)
	scheme := "http"
	if tlsPaths != nil {
		env = append(env, "TLS_CERT_FILE="+tlsPaths.Cert, "TLS_KEY_FILE="+tlsPaths.Key)
		scheme = "https"
	}
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	proc(b, bin, env, base)
	return base
}

func bareProc(b *testing.B, bin string, tlsPaths *devtls.Paths) string {
	b.Helper()
	port := freePort(b)
	env := []string{fmt.Sprintf("PORT=%d", port), "BODY=" + listBody}
	scheme := "http"
	if tlsPaths != nil {
		env = append(env, "TLS_CERT_FILE="+tlsPaths.Cert, "TLS_KEY_FILE="+tlsPaths.Key)
		scheme = "https"
	}
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	proc(b, bin, env, base)
	return base
}

// BenchmarkGatewayCacheHit: GET /v1/todos answered from the gateway's cache over TLS
// (token verified, cache looked up) against a bare net/http TLS server returning the
// same bytes, 64 connections, same wrk, same run. Targets: ratio ≥ 0.5, hit p99 ≤ 5 ms.
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
	upstream := bareProc(b, bare, nil)
	bareTLS := bareProc(b, bare, &paths)
	gwBase := gatewayProc(b, gw, fmt.Sprintf(`
routes:
  - {name: todos, pathPrefix: /v1/todos, upstream: {url: %q}, auth: cognito, cache: {ttl: 3600s, queryKeys: [limit, nextToken]}}
`, upstream), pool, &paths)
	auth := "Authorization: Bearer " + token
	b.ResetTimer()
	var ratio, p99, bareP99, bareRPS, gwRPS float64
	for range b.N {
		rb := runWrk(b, wrk, bareTLS+"/v1/todos", 64, auth)
		rg := runWrk(b, wrk, gwBase+"/v1/todos", 64, auth)
		if rg.non2xx > 0 {
			b.Fatalf("%d non-2xx answers from the gateway", rg.non2xx)
		}
		bareRPS, gwRPS = rb.rps, rg.rps
		ratio = rg.rps / rb.rps
		p99 = float64(rg.p99.Microseconds()) / 1000
		bareP99 = float64(rb.p99.Microseconds()) / 1000
	}
	b.ReportMetric(bareRPS, "bare-rps")
	b.ReportMetric(bareP99, "bare-p99-ms")
	b.ReportMetric(gwRPS, "gateway-rps")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(p99, "hit-p99-ms")
}

// BenchmarkGatewayProxyHop: the gateway (no auth, no cache) in front of a trivial
// in-memory upstream against that upstream alone, 64 connections. Target: ratio ≥ 0.3.
func BenchmarkGatewayProxyHop(b *testing.B) {
	wrk := needWrk(b)
	dir := b.TempDir()
	bare := build(b, dir, "./test/bench/testdata/bare", "bare")
	gw := build(b, dir, "./services/gateway", "gateway")
	pool := authtest.NewPool(b)
	upstream := bareProc(b, bare, nil)
	gwBase := gatewayProc(b, gw, fmt.Sprintf(`
routes:
  - {name: hop, pathPrefix: /, upstream: {url: %q}, auth: none}
`, upstream), pool, nil)
	b.ResetTimer()
	var ratio, upRPS, gwRPS float64
	for range b.N {
		ru := runWrk(b, wrk, upstream+"/v1/todos", 64)
		rg := runWrk(b, wrk, gwBase+"/v1/todos", 64)
		if rg.non2xx > 0 {
			b.Fatalf("%d non-2xx answers from the gateway", rg.non2xx)
		}
		upRPS, gwRPS, ratio = ru.rps, rg.rps, rg.rps/ru.rps
	}
	b.ReportMetric(upRPS, "upstream-rps")
	b.ReportMetric(gwRPS, "gateway-rps")
	b.ReportMetric(ratio, "ratio")
}

// BenchmarkGatewayMissPath: GET /v1/todos through gateway -> todo-api -> moto, every
// request a cache miss (Cache-Control: max-age=0), against todo-api -> moto directly,
// same run. Target: p50 ratio ≤ 1.2. Needs moto (make bench runs it).
func BenchmarkGatewayMissPath(b *testing.B) {
	wrk := needWrk(b)
	ep := mototest.Endpoint(b)
	dir := b.TempDir()
	gw := build(b, dir, "./services/gateway", "gateway")
	api := build(b, dir, "./services/todo-api", "todo-api")
	table := mototest.Name("bench-todos")
	db := dynamodb.NewFromConfig(mototest.AWSConfig(b, ep))
	if _, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbt.BillingModePayPerRequest,
		AttributeDefinitions: []ddbt.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbt.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbt.ScalarAttributeTypeS}},
		KeySchema:            []ddbt.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbt.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbt.KeyTypeRange}},
	}); err != nil {
		b.Fatalf("CreateTable: %v", err)
	}
	pool := authtest.NewPool(b)
	token := pool.IDToken(b, "bench-user", nil)
	apiPort := freePort(b)
	apiBase := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	proc(b, api, []string{
		fmt.Sprintf("PORT=%d", apiPort), "AWS_REGION=" + mototest.Region, "AWS_ENDPOINT_URL=" + ep,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "TODOS_TABLE=" + table,
		"PAGE_TOKEN_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
	}, apiBase)
	gwBase := gatewayProc(b, gw, fmt.Sprintf(`
routes:
  - {name: todos, pathPrefix: /v1/todos, upstream: {url: %q}, auth: cognito, cache: {ttl: 300s, queryKeys: [limit, nextToken]}}
`, apiBase), pool, nil)
	auth := "Authorization: Bearer " + token
	b.ResetTimer()
	var ratio, apiP50, gwP50 float64
	for range b.N {
		ra := runWrk(b, wrk, apiBase+"/v1/todos", 4, auth)
		rg := runWrk(b, wrk, gwBase+"/v1/todos", 4, auth, "Cache-Control: max-age=0")
		if rg.non2xx > 0 || ra.non2xx > 0 {
			b.Fatalf("non-2xx answers: gateway %d, todo-api %d", rg.non2xx, ra.non2xx)
		}
		apiP50 = float64(ra.p50.Microseconds()) / 1000
		gwP50 = float64(rg.p50.Microseconds()) / 1000
		ratio = gwP50 / apiP50
	}
	b.ReportMetric(apiP50, "todo-api-p50-ms")
	b.ReportMetric(gwP50, "gateway-p50-ms")
	b.ReportMetric(ratio, "p50-ratio")
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
	upstream := bareProc(b, bare, nil)
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
		port := freePort(b)
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
