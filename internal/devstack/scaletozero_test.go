package devstack

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// The repository's manifests decide what scales to zero locally: the request-driven
// services, not the gateway (min-scale 1); the sources are Deployments.
func TestScalesToZeroReadsTheManifests(t *testing.T) {
	got, err := ScalesToZero(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"gateway": false, "todo-api": true, "blog-api": true, "welcome-mailer": true, "thumbnailer": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Knative Services that scale to zero (-want +got):\n%s", diff)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config", "400-x.yaml"), "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/min-scale: one\n")
	if _, err := ScalesToZero(dir); err == nil || !strings.Contains(err.Error(), `Service x: autoscaling.knative.dev/min-scale "one" is not a number`) {
		t.Errorf("a min-scale that is not a number: error %v", err)
	}
}

// knativeService is a manifest of a Knative Service with a min-scale.
func knativeService(name, minScale string) string {
	return fmt.Sprintf("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  template:\n    metadata:\n      annotations:\n        %s: %q\n", name, minScaleAnnotation, minScale)
}

// With --scale-to-zero a service stops after the idle window and a request starts it
// again: concurrent requests during one cold start are all served by one start, a
// start that fails answers 503 with Retry-After, and sa status reports the cold starts.
func TestScaleToZero(t *testing.T) {
	ep := mototest.Endpoint(t)
	src := watchModule(t)
	writeFile(t, filepath.Join(src, "config", "400-services.yaml"), knativeService("reader", "0")+"---\n"+knativeService("other", "1"))
	dir := t.TempDir()
	readerPort, otherPort := porttest.Free(t), porttest.Free(t)
	const idle = 1500 * time.Millisecond
	r := startStack(t, Options{
		Dir: dir, SourceDir: src, MotoEndpoint: ep, Prefix: mototest.Name("dev") + "-", StopTimeout: 5 * time.Second,
		Services:    []Service{watchedService("reader", readerPort), watchedService("other", otherPort)},
		ScaleToZero: true, Idle: idle,
	})
	client, err := httpsClient(r.stack.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	client.Timeout = time.Minute
	status := func() map[string]ProcessStatus { return statusByName(t, dir) }
	first := status()
	if !first["reader"].ScalesToZero || first["other"].ScalesToZero {
		t.Errorf("status: %+v; want reader (min-scale 0) to scale to zero and other (min-scale 1) not", first)
	}
	scaledToZero := func() {
		t.Helper()
		r.waitFor("scale to zero", func() bool { return status()["reader"].PID == 0 })
	}
	scaledToZero()
	if alive(first["reader"].PID) {
		t.Errorf("reader's first process (pid %d) runs after it was scaled to zero", first["reader"].PID)
	}
	if !listening(readerPort) {
		t.Errorf("nothing listens on reader's port %d while it is scaled to zero", readerPort)
	}

	// Concurrent requests during one cold start: all served, by one start.
	const n = 8
	var wg sync.WaitGroup
	answers := make([]string, n)
	sent := time.Now()
	for i := range n {
		wg.Go(func() {
			resp, err := client.Get(fmt.Sprintf("https://localhost:%d/word", readerPort))
			if err != nil {
				answers[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers[i] = resp.Status + " " + string(b)
		})
	}
	wg.Wait()
	t.Logf("figure: %d concurrent requests to a service scaled to zero answered within %s", n, time.Since(sent).Round(time.Millisecond))
	for i, a := range answers {
		if a != "200 OK hello" {
			t.Errorf("request %d during the cold start: %q, want 200 OK hello", i, a)
		}
	}
	// Its pid may be 0 already: after Idle (1.5s) without a request it is stopped again,
	// and a loaded machine can take that long to read the status.
	st := status()["reader"]
	if st.ColdStarts != 1 || st.ColdStartMs <= 0 {
		t.Errorf("status after one cold start: %+v; want coldStarts 1, coldStartMs > 0", st)
	}
	t.Logf("figure: cold start of the test service %d ms (process start to /readyz 200)", st.ColdStartMs)
	// sa dev's own /metrics (the URL in stack.json) has the cold start in its histogram.
	if !strings.HasPrefix(r.stack.MetricsURL, "http://127.0.0.1:") || !strings.HasSuffix(r.stack.MetricsURL, "/metrics") {
		t.Fatalf("stack.json metricsUrl %q, want http://127.0.0.1:<port>/metrics", r.stack.MetricsURL)
	}
	coldStarts := func() (float64, float64) {
		fams := metricstest.Scrape(t, r.stack.MetricsURL)
		n, _ := fams.Value("sa_dev_cold_start_seconds", map[string]string{"service": "reader"})
		var sum float64
		for _, m := range fams["sa_dev_cold_start_seconds"].GetMetric() {
			sum += m.GetHistogram().GetSampleSum()
		}
		if o, ok := fams.Value("sa_dev_cold_start_seconds", map[string]string{"service": "other"}); ok {
			t.Errorf("sa_dev_cold_start_seconds{service=other} = %v: other does not scale to zero", o)
		}
		return n, sum
	}
	if n, sum := coldStarts(); n != 1 || sum <= 0 {
		t.Errorf("sa_dev_cold_start_seconds{service=reader}: count %v, sum %vs after one cold start; want count 1, sum > 0", n, sum)
	}
	// The same server still takes the services' spans.
	resp, err := http.Post(strings.TrimSuffix(r.stack.MetricsURL, "/metrics")+"/v1/traces", "application/x-protobuf", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /v1/traces beside sa dev's /metrics: %s, want 200", resp.Status)
	}
	if c := strings.Count(r.out.String(), "reader started on a request"); c != 1 {
		t.Errorf("%d requests at once started reader %d times, want once:\n%s", n, c, r.out)
	}

	// After the idle window it is gone again, and the next request brings it back.
	scaledToZero()
	if st.PID != 0 && alive(st.PID) {
		t.Errorf("reader (pid %d) runs after the idle window", st.PID)
	}
	resp, err = client.Get(fmt.Sprintf("https://localhost:%d/word", readerPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || status()["reader"].ColdStarts != 2 {
		t.Errorf("second cold start: %s, status %+v", resp.Status, status()["reader"])
	}
	if n, _ := coldStarts(); n != 2 {
		t.Errorf("sa_dev_cold_start_seconds{service=reader} count %v after two cold starts, want 2", n)
	}

	// A start that fails answers 503 with Retry-After, and the next one can succeed.
	scaledToZero()
	bin := filepath.Join(dir, "bin", "reader")
	if err := os.Rename(bin, bin+".away"); err != nil {
		t.Fatal(err)
	}
	resp, err = client.Get(fmt.Sprintf("https://localhost:%d/word", readerPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "reader was scaled to zero and could not be started") {
		t.Errorf("a start that fails: %s, Retry-After %q, body %q; want 503 with Retry-After and the reason", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	if err := os.Rename(bin+".away", bin); err != nil {
		t.Fatal(err)
	}
	resp, err = client.Get(fmt.Sprintf("https://localhost:%d/word", readerPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the binary is back: %s, want 200", resp.Status)
	}
	if got := status()["other"]; got.PID != first["other"].PID {
		t.Errorf("other (min-scale 1) was stopped: %+v, first pid %d", got, first["other"].PID)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if listening(readerPort) {
		t.Errorf("reader's port %d is still open after the stack stopped", readerPort)
	}
}
