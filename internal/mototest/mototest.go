// Package mototest gives integration tests a real moto_server to talk to over HTTP with
// the real AWS SDK.
//
// Integration tests are gated: they run when SA_INTEGRATION=1 (make test sets it) or
// when MOTO_ENDPOINT names a running moto_server; otherwise they skip, so `go test ./...`
// on its own needs no services. With the gate open, a missing moto_server is a failure,
// not a skip.
//
// Tests isolate their state with unique resource names (Name), never by resetting a
// server other packages share.
package mototest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// Region is the region tests use.
const Region = "us-east-1"

var (
	startOnce sync.Once
	started   *exec.Cmd
	endpoint  string
	startErr  error
)

// Enabled reports whether integration tests should run.
func Enabled() bool {
	return os.Getenv("SA_INTEGRATION") == "1" || os.Getenv("MOTO_ENDPOINT") != ""
}

// Endpoint returns the URL of a moto_server: MOTO_ENDPOINT when set, else one started
// for this test binary on a free loopback port. It skips the test when integration
// tests are not enabled.
func Endpoint(t testing.TB) string {
	t.Helper()
	if !Enabled() {
		t.Skip("integration test: needs moto_server; run `make test` or set SA_INTEGRATION=1 (or MOTO_ENDPOINT)")
	}
	if ep := os.Getenv("MOTO_ENDPOINT"); ep != "" {
		return strings.TrimRight(ep, "/")
	}
	startOnce.Do(func() { endpoint, startErr = start() })
	if startErr != nil {
		t.Fatalf("start moto_server: %v", startErr)
	}
	return endpoint
}

// Runner runs a package's tests: a *testing.M, or one wrapped with what the package
// sets up and tears down around its tests (test/e2e stops its shared stack there,
// before the moto_server it talks to).
type Runner interface{ Run() int }

// Main runs the tests of a package and stops a moto_server it started. Use it from
// TestMain: os.Exit(mototest.Main(m)).
func Main(m Runner) int {
	code := m.Run()
	if started != nil && started.Process != nil {
		_ = started.Process.Kill()
		_ = started.Wait()
	}
	return code
}

func start() (string, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", fmt.Errorf("moto_server is not on PATH: install it with `pip install 'moto[server]'` (make test does this): %w", err)
	}
	port, err := porttest.Find(1)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	childproc.Prepare(cmd, false)
	if _, err := childproc.Start(cmd); err != nil {
		return "", err
	}
	started = cmd
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := Wait(ep, 30*time.Second); err != nil {
		_ = cmd.Process.Kill()
		return "", err
	}
	return ep, nil
}

// Wait polls ep until moto answers or timeout passes.
func Wait(ep string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(ep + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto_server at %s did not answer within %s: %w", ep, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AWSConfig returns an SDK configuration that talks to moto at ep with dummy static
// credentials. The SDK's standard retries stay on, as in production, and each one is
// logged to t with the error that caused it: a retried call that is not idempotent
// (CreateTable, a conditional write) can fail on its second attempt because its first
// one took effect, and the log then names the first attempt's error.
func AWSConfig(t testing.TB, ep string) aws.Config {
	t.Helper()
	log := newTestLog(t)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithBaseEndpoint(ep),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithRetryer(func() aws.Retryer { return loggedRetryer{RetryerV2: retry.NewStandard(), log: log} }),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

// loggedRetryer logs each retry to the test until the test's cleanup starts: a client
// can outlive its test (a poller stopping), and logging to a finished test panics.
type loggedRetryer struct {
	aws.RetryerV2
	log *testLog
}

// testLog is t's log until t's cleanup starts. It is made with the configuration, not
// with each client: a client made after the test ended must not register a cleanup.
type testLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func newTestLog(t testing.TB) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (r loggedRetryer) IsErrorRetryable(err error) bool {
	ok := r.RetryerV2.IsErrorRetryable(err)
	if ok {
		r.log.mu.Lock()
		if !r.log.done {
			r.log.t.Logf("AWS SDK: retrying after a retryable error: %v", err)
		}
		r.log.mu.Unlock()
	}
	return ok
}

// Name returns prefix plus a random suffix, a resource name no other test uses.
func Name(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Server is a moto_server of one test's own: for tests that change global moto state
// (IAM enforcement through /moto-api/reset-auth) or that stop and restart moto.
type Server struct {
	Endpoint string
	port     int
	cmd      *exec.Cmd
	release  childproc.Release
}

// Private starts a moto_server for t alone on a free port; it is stopped when t ends.
// It skips like Endpoint when integration tests are not enabled.
func Private(t testing.TB) *Server {
	t.Helper()
	if !Enabled() {
		t.Skip("integration test: needs moto_server; run `make test` or set SA_INTEGRATION=1 (or MOTO_ENDPOINT)")
	}
	// Below the ephemeral range: a restart binds the port again, long after the check.
	s := &Server{port: porttest.Free(t)}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	if err := s.Start(); err != nil {
		t.Fatalf("start private moto_server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts (or restarts) the server on its port; state starts empty.
func (s *Server) Start() error {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return fmt.Errorf("moto_server is not on PATH: %w", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(s.port))
	childproc.Prepare(cmd, false)
	release, err := childproc.Start(cmd)
	if err != nil {
		return err
	}
	s.cmd, s.release = cmd, release
	return Wait(s.Endpoint, 30*time.Second)
}

// Stop kills the server and waits until its port is closed.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.release()
	s.cmd = nil
}
