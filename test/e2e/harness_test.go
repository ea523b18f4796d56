package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestMain runs the tests, then stops the stack they share (failing the run unless it
// stops cleanly on Ctrl-C) and removes the tools built for them.
func TestMain(m *testing.M) { os.Exit(mototest.Main(withSharedStack{m})) }

// withSharedStack is the package's tests followed by the shared stack's shutdown.
type withSharedStack struct{ m *testing.M }

// Run runs the tests, then stops the shared stack if a test started it.
func (w withSharedStack) Run() int {
	code := w.m.Run()
	if s := shared.stack; s != nil {
		if err := s.shutdown(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: the stack the tests shared: %v\nsa dev output (the last 8 KiB):\n%s\n", err, tail(s.out.String(), 8<<10))
			code = max(code, 1)
		}
		_ = os.RemoveAll(s.root)
	}
	if tools.dir != "" {
		_ = os.RemoveAll(tools.dir)
	}
	return code
}

// repoRoot is the module's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// moduleRoot is the module's root directory: go test runs a package's tests in its
// directory, test/e2e.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("the test's working directory: %w", err)
	}
	return filepath.Clean(filepath.Join(wd, "..", "..")), nil
}

// tools holds the binaries built for the tests: each main package once per run.
var tools struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// buildTool compiles a main package of the module (once per test run) and returns the
// binary's path.
func buildTool(t testing.TB, pkg string) string {
	t.Helper()
	tools.mu.Lock()
	defer tools.mu.Unlock()
	if bin, ok := tools.bins[pkg]; ok {
		return bin
	}
	if tools.dir == "" {
		dir, err := os.MkdirTemp("", "e2e-tools-")
		if err != nil {
			t.Fatal(err)
		}
		tools.dir, tools.bins = dir, map[string]string{}
	}
	out := filepath.Join(tools.dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot(t)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	tools.bins[pkg] = out
	return out
}

// localStack is a running `sa dev`.
type localStack struct {
	cmd       *exec.Cmd
	out       *logtest.Buffer
	root      string // the temporary directory that holds dir
	dir       string
	stackFile string
	stack     *stack.Stack
	done      chan error
	upIn      time.Duration // from starting sa dev to its stack file and todo-api's start
}

// shared is the stack of every test that needs `sa dev` with its defaults and neither
// stops nor restarts any part of it: started by the first such test, stopped by
// TestMain. Each test isolates itself in it with users, posts, subscribers and files
// of its own (unique emails, slugs and keys), as people sharing one deployment do.
var shared struct {
	once  sync.Once
	stack *localStack
	err   error
	by    string // the test that started it
}

// blogPosts is held for their whole run by the tests that publish blog posts on the
// shared stack: they check the newest posts (the home page, the list's order and its
// ETag on a reload), which another test's post published meanwhile would change.
var blogPosts sync.Mutex

// sharedStack returns the shared stack, starting it on first use. A test that fails
// logs what sa dev wrote while it ran.
func sharedStack(t *testing.T) *localStack {
	t.Helper()
	ep := mototest.Endpoint(t)
	sa := buildTool(t, "./cmd/sa")
	shared.once.Do(func() {
		shared.by = t.Name()
		shared.stack, shared.err = launch(sa, ep, 1)
		if shared.err == nil {
			t.Logf("the shared stack was up in %s", shared.stack.upIn.Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		if shared.by == t.Name() {
			t.Fatalf("the shared stack did not come up: %v", shared.err)
		}
		first, _, _ := strings.Cut(shared.err.Error(), "\n")
		t.Fatalf("the shared stack did not come up: %s (sa dev's output is in %s's failure)", first, shared.by)
	}
	s := shared.stack
	select {
	case err := <-s.done:
		s.done <- err
		t.Fatalf("the shared stack's sa dev exited before this test: %v\nits output (the last 8 KiB):\n%s", err, tail(s.out.String(), 8<<10))
	default:
	}
	from := len(s.out.String())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sa dev output (the shared stack) while this test ran:\n%s", s.out.String()[from:])
		}
	})
	return s
}

// startStackReplicas is startStackWith with the to-do API served by gateways gateway
// processes (sa dev --gateway-replicas).
func startStackReplicas(t *testing.T, gateways int) *localStack {
	t.Helper()
	return startStackN(t, gateways, "--gateway-replicas", fmt.Sprint(gateways))
}

// startStackWith runs a stack of the test's own, `sa dev` with more arguments: for a
// test that needs other options than the shared stack's, or that stops or restarts a
// part of it. Tests that need neither use sharedStack.
func startStackWith(t *testing.T, args ...string) *localStack {
	t.Helper()
	return startStackN(t, 1, args...)
}

// startStackN runs a stack of the test's own, `sa dev` with args, its port block sized
// for gateways replicas; it is stopped when the test ends.
func startStackN(t *testing.T, gateways int, args ...string) *localStack {
	t.Helper()
	ep := mototest.Endpoint(t)
	s, err := launch(buildTool(t, "./cmd/sa"), ep, gateways, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the stack was up in %s", s.upIn.Round(time.Millisecond))
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.halt()
		}
		if t.Failed() {
			t.Logf("sa dev output:\n%s", s.out.String())
		}
		_ = os.RemoveAll(s.root)
	})
	return s
}

// startLimit is how long a stack may take to come up.
const startLimit = 10 * time.Minute

