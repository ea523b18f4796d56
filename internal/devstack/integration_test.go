package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// running is a stack started by a test.
type running struct {
	t      *testing.T
	o      Options
	out    *logtest.Buffer
	cancel context.CancelFunc
	done   chan error
	stack  *stack.Stack
}

// startStack runs the stack in the background and waits until stack.json appears.
func startStack(t *testing.T, o Options) *running {
	t.Helper()
	o = ownPorts(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, o: o, out: &logtest.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	r.o.Stdout = r.out
	go func() { r.done <- Run(ctx, r.o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	// Up: stack.json written and the summary printed after it (and after the watch
	// began, with Watch).
	path := filepath.Join(o.Dir, "stack.json")
	deadline := time.After(60 * time.Second)
	for {
		if st, err := stack.Read(path); err == nil && strings.Contains(r.out.String(), "The local stack is up.") {
			r.stack = st
			return r
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("Run returned before the stack was up: %v\noutput:\n%s", err, r.out)
		case <-deadline:
			t.Fatalf("the stack was not up (stack.json, then the summary) within 60s\noutput:\n%s", r.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop cancels the stack and returns Run's error.
func (r *running) stop() error {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		r.t.Fatalf("Run did not return within 30s of cancel\noutput:\n%s", r.out)
		return nil
	}
}

func (r *running) get(path string, into any) {
	r.t.Helper()
	client, err := httpsClient(r.stack.CAFile)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := client.Get(r.stack.APIURL + path)
	if err != nil {
		r.t.Fatalf("GET %s (trusting only the dev CA): %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		r.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			r.t.Fatalf("GET %s: %v", path, err)
		}
	}
}

func TestRunStartsMotoServesAndStops(t *testing.T) {
	if !mototest.Enabled() {
		t.Skip("integration test: needs moto_server; run `make test` or set SA_INTEGRATION=1")
	}
	t.Setenv("AWS_PROFILE", "an-operator-profile-that-must-not-leak")
	dir := t.TempDir()
	motoPort, apiPort := porttest.Free(t), porttest.Free(t)
	prefix := mototest.Name("dev") + "-"
	r := startStack(t, Options{
		Dir: dir, MotoPort: motoPort, APIPort: apiPort, Prefix: prefix,
		Services: []Service{testService(apiPort)}, StopTimeout: 5 * time.Second,
	})
	st := r.stack
	motoURL := fmt.Sprintf("http://127.0.0.1:%d", motoPort)
	apiURL := fmt.Sprintf("https://localhost:%d", apiPort)

	t.Run("stack.json", func(t *testing.T) {
		if !strings.HasPrefix(st.CognitoEndpoint, "http://127.0.0.1:") {
			t.Errorf("cognitoEndpoint %q, want the stand-in on a loopback port", st.CognitoEndpoint)
		}
		if !strings.HasPrefix(st.MetricsURL, "http://127.0.0.1:") || !strings.HasSuffix(st.MetricsURL, "/metrics") {
			t.Errorf("metricsUrl %q, want sa dev's /metrics on a loopback port", st.MetricsURL)
		}
		want := &stack.Stack{
			Region:          "us-east-1",
			AWSEndpoint:     motoURL,
			CognitoEndpoint: st.CognitoEndpoint,
			CAFile:          filepath.Join(dir, "tls", "ca.pem"),
			APIURL:          apiURL,
			MetricsURL:      st.MetricsURL,
			Services: map[string]stack.Service{
				"moto":    {URL: motoURL, Port: motoPort, PID: st.Services["moto"].PID},
				"testsvc": {URL: apiURL, Port: apiPort, PID: st.Services["testsvc"].PID},
			},
			Resources: stack.Resources{
				TodosTable: prefix + "todos", UserPoolID: st.Resources.UserPoolID, UserPoolClientID: st.Resources.UserPoolClientID,
				AdminsGroup: "admins",
				Issuer:      "https://cognito-idp.us-east-1.amazonaws.com/" + st.Resources.UserPoolID,
				JWKSURL:     motoURL + "/" + st.Resources.UserPoolID + "/.well-known/jwks.json",
			},
		}
		// The to-do resources are checked here; other features' fields are theirs to test.
		got := *st
		r := st.Resources
		got.Resources = stack.Resources{TodosTable: r.TodosTable, UserPoolID: r.UserPoolID, UserPoolClientID: r.UserPoolClientID, AdminsGroup: r.AdminsGroup, Issuer: r.Issuer, JWKSURL: r.JWKSURL}
		if diff := cmp.Diff(want, &got); diff != "" {
			t.Errorf("stack.json (-want +got):\n%s", diff)
		}
		for name, svc := range st.Services {
			if svc.PID <= 0 || !alive(svc.PID) {
				t.Errorf("%s: pid %d is not a running process", name, svc.PID)
			}
		}
		if st.Resources.UserPoolID == "" || st.Resources.UserPoolClientID == "" {
			t.Errorf("resources lack ids: %+v", st.Resources)
		}
	})

	t.Run("service environment", func(t *testing.T) {
		r.get("/readyz", nil)
		var env map[string]string
		r.get("/env", &env)
		key, err := os.ReadFile(filepath.Join(dir, "page-token.key"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"PORT": strconv.Itoa(apiPort), "HOST": "127.0.0.1",
			"TLS_CERT_FILE": filepath.Join(dir, "tls", "localhost.pem"), "TLS_KEY_FILE": filepath.Join(dir, "tls", "localhost-key.pem"),
			"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": motoURL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
			"TODOS_TABLE": prefix + "todos", "COGNITO_ISSUER": st.Resources.Issuer, "COGNITO_JWKS_URL": st.Resources.JWKSURL,
			"COGNITO_CLIENT_IDS": st.Resources.UserPoolClientID, "PAGE_TOKEN_KEY": strings.TrimSpace(string(key)), "DRAIN_DELAY": "0s",
		}
		got := map[string]string{}
		for k, v := range env {
			if _, ok := want[k]; ok || strings.HasPrefix(k, "AWS_") {
				got[k] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("service environment (-want +got):\n%s", diff)
		}
	})

	t.Run("output is prefixed", func(t *testing.T) {
		out := r.out.String()
		for _, want := range []string{
			"testsvc | testsvc: listening on 127.0.0.1:" + strconv.Itoa(apiPort),
			"testsvc | testsvc: a line on stderr",
			"created  dynamodb table " + prefix + "todos",
			"The local stack is up.",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("moto's output goes to its log only; each process's lines to its log file", func(t *testing.T) {
		if strings.Contains(r.out.String(), "moto | ") {
			t.Errorf("moto's lines reached the terminal:\n%s", r.out)
		}
		for name, want := range map[string]string{
			"moto":    `"GET /moto-api/ HTTP/1.1" 200`,
			"testsvc": "testsvc: listening on 127.0.0.1:" + strconv.Itoa(apiPort) + "\n",
		} {
			b, err := os.ReadFile(filepath.Join(dir, LogsDir, name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), want) {
				t.Errorf("%s.log lacks %q:\n%s", name, want, b)
			}
		}
	})

	if err := r.stop(); err != nil {
		t.Fatalf("Run after cancel: %v\noutput:\n%s", err, r.out)
	}
	for name, svc := range st.Services {
		if alive(svc.PID) {
			t.Errorf("%s (pid %d) still runs after the stack stopped", name, svc.PID)
		}
		if listening(svc.Port) {
			t.Errorf("something still listens on %s's port %d", name, svc.Port)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "stack.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stack.json still exists after the stack stopped (stat: %v)", err)
	}
	if !strings.Contains(r.out.String(), "testsvc | testsvc: stopping") {
		t.Errorf("testsvc was not stopped with SIGTERM:\n%s", r.out)
	}
}

func TestRunReusesWhatExists(t *testing.T) {
	ep := mototest.Endpoint(t)
	o := Options{Dir: t.TempDir(), Prefix: mototest.Name("dev") + "-", StopTimeout: 5 * time.Second}
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() == "127.0.0.1" {
		// Found by its port, as `sa dev` finds a moto_server on 4566.
		o.MotoPort, _ = strconv.Atoi(u.Port())
	} else {
		o.MotoEndpoint = ep
	}

	apiPort := porttest.Free(t)
	o.Services = []Service{testService(apiPort)}
	o = ownPorts(t, o) // the same ports for both runs: they are part of the resources
	first := startStack(t, o)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	files := func() map[string]string {
		m := map[string]string{}
		for _, f := range []string{"tls/ca.pem", "tls/ca-key.pem", "tls/localhost.pem", "tls/localhost-key.pem", "page-token.key"} {
			b, err := os.ReadFile(filepath.Join(o.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			m[f] = string(b)
		}
		return m
	}
	before := files()

	second := startStack(t, o)
	if diff := cmp.Diff(first.stack.Resources, second.stack.Resources); diff != "" {
		t.Errorf("second run's resources differ (-first +second):\n%s", diff)
	}
	if pid := second.stack.Services["moto"].PID; pid != 0 {
		t.Errorf("stack.json gives moto pid %d, but this stack did not start it", pid)
	}
	out := second.out.String()
	for _, want := range []string{"exists   dynamodb table " + o.Prefix + "todos", "exists   cognito user pool " + o.Prefix + "mytodolist"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out)
		}
	}
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, files()); diff != "" {
		t.Errorf("second run changed files it should reuse (-before +after):\n%s", diff)
	}
	if !motoAnswers(context.Background(), ep) {
		t.Errorf("the stack stopped a moto_server it did not start")
	}
}

// A service that dies before the stack is up (a configuration error, most often)
// stops the stack with its obituary.
func TestRunStopsWhenAChildDiesStarting(t *testing.T) {
	ep := mototest.Endpoint(t)
	dir := t.TempDir()
	o := Options{
		Dir: dir, MotoEndpoint: ep, Prefix: mototest.Name("dev") + "-", StopTimeout: 5 * time.Second,
		Services: []Service{testService(porttest.Free(t), "CRASH_AFTER=1ms")},
	}
	out := &logtest.Buffer{}
	o.Stdout = out
	errc := make(chan error, 1)
	go func() { errc <- Run(context.Background(), ownPorts(t, o)) }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not return after its service died\noutput:\n%s", out)
	}
	if err == nil {
		t.Fatal("Run returned nil after its service died")
	}
	for _, want := range []string{"testsvc", "exit status 3", "testsvc: crashing on purpose"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if !strings.Contains(out.String(), "!!! testsvc") {
		t.Errorf("the death was not reported loudly on the output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "stack.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stack.json still exists after the stack stopped (stat: %v)", err)
	}
}

// A service that dies once the stack is up is restarted with backoff, with its last
// lines shown once; the rest keeps running, stack.json and sa status follow.
func TestRunRestartsAServiceThatDies(t *testing.T) {
	ep := mototest.Endpoint(t)
	dir := t.TempDir()
	port := porttest.Free(t)
	r := startStack(t, Options{
		Dir: dir, MotoEndpoint: ep, Prefix: mototest.Name("dev") + "-", StopTimeout: 5 * time.Second,
		Services: []Service{testService(port)},
	})
	first := r.stack.Services["testsvc"].PID
	killed := time.Now()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var st []ProcessStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		st, err = Status(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 1 && st[0].Restarts == 1 && st[0].Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testsvc is not back and ready 30s after it was killed: status %+v\noutput:\n%s", st, r.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("figure: killed to ready again in %s (1s of it the first backoff)", time.Since(killed).Round(10*time.Millisecond))
	if n, _ := metricstest.Scrape(t, r.stack.MetricsURL).Value("sa_dev_restarts_total", map[string]string{"service": "testsvc"}); n != 1 {
		t.Errorf("sa dev's sa_dev_restarts_total{service=testsvc} = %v after one restart, want 1", n)
	}
	got := st[0]
	if got.PID == first || !alive(got.PID) {
		t.Errorf("status pid %d: want the new process, not %d", got.PID, first)
	}
	if got.Name != "testsvc" || got.URL != fmt.Sprintf("https://localhost:%d", port) || !strings.Contains(got.LastError, "signal: killed") {
		t.Errorf("status = %+v, want testsvc at its URL with the kill as last error", got)
	}
	if sj, err := stack.Read(filepath.Join(dir, "stack.json")); err != nil || sj.Services["testsvc"].PID != got.PID {
		t.Errorf("stack.json after the restart: %+v, %v; want the new pid %d", sj, err, got.PID)
	}
	r.get("/readyz", nil)
	out := r.out.String()
	for _, want := range []string{"!!! testsvc (pid " + strconv.Itoa(first) + ") died unexpectedly: signal: killed", "restarting testsvc in 1s", "restarted testsvc (pid " + strconv.Itoa(got.PID) + ", restart 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "its last lines were") != 1 {
		t.Errorf("the last lines were not shown exactly once:\n%s", out)
	}
	select {
	case err := <-r.done:
		t.Fatalf("the stack stopped: %v", err)
	default:
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if alive(got.PID) {
		t.Errorf("the restarted testsvc (pid %d) outlived the stack", got.PID)
	}
	if _, err := os.Stat(filepath.Join(dir, StatusFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s remains after the stack stopped (stat: %v)", StatusFile, err)
	}
}

func TestRunKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	ep := mototest.Endpoint(t)
	port := porttest.Free(t)
	r := startStack(t, Options{
		Dir: t.TempDir(), MotoEndpoint: ep, Prefix: mototest.Name("dev") + "-", StopTimeout: time.Second,
		Services: []Service{testService(port, "IGNORE_TERM=1")},
	})
	pid := r.stack.Services["testsvc"].PID
	start := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("stopped in %v: it should have waited StopTimeout (1s) for SIGTERM first", took)
	}
	if alive(pid) || listening(port) {
		t.Errorf("testsvc (pid %d) survived the stop", pid)
	}
}

// alive reports whether a process with that pid exists.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// listening reports whether something accepts connections on 127.0.0.1:port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
