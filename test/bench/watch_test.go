package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// saveToServingTarget is issue 15's figure: from saving a service's Go file to the
// rebuilt service serving, on a warm build cache.
const saveToServingTarget = 3 * time.Second

// BenchmarkSaveToServing: `sa dev --watch` (devstack.Run with Watch) on an extract of
// the repository at HEAD, running blog-api; each iteration saves a new message into
// blog-api's not-found handler and times the save until blog-api answers it. The
// reference, interleaved in the same run, is a bare `go build` of the same kind of
// edit (ko.yaml's settings as sa dev builds, -ldflags=-s -w included, in a second
// extract, unwatched): the part no watcher can save; beside it the same build keeping
// the symbol table and DWARF (without ko.yaml's -ldflags=-s -w and
// -gcflags=all=-dwarf=false, as sa dev built before it took them; sa dev --debug builds
// so, and without optimisation). Where the time goes is reported from sa dev's
// own sa_dev_reload_seconds: wait (the debounce), build, stop, start (to ready).
// Target: save to serving ≤ 3 s on a warm build cache (the build's share under this
// machine's load is what the ratio shows).
func BenchmarkSaveToServing(b *testing.B) {
	ep := mototest.Endpoint(b)
	watched, bare := extractHEAD(b), extractHEAD(b)
	var svcs []devstack.Service
	for _, svc := range devstack.Services() {
		if svc.Name == "blog-api" {
			svcs = append(svcs, svc)
		}
	}
	dir := b.TempDir()
	out := &logtest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- devstack.Run(ctx, devstack.Options{
			Dir: dir, SourceDir: watched, MotoEndpoint: ep, Prefix: mototest.Name("bench") + "-", Stdout: out,
			PortBase: porttest.Block(b, 16), Services: svcs, Watch: true, StopTimeout: 5 * time.Second,
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(out.String(), "watching ") {
		select {
		case err := <-done:
			b.Fatalf("sa dev stopped: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("the stack did not come up watching within 5 minutes:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := stack.Read(filepath.Join(dir, "stack.json"))
	if err != nil {
		b.Fatal(err)
	}
	client, err := devstack.HTTPSClient(st.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	url := st.Services["blog-api"].URL + "/v1/posts/NOT_A_SLUG"
	answer := func() string {
		resp, err := client.Get(url)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	handler := filepath.Join("services", "blog-api", "internal", "blog", "service.go")
	koEnv, koFlags, err := devstack.KoBuildSettings(bare)
	if err != nil {
		b.Fatal(err)
	}
	withDWARF := slices.DeleteFunc(slices.Clone(koFlags), func(f string) bool {
		return strings.HasPrefix(f, "-ldflags=") || strings.HasPrefix(f, "-gcflags=")
	})
	if len(withDWARF) != len(koFlags)-2 {
		b.Fatalf("ko.yaml's flags %q hold no -ldflags (-s -w) or no -gcflags (-dwarf=false)", koFlags)
	}
	// A build of the bare extract in each setting before timing, so both start warm
	// (the first with DWARF compiles every package once more).
	goBuild := func(flags []string) time.Duration {
		start := time.Now()
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", filepath.Join(b.TempDir(), "blog-api"), "./services/blog-api")...)
		cmd.Dir, cmd.Env = bare, append(os.Environ(), koEnv...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, msg)
		}
		return time.Since(start)
	}
	goBuild(koFlags)
	goBuild(withDWARF)
	var serving, building, buildingDWARF time.Duration
	b.ResetTimer()
	for i := range b.N {
		// Different text in each extract: the same file would compile once and be
		// found in the build cache the second time.
		editHandler(b, filepath.Join(bare, handler), fmt.Sprintf("no such post (bare build %d)", i))
		building += goBuild(koFlags)
		editHandler(b, filepath.Join(bare, handler), fmt.Sprintf("no such post (bare build with DWARF %d)", i))
		buildingDWARF += goBuild(withDWARF)

		msg := fmt.Sprintf("no such post (save %d)", i)

		editHandler(b, filepath.Join(watched, handler), msg)
		saved := time.Now()
		for !strings.Contains(answer(), msg) {
			if time.Since(saved) > 2*time.Minute {
				b.Fatalf("blog-api does not answer %q 2 minutes after the save:\n%s", msg, out)
			}
			time.Sleep(10 * time.Millisecond)
		}
		serving += time.Since(saved)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(serving.Milliseconds())/n, "ms-save-to-serving")
	b.ReportMetric(float64(building.Milliseconds())/n, "ms-go-build")
	b.ReportMetric(float64(buildingDWARF.Milliseconds())/n, "ms-go-build-dwarf")
	b.ReportMetric(float64(serving)/float64(building), "ratio-to-go-build")
	b.ReportMetric(float64(building)/float64(buildingDWARF), "ratio-go-build-to-dwarf")
	// sa dev's phases of the same reloads: each a mean over them.
	fams := metricstest.WaitValue(b, st.MetricsURL, "sa_dev_reload_seconds", map[string]string{"service": "blog-api", "phase": "serving"}, n)
	for _, phase := range []string{"wait", "build", "stop", "start"} {
		mean, ok := histogramMean(fams, "sa_dev_reload_seconds", map[string]string{"service": "blog-api", "phase": phase})
		if !ok {
			b.Fatalf("sa dev reports no %s phase of blog-api's reloads: %v", phase, fams.Series("sa_dev_reload_seconds"))
		}
		b.ReportMetric(mean*1000, "ms-"+phase)
	}
	b.ReportMetric(float64(serving)/n/float64(saveToServingTarget), "ratio-to-3s-target")
}

// histogramMean is the mean of the histogram series of family name matching labels.
func histogramMean(fams metricstest.Families, name string, labels map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		h := m.GetHistogram()
		if h == nil || h.GetSampleCount() == 0 {
			continue
		}
		matched := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				matched++
			}
		}
		if matched == len(labels) {
			return h.GetSampleSum() / float64(h.GetSampleCount()), true
		}
	}
	return 0, false
}

// extractHEAD writes the repository's files at HEAD (git archive) into a new directory.
func extractHEAD(b *testing.B) string {
	b.Helper()
	dst := b.TempDir()
	archive := exec.Command("git", "-C", repoRoot(b), "archive", "--format=tar", "HEAD")
	untar := exec.Command("tar", "-x", "-C", dst)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	untar.Stdin = pipe
	if err := archive.Start(); err != nil {
		b.Fatalf("git archive: %v", err)
	}
	if msg, err := untar.CombinedOutput(); err != nil {
		b.Fatalf("tar -x: %v\n%s", err, msg)
	}
	if err := archive.Wait(); err != nil {
		b.Fatalf("git archive: %v", err)
	}
	return dst
}

// editHandler puts msg in place of the first "no such post ..." message (GetPost's answer
// to a slug that cannot be one) in the Go file at path.
func editHandler(b *testing.B, path, msg string) {
	b.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	s := string(src)
	i := strings.Index(s, `"no such post`)
	j := -1
	if i >= 0 {
		j = strings.Index(s[i+1:], `"`)
	}
	if j < 0 {
		b.Fatalf("%s has no \"no such post ...\" message", path)
	}
	if err := os.WriteFile(path, []byte(s[:i+1]+msg+s[i+1+j:]), 0o644); err != nil {
		b.Fatal(err)
	}
}
