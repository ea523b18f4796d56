package e2e

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

// TestScaleToZeroStack runs the whole stack with `sa dev --scale-to-zero`: a to-do
// added while todo-api is scaled to zero goes through the gateway, is held through
// todo-api's cold start and succeeds; each service that scales to zero comes back on a
// request after its idle window, and `sa status --json` reports its cold start.
func TestScaleToZeroStack(t *testing.T) {
	// A stack of its own: run beside the other tests with stacks of their own, after the
	// ones on the shared stack (go test runs parallel tests once the others are done).
	t.Parallel()
	s := startStackWith(t, "--scale-to-zero", "--idle", "2s")
	sa := buildTool(t, "./cmd/sa")
	bin := buildTool(t, "./cmd/todo")
	client, err := devstack.HTTPSClient(s.stack.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	client.Timeout = time.Minute
	status := func() map[string]devstack.ProcessStatus {
		t.Helper()
		list, err := devstack.Status(context.Background(), s.dir)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]devstack.ProcessStatus{}
		for _, p := range list {
			m[p.Name] = p
		}
		return m
	}
	waitScaledToZero := func(name string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for status()[name].PID != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s was not scaled to zero within a minute: %+v", name, status()[name])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	st := status()
	for _, name := range []string{"todo-api", "blog-api", "welcome-mailer", "thumbnailer"} {
		if !st[name].ScalesToZero {
			t.Errorf("%s does not scale to zero (min-scale 0 in config/): %+v", name, st[name])
		}
	}
	for _, name := range []string{"gateway", "edge", "app-edge", "dynamodb-source", "s3-source"} {
		if st[name].ScalesToZero {
			t.Errorf("%s scales to zero; it must stay up: %+v", name, st[name])
		}
	}

	u := newUser(t, bin, s.stackFile, "cold")
	u.ok("signup", "--email", u.email)
	u.ok("confirm", "--email", u.email, "--code", "123456")
	u.ok("login", "--email", u.email)
	waitScaledToZero("todo-api")
	var added todoJSON
	u.okJSON(&added, "add", "Added while todo-api was scaled to zero")
	if added.ID == "" {
		t.Fatalf("add returned no to-do: %+v", added)
	}
	// Not its pid: it may be scaled to zero again by the time the status is read.
	if got := status()["todo-api"]; got.ColdStarts < 1 {
		t.Errorf("todo-api after a request through the gateway: %+v; want a cold start", got)
	}

	// Each one's cold start, from a request to its own URL (a path it answers 404 or
	// 405: any request but a probe starts it).
	for _, name := range []string{"todo-api", "blog-api", "welcome-mailer", "thumbnailer"} {
		waitScaledToZero(name)
		before := status()[name].ColdStarts
		resp, err := client.Get(s.stack.Services[name].URL + "/v1/cold")
		if err != nil {
			t.Fatalf("%s scaled to zero: %v", name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway {
			t.Errorf("%s: %s from the activator, want the service's own answer", name, resp.Status)
		}
		got := status()[name]
		if got.ColdStarts != before+1 || got.ColdStartMs <= 0 {
			t.Errorf("%s after a request: %+v; want one more cold start with its time", name, got)
		}
		t.Logf("figure: cold start of %s: %d ms (process start to /readyz 200)", name, got.ColdStartMs)
	}

	// sa status --json carries the figure.
	cmd := exec.Command(sa, "status", "--json", "--dir", s.dir)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sa status --json: %v", err)
	}
	if !strings.Contains(string(out), `"coldStartMs"`) || !strings.Contains(string(out), `"scalesToZero": true`) {
		t.Errorf("sa status --json lacks the cold starts:\n%s", out)
	}
	s.stop(t)
}
