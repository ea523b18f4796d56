package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// buildTool compiles a main package of the module into dir.
func buildTool(t testing.TB, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot(t)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// localStack is a running `sa dev`.
type localStack struct {
	cmd       *exec.Cmd
	out       *logtest.Buffer
	dir       string
	stackFile string
	stack     *stack.Stack
	done      chan error
}

// startStack runs `sa dev` against the test moto on free ports, with a unique resource
// prefix, and waits until it has written its stack file.
func startStack(t *testing.T) *localStack { return startStackWith(t) }

// startStackReplicas is startStack with the to-do API served by gateways gateway
// processes (sa dev --gateway-replicas).
func startStackReplicas(t *testing.T, gateways int) *localStack {
	t.Helper()
	return startStackN(t, gateways, "--gateway-replicas", fmt.Sprint(gateways))
}

// startStackWith is startStack with more arguments for `sa dev`.
func startStackWith(t *testing.T, args ...string) *localStack {
	t.Helper()
	return startStackN(t, 1, args...)
}

// startStackN runs `sa dev` with args, its port block sized for gateways replicas.
func startStackN(t *testing.T, gateways int, args ...string) *localStack {
	t.Helper()
	ep := mototest.Endpoint(t)
	bin := t.TempDir()
	sa := buildTool(t, bin, "./cmd/sa")
	dir := filepath.Join(t.TempDir(), ".dev")
	// All of the stack's ports come from one block below the kernel's ephemeral range
	// (32768 and up on Linux), where no outgoing connection of a parallel test can take
	// one between this check and the bind: 0..11 the internal services, 12 the API,
	// 13 the edge, 14 the app's edge, 16 and up three for each gateway replica.
	base := porttest.Block(t, 16+3*gateways)
	port := base + 12
	prefix := strings.ReplaceAll(mototest.Name("e2e"), "-", "") + "-"
	flags := []string{"dev", "--dir", dir, "--api-port", fmt.Sprint(port), "--prefix", prefix,
		"--port-base", fmt.Sprint(base), "--edge-port", fmt.Sprint(base + 13), "--app-port", fmt.Sprint(base + 14)}
	if !slices.Contains(args, "--moto-port") {
		// The tests' shared moto; with --moto-port sa dev starts and supervises its own.
		flags = append(flags, "--moto-endpoint", ep)
	}
	cmd := exec.Command(sa, append(flags, args...)...)
	cmd.Dir = repoRoot(t)
	childproc.Prepare(cmd, false)
	out := &logtest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if _, err := childproc.Start(cmd); err != nil {
		t.Fatal(err)
	}
	s := &localStack{cmd: cmd, out: out, dir: dir, stackFile: filepath.Join(dir, "stack.json"), done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Signal(os.Interrupt)
			select {
			case <-s.done:
			case <-time.After(20 * time.Second):
				_ = s.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("sa dev output:\n%s", s.out.String())
		}
	})
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if st, err := stack.Read(s.stackFile); err == nil && st.APIURL != "" {
			s.stack = st
			if strings.Contains(out.String(), "todo-api") {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("sa dev exited before the stack was up: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack was not up within 4 minutes:\n%s", out.String())
		}
	}
}

// stop interrupts sa dev as Ctrl-C would and waits for it to exit.
func (s *localStack) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("sa dev exited with %v after Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("sa dev did not stop within 30 s of Ctrl-C")
	}
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
