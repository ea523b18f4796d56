package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

type todoJSON struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Done    bool   `json:"done"`
	Version int64  `json:"version"`
}

type listJSON struct {
	Items []todoJSON `json:"items"`
}

// TestTodoJourney is the README's walk-through for two users: signup -> confirm ->
// login -> add -> ls -> done -> rm, and neither ever sees the other's to-dos.
func TestTodoJourney(t *testing.T) {
	s := sharedStack(t)
	bin := buildTool(t, "./cmd/todo")

	// The API is served over HTTPS with a certificate from the dev CA.
	checkTLS(t, s)

	alice := newUser(t, bin, s.stackFile, "alice")
	bob := newUser(t, bin, s.stackFile, "bob")
	for _, u := range []*user{alice, bob} {
		u.ok("signup", "--email", u.email)
		u.ok("confirm", "--email", u.email, "--code", "123456")
		u.ok("login", "--email", u.email)
		info, err := os.Stat(sessionFile(u))
		if err != nil {
			t.Fatalf("no session file after login: %v", err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("session file mode = %v, want 0600", info.Mode().Perm())
		}
	}

	var milk, bread todoJSON
	alice.okJSON(&milk, "add", "Buy milk", "--notes", "2 litres")
	alice.okJSON(&bread, "add", "Bake bread", "--due", "2026-12-24T09:00:00Z")
	var bobs todoJSON
	bob.okJSON(&bobs, "add", "Bob's secret plan")

	// Alice lists at once and sees both, newest first; Bob sees only his.
	var l listJSON
	alice.okJSON(&l, "ls")
	if len(l.Items) != 2 || l.Items[0].ID != bread.ID || l.Items[1].ID != milk.ID {
		t.Fatalf("alice's list = %+v, want [bread, milk]", l.Items)
	}
	bob.okJSON(&l, "ls")
	if len(l.Items) != 1 || l.Items[0].ID != bobs.ID {
		t.Fatalf("bob's list = %+v, want only his own", l.Items)
	}
	if human := alice.ok("ls"); !strings.Contains(human, "Buy milk") || strings.Contains(human, "secret plan") {
		t.Errorf("alice's human list:\n%s", human)
	}

	// Bob cannot read, finish or remove Alice's to-do, even knowing its id.
	for _, args := range [][]string{{"show", milk.ID}, {"done", milk.ID}, {"rm", milk.ID}, {"edit", milk.ID, "--title", "pwned"}} {
		out, errOut, code := bob.run(args...)
		if code == 0 {
			t.Errorf("bob: todo %s succeeded on alice's to-do: %s", strings.Join(args, " "), out)
		}
		if !strings.Contains(strings.ToLower(errOut), "not found") && !strings.Contains(strings.ToLower(errOut), "no such") {
			t.Errorf("bob: todo %s: stderr %q, want a not-found message", strings.Join(args, " "), errOut)
		}
	}

	var done todoJSON
	alice.okJSON(&done, "done", milk.ID)
	if !done.Done || done.Title != "Buy milk" {
		t.Errorf("after done: %+v", done)
	}
	var shown todoJSON
	alice.okJSON(&shown, "show", milk.ID)
	if !shown.Done || shown.Version != done.Version {
		t.Errorf("show after done = %+v", shown)
	}

	alice.ok("rm", milk.ID)
	alice.okJSON(&l, "ls")
	if len(l.Items) != 1 || l.Items[0].ID != bread.ID {
		t.Errorf("after rm: %+v", l.Items)
	}

	// Bad input through the CLI gets the API's field-level message.
	_, errOut, code := alice.run("add", strings.Repeat("x", 201))
	if code == 0 || !strings.Contains(errOut, "title") {
		t.Errorf("201-character title: exit %d, stderr %q", code, errOut)
	}

	// A due date that is valid RFC 3339 but lies in the year 10000 once in UTC is a 400
	// naming dueAt, and leaves the list as it was (it once stored it and made every
	// later list a 500).
	if _, errOut, code := alice.run("add", "Far future", "--due", "9999-12-31T23:00:00-05:00"); code == 0 || !strings.Contains(errOut, "dueAt") {
		t.Errorf("due in the year 10000 UTC: exit %d, stderr %q; want the API's dueAt error", code, errOut)
	}
	alice.okJSON(&l, "ls")
	if len(l.Items) != 1 || l.Items[0].ID != bread.ID {
		t.Errorf("after the refused add: %+v", l.Items)
	}

	alice.ok("logout")
	if _, err := os.Stat(sessionFile(alice)); !os.IsNotExist(err) {
		t.Errorf("session file still there after logout: %v", err)
	}
	if _, errOut, code := alice.run("ls"); code == 0 || !strings.Contains(errOut, "login") {
		t.Errorf("ls after logout: exit %d, stderr %q", code, errOut)
	}

}

func sessionFile(u *user) string {
	return u.home + "/serverless-architect/todo/session.json"
}

// checkTLS: the API answers over HTTPS for a client that trusts only the dev CA.
func checkTLS(t *testing.T, s *localStack) {
	t.Helper()
	pem, err := os.ReadFile(s.stack.CAFile)
	if err != nil {
		t.Fatalf("read CA %s: %v", s.stack.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(s.stack.APIURL + "/readyz")
	if err != nil {
		t.Fatalf("HTTPS to %s trusting only the dev CA: %v", s.stack.APIURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz over HTTPS = %d", resp.StatusCode)
	}
	if !strings.HasPrefix(s.stack.APIURL, "https://localhost:") {
		t.Errorf("apiUrl = %q, want https://localhost:<port>", s.stack.APIURL)
	}
}
