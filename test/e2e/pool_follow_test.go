package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestServicesFollowANewUserPool: the moto sa dev started dies and its saved state is
// lost, so sa dev restarts it empty and provisions a new user pool. Without a restart
// of any service, a user of the new pool is let in by the gateway, todo-api and
// blog-api (a non-admin is 403 there, not 401), and a token of the old pool is refused.
func TestServicesFollowANewUserPool(t *testing.T) {
	// A stack of its own: run beside the other tests with stacks of their own, after the
	// ones on the shared stack (go test runs parallel tests once the others are done).
	t.Parallel()
	s := startStackWith(t, "--moto-port", fmt.Sprint(porttest.Free(t)))
	st := s.stack
	client := caClient(t, s)
	cfg := mototest.AWSConfig(t, st.AWSEndpoint)
	cfg.Region = st.Region
	cog := cognitoidentityprovider.NewFromConfig(cfg)
	before := signIn(t, cog, st.Resources.UserPoolID, st.Resources.UserPoolClientID, "before", false)
	todos := st.APIURL + "/v1/todos"
	if code, _, body := call(t, client, "GET", todos, before, nil, nil); code != http.StatusOK {
		t.Fatalf("GET /v1/todos before = %d %s", code, body)
	}

	// Stopped first, so it saves nothing between the removal and the kill.
	moto := st.Services["moto"].PID
	if err := syscall.Kill(moto, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.dir, devstack.MotoStateFile)); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(moto, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var now *stack.Stack
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if got, err := stack.Read(s.stackFile); err == nil && got.Resources.UserPoolID != st.Resources.UserPoolID && got.Resources.UserPoolID != "" {
			now = got
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new user pool in stack.json within 3 minutes of moto's death:\n%s", s.out)
		}
	}
	after := signIn(t, cog, now.Resources.UserPoolID, now.Resources.UserPoolClientID, "after", false)
	for _, c := range []struct {
		what, method, url, token string
		want                     int
	}{
		{"gateway, the new pool's user", "GET", todos, after, http.StatusOK},
		{"todo-api, the new pool's user", "GET", st.Services["todo-api"].URL + "/v1/todos", after, http.StatusOK},
		{"blog-api, the new pool's non-admin", "POST", st.Services["blog-api"].URL + "/v1/posts", after, http.StatusForbidden},
		{"gateway, the old pool's user", "GET", todos, before, http.StatusUnauthorized},
	} {
		var body any
		if c.method == "POST" {
			body = map[string]any{"slug": "p", "title": "t", "body": "b"}
		}
		if code, _, b := call(t, client, c.method, c.url, c.token, body, nil); code != c.want {
			t.Errorf("%s: %s %s = %d %s, want %d", c.what, c.method, c.url, code, b, c.want)
		}
	}
}