// launch runs `sa dev` (the binary sa) against the moto at ep on free ports, with a
// unique resource prefix, and waits until it has written its stack file.
func launch(sa, ep string, gateways int, args ...string) (*localStack, error) {
	root, err := os.MkdirTemp("", "e2e-stack-")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, ".dev")
	// All of the stack's ports come from one block below the kernel's ephemeral range
	// (32768 and up on Linux), where no outgoing connection of a parallel test can take
	// one between this check and the bind: 0..11 the internal services, 12 the API,
	// 13 the edge, 14 the app's edge, 16 and up three for each gateway replica.
	base, err := porttest.Find(16 + 3*gateways)
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	port := base + 12
	prefix := strings.ReplaceAll(mototest.Name("e2e"), "-", "") + "-"
	flags := []string{"dev", "--dir", dir, "--api-port", fmt.Sprint(port), "--prefix", prefix,
		"--port-base", fmt.Sprint(base), "--edge-port", fmt.Sprint(base + 13), "--app-port", fmt.Sprint(base + 14)}
	if !slices.Contains(args, "--moto-port") {
		// The tests' shared moto; with --moto-port sa dev starts and supervises its own.
		flags = append(flags, "--moto-endpoint", ep)
	}
	cmd := exec.Command(sa, append(flags, args...)...)
	if cmd.Dir, err = moduleRoot(); err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	childproc.Prepare(cmd, false)
	out := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	began := time.Now()
	if _, err := childproc.Start(cmd); err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	s := &localStack{cmd: cmd, out: out, root: root, dir: dir, stackFile: filepath.Join(dir, "stack.json"), done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	// A guard against a hung start, not a speed check (make bench measures start-up):
	// on a 2-core machine shared with other builds (load average 20) a start took over
	// 4 minutes, and one slow start of the shared stack fails every test that shares it.
	deadline := began.Add(startLimit)
	for {
		if st, err := stack.Read(s.stackFile); err == nil && st.APIURL != "" {
			s.stack = st
			if strings.Contains(out.String(), "todo-api") {
				s.upIn = time.Since(began)
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			_ = os.RemoveAll(root)
			return nil, fmt.Errorf("sa dev exited before the stack was up: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.halt()
			_ = os.RemoveAll(root)
			return nil, fmt.Errorf("the stack was not up within %s:\n%s", startLimit, out.String())
		}
	}
}

// halt interrupts sa dev and kills it if it has not exited 20 s later.
func (s *localStack) halt() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// stop interrupts sa dev as Ctrl-C would and fails the test unless it exits cleanly
// within 30 s and leaves none of the stack's ports listening.
func (s *localStack) stop(t *testing.T) {
	t.Helper()
	if err := s.shutdown(); err != nil {
		t.Error(err)
	}
}

// shutdown is stop for code without a test: the error says what went wrong.
func (s *localStack) shutdown() error {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			return fmt.Errorf("sa dev exited with %v after Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("sa dev did not stop within 30 s of Ctrl-C")
	}
	// Ctrl-C stops everything sa dev started: none of the stack's ports still listens.
	var open []string
	for _, addr := range s.ports() {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			open = append(open, addr)
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("something still listens on %s after sa dev stopped", strings.Join(open, ", "))
	}
	return nil
}

// ports lists the loopback addresses the stack served on (its services, edges,
// gateway replicas, the Cognito stand-in, its metrics), leaving out moto when sa dev
// was given the tests' moto rather than starting its own.
func (s *localStack) ports() []string {
	st := s.stack
	urls := []string{st.APIURL, st.BlogURL, st.AppURL, st.CognitoEndpoint, st.MetricsURL}
	add := func(svcs map[string]stack.Service) {
		for _, svc := range svcs {
			urls = append(urls, svc.URL)
		}
	}
	add(st.Services)
	for _, r := range st.Regions {
		urls = append(urls, r.BlogURL)
		add(r.Services)
	}
	for _, r := range st.GatewayReplicas {
		urls = append(urls, r.URL)
	}
	external := ""
	if !slices.Contains(s.cmd.Args, "--moto-port") {
		external = hostPort(st.AWSEndpoint)
	}
	var out []string
	for _, u := range urls {
		if hp := hostPort(u); hp != "" && hp != external && !slices.Contains(out, hp) {
			out = append(out, hp)
		}
	}
	slices.Sort(out)
	return out
}

// hostPort is the 127.0.0.1 address of a URL on this machine ("" when it has none).
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		return ""
	}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", u.Port())
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// user is one person using the client CLI, with their own config directory.
type user struct {
	t        *testing.T
	bin      string
	stack    string
	home     string
	email    string
	password string
}

func newUser(t *testing.T, bin, stackFile, name string) *user {
	return &user{t: t, bin: bin, stack: stackFile, home: t.TempDir(), email: fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano()), password: "Corr3ct-Horse-Battery"}
}

// run runs the todo CLI and returns stdout, stderr and the exit code.
func (u *user) run(args ...string) (string, string, int) {
	u.t.Helper()
	return u.runWith(nil, args...)
}

// runWith is run with more environment variables.
func (u *user) runWith(env map[string]string, args ...string) (string, string, int) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, append([]string{"--stack", u.stack}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+u.home, "TODO_PASSWORD="+u.password, "HOME="+u.home)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			u.t.Fatalf("todo %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// ok runs the CLI and fails the test unless it exits 0.
func (u *user) ok(args ...string) string {
	u.t.Helper()
	out, errOut, code := u.run(args...)
	if code != 0 {
		u.t.Fatalf("todo %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// okJSON runs the CLI with --json and decodes its output into v.
func (u *user) okJSON(v any, args ...string) {
	u.t.Helper()
	out := u.ok(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		u.t.Fatalf("todo --json %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}
