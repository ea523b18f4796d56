package bench

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// BenchmarkGatewayReplicas: what keeping the caches of two gateway replicas coherent
// costs, against one gateway alone, same upstream, same run.
//
//   - Write latency: POST /v1/todos through a gateway (8 connections, wrk, medians of
//     3 runs in turns): one gateway alone against one of two peered replicas, which
//     invalidates locally and queues the invalidation for its peer before it
//     answers. Target: p50 ≤ 1.1× the single gateway's. Also reported: the CPU time
//     per write of the single gateway and of both replicas together (the receiving
//     replica's work included).
//   - Invalidation delay: with the user's list cached on replica 2, a write through
//     replica 1, then replica 2 polled until it no longer answers from its cache; the
//     delay is from the write's answer to the answer of the first poll that missed (a
//     client's view, so at least one poll's round trip). 200 writes, 10 ms apart.
//     Target: p99 ≤ 50 ms.
func BenchmarkGatewayReplicas(b *testing.B) {
	wrk := needWrk(b)
	dir := b.TempDir()
	bare := build(b, dir, "./test/bench/testdata/bare", "bare")
	gw := build(b, dir, "./services/gateway", "gateway")
	pool := authtest.NewPool(b)
	token := pool.IDToken(b, "bench-user", nil)
	auth := "Authorization: Bearer " + token
	upstream := bareProc(b, shared, bare, nil)
	routes := fmt.Sprintf(`
routes:
  - {name: todos, pathPrefix: /v1/todos, upstream: {url: %q}, auth: cognito, cache: {ttl: 3600s, queryKeys: [limit, nextToken]}}
`, upstream)
	single, singleCmd := gatewayProcess(b, shared, gw, routes, pool, nil)
	peerA, peerB := porttest.Free(b), porttest.Free(b)
	peerEnv := []string{fmt.Sprintf("PEERS=127.0.0.1:%d,127.0.0.1:%d", peerA, peerB), "PEER_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))}
	rep1, rep1Cmd := gatewayProcess(b, shared, gw, routes, pool, nil, append(slices.Clone(peerEnv), fmt.Sprintf("PEER_PORT=%d", peerA))...)
	rep2, rep2Cmd := gatewayProcess(b, shared, gw, routes, pool, nil, append(slices.Clone(peerEnv), fmt.Sprintf("PEER_PORT=%d", peerB))...)
	script := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(script, []byte(`wrk.method = "POST"
wrk.body = '{"title":"bench"}'
wrk.headers["Content-Type"] = "application/json"
`), 0o600); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	b.ResetTimer()
	for range b.N {
		r := compare(b, wrk, shared, 8,
			target{url: single + "/v1/todos", headers: []string{auth}, script: script, pids: []int{singleCmd.Process.Pid}},
			target{url: rep1 + "/v1/todos", headers: []string{auth}, script: script, pids: []int{rep1Cmd.Process.Pid, rep2Cmd.Process.Pid}})
		rs, rp := r[0], r[1]
		b.ReportMetric(rs.p50ms(), "write-1-p50-ms")
		b.ReportMetric(rp.p50ms(), "write-2-p50-ms")
		b.ReportMetric(rp.p50ms()/rs.p50ms(), "write-p50-ratio")
		b.ReportMetric(rp.p99ms()/rs.p99ms(), "write-p99-ratio")
		b.ReportMetric(rp.rps/rs.rps, "write-rps-ratio")
		b.ReportMetric(rs.cpuUs(), "write-1-cpu-us/req")
		b.ReportMetric(rp.cpuUs(), "write-2-cpu-us/req")

		delays := invalidationDelays(b, client, token, rep1, rep2, 200)
		b.ReportMetric(ms(delays[len(delays)/2]), "invalidation-p50-ms")
		b.ReportMetric(ms(delays[len(delays)*99/100]), "invalidation-p99-ms")
		b.ReportMetric(ms(delays[len(delays)-1]), "invalidation-max-ms")
	}
}

// invalidationDelays writes n times through writer and measures, for each write, how
// long after its answer reader stopped answering the list from its cache; sorted.
func invalidationDelays(b *testing.B, client *http.Client, token, writer, reader string, n int) []time.Duration {
	b.Helper()
	do := func(method, base string) string {
		req, _ := http.NewRequest(method, base+"/v1/todos", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s %s: %d", method, base, resp.StatusCode)
		}
		return resp.Header.Get("X-Cache")
	}
	var delays []time.Duration
	for range n {
		// 100 writes a second at most: a busy replica's rate, below the rate at which
		// the peers' streams batch (200 a second).
		time.Sleep(10 * time.Millisecond)
		for do("GET", reader) != "Hit" {
		}
		do("POST", writer)
		written := time.Now()
		for {
			cache := do("GET", reader)
			if seen := time.Since(written); cache != "Hit" {
				delays = append(delays, seen)
				break
			} else if seen > 10*time.Second {
				b.Fatal("the reader never saw the write")
			}
		}
	}
	slices.Sort(delays)
	return delays
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
