package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// peerWindow is the gateway's PEER_WINDOW in the local stack (the default).
const peerWindow = time.Second

// TestGatewayReplicas: `sa dev --gateway-replicas 2` runs two gateways, each on its own
// URL in stack.json, behind a balancer on the API port. A user writes through one
// replica and reads through the other: the other answered from its cache before the
// write, and after it never answers the list from before it to a request sent later
// than the peer window. Ctrl-C then stops every process of it.
func TestGatewayReplicas(t *testing.T) {
	// A stack of its own: run beside the other tests with stacks of their own, after the
	// ones on the shared stack (go test runs parallel tests once the others are done).
	t.Parallel()
	s := startStackReplicas(t, 2)
	reps := s.stack.GatewayReplicas
	if len(reps) != 2 || reps[0].URL == reps[1].URL || reps[0].URL == s.stack.APIURL || reps[1].URL == s.stack.APIURL {
		t.Fatalf("stack.json gatewayReplicas = %+v, apiUrl %s; want two replicas of their own", reps, s.stack.APIURL)
	}
	bin := buildTool(t, "./cmd/todo")
	u := newUser(t, bin, s.stackFile, "replicas")
	u.ok("signup", "--email", u.email)
	u.ok("confirm", "--email", u.email, "--code", "123456")
	u.ok("login", "--email", u.email) // through the balancer
	var first todoJSON
	u.okJSON(&first, "--api-url", reps[0].URL, "add", "first")

	// Reads on replica 2 are cached there: the second is a hit.
	client, token := caClient(t, s), idToken(t, u)
	get := func(base string) (string, int) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/v1/todos", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var l listJSON
		if resp.StatusCode != 200 || json.Unmarshal(b, &l) != nil {
			t.Fatalf("GET %s/v1/todos: %d %s", base, resp.StatusCode, b)
		}
		return resp.Header.Get("X-Cache"), len(l.Items)
	}
	if c, n := get(reps[1].URL); c != "Miss" || n != 1 {
		t.Fatalf("replica 2, first read: %s with %d to-dos, want a Miss with 1", c, n)
	}
	// A replica answers from its cache only while it has heard from its peer within the
	// window; a stall of the loaded machine can make it answer one read uncached.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, n := get(reps[1].URL)
		if n != 1 {
			t.Fatalf("replica 2, read again: %s with %d to-dos, want 1", c, n)
		}
		if c == "Hit" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 2 answered %s for 10s of reads, want a Hit", c)
		}
	}

	// Write through replica 1 with the CLI, read through replica 2 with the CLI.
	var second todoJSON
	u.okJSON(&second, "--api-url", reps[0].URL, "add", "second")
	written := time.Now()
	for guard := time.Now().Add(30 * time.Second); ; {
		sent := time.Now()
		var l listJSON
		u.okJSON(&l, "--api-url", reps[1].URL, "ls")
		if len(l.Items) == 2 {
			break
		}
		if sent.After(written.Add(peerWindow)) {
			t.Fatalf("replica 2 listed %+v to a request sent %s after the write through replica 1", l.Items, sent.Sub(written))
		}
		if time.Now().After(guard) {
			t.Fatal("replica 2 never listed the second to-do")
		}
	}
	if c, n := get(reps[1].URL); n != 2 || (c != "Hit" && c != "Miss") {
		t.Errorf("replica 2 after the write: %s with %d to-dos", c, n)
	}
	// And through the balancer, whichever replica answers.
	for range 4 {
		if _, n := get(s.stack.APIURL); n != 2 {
			t.Fatalf("through the balancer: %d to-dos, want 2", n)
		}
	}

	// Ctrl-C stops everything: no port of the stack (the balancer, each replica, every
	// service and edge) still listens.
	s.stop(t)
}
