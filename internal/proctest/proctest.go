// Package proctest runs a service as the process it is in production, for tests: built
// with the settings ko.yaml gives its image, started, waited for until it says it is
// ready, and stopped with SIGTERM when the test ends.
package proctest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
)

// Build compiles the main package in dir (relative to the test's directory, or
// absolute) into a temporary directory, with ko.yaml's defaultEnv and defaultFlags
// (found at the module's root, above the test), and returns the binary's path.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	env, flags, err := devstack.KoBuildSettings(root)
	if err != nil {
		tb.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), filepath.Base(abs))
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// moduleRoot is the nearest directory above the working directory with a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// WaitReady waits until GET <base>/readyz answers 200, failing the test after timeout.
func WaitReady(tb testing.TB, base string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("%s/readyz did not answer 200 within %s", base, timeout)
}

// Start runs bin with exactly env, its stdout and stderr in the returned buffer, killed
// if the test process dies; at the end of the test it is sent SIGTERM (and killed after
// 10 s), and its output logged if the test failed.
func Start(tb testing.TB, bin, name string, env []string) (*exec.Cmd, *logtest.Buffer) {
	tb.Helper()
	cmd := exec.Command(bin)
	cmd.Env = env
	out := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	childproc.Prepare(cmd, false)
	if _, err := childproc.Start(cmd); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd, out
}
