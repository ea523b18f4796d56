package bench

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// build compiles a main package into dir and returns the binary's path.
func build(b *testing.B, dir, pkg, name string) string {
	b.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot(b)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// repoRoot is the module root: go test runs a package's tests in its directory,
// two levels below it. (Not runtime.Caller: make test builds with -trimpath, which
// leaves module paths, not file paths, in the binary.)
func repoRoot(b *testing.B) string {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// timeToReady starts bin and returns the time from exec to the first 200 on /readyz.
func timeToReady(b *testing.B, bin string, env []string) time.Duration {
	b.Helper()
	port := porttest.Free(b)
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("PORT=%d", port), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(b)), "HOST=127.0.0.1", "LOG_LEVEL=error", "DRAIN_DELAY=0s")
	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for time.Since(start) < 10*time.Second {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(500 * time.Microsecond)
	}
	b.Fatalf("%s was not ready within 10 s", bin)
	return 0
}

// BenchmarkStartup: todo-api's exec-to-ready time against a bare net/http binary,
// interleaved in the same run. Target: ratio ≤ 3.
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	hello := build(b, dir, "./test/bench/testdata/hello", "hello")
	api := build(b, dir, "./services/todo-api", "todo-api")
	apiEnv := []string{
		"AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"COGNITO_ISSUER=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench",
		"COGNITO_JWKS_URL=http://127.0.0.1:1/jwks.json",
		"COGNITO_CLIENT_IDS=bench",
		"PAGE_TOKEN_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	// Warm the page cache for both binaries.
	timeToReady(b, hello, nil)
	timeToReady(b, api, apiEnv)
	var sumHello, sumAPI time.Duration
	b.ResetTimer()
	for range b.N {
		sumHello += timeToReady(b, hello, nil)
		sumAPI += timeToReady(b, api, apiEnv)
	}
	n := float64(b.N)
	b.ReportMetric(float64(sumHello.Microseconds())/n/1000, "hello-ms")
	b.ReportMetric(float64(sumAPI.Microseconds())/n/1000, "todo-api-ms")
	b.ReportMetric(float64(sumAPI)/float64(sumHello), "ratio")
}
