package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountLifecycleCLI is the whole account lifecycle with the todo CLI against
// the local stack (moto behind the Cognito stand-in, the gateway, todo-api): a
// forgotten password reset with a code (a wrong code refused), a password change, a
// sign-out of one device whose refresh token then stops working, and the account's
// deletion. After the deletion the old id token, still unexpired, lists nothing
// through the gateway (no cached list served) and can write nothing, and a new
// account with the same email sees none of the old one's to-dos or files.
func TestAccountLifecycleCLI(t *testing.T) {
	s := sharedStack(t)
	if s.stack.CognitoEndpoint == "" {
		t.Fatalf("stack.json has no cognitoEndpoint (the Cognito stand-in)")
	}
	bin := buildTool(t, "./cmd/todo")
	client := caClient(t, s)
	carol := newUser(t, bin, s.stackFile, "carol")
	carol.ok("signup", "--email", carol.email)
	carol.ok("confirm", "--email", carol.email, "--code", "123456")
	carol.ok("login", "--email", carol.email)
	carol.ok("add", "Old secret")
	carol.ok("add", "Another old one")
	local := filepath.Join(t.TempDir(), "old.txt")
	if err := os.WriteFile(local, []byte("old file"), 0o600); err != nil {
		t.Fatal(err)
	}
	carol.ok("files", "put", local, "old.txt")

	// Forgot password: moto accepts any code that does not look like one of its own,
	// and refuses one of its own that is not the one it sent.
	carol.ok("password", "forgot", "--email", carol.email)
	carol.password = "N3w-Horse-Battery!"
	if _, errOut, code := carol.run("password", "confirm", "--email", carol.email, "--code", "moto-confirmation-code:000000"); code == 0 || !strings.Contains(errOut, "the code is wrong or has expired") {
		t.Errorf("a wrong code: exit %d, stderr %q", code, errOut)
	}
	carol.ok("password", "confirm", "--email", carol.email, "--code", "424242")
	carol.password = "Corr3ct-Horse-Battery"
	if _, errOut, code := carol.run("login", "--email", carol.email); code == 0 || !strings.Contains(errOut, "wrong email or password") {
		t.Errorf("login with the old password: exit %d, stderr %q", code, errOut)
	}
	carol.password = "N3w-Horse-Battery!"
	carol.ok("login", "--email", carol.email)

	// Change it again; the new one signs in.
	cmdOut, errOut, code := carol.runWith(map[string]string{"TODO_NEW_PASSWORD": "Th1rd-Horse-Battery!"}, "password", "change")
	if code != 0 || !strings.Contains(cmdOut, "password changed") {
		t.Fatalf("password change: exit %d, stdout %q, stderr %q", code, cmdOut, errOut)
	}
	carol.password = "Th1rd-Horse-Battery!"

	// Sign out of this device only: its refresh token stops working.
	kept, err := os.ReadFile(sessionFile(carol))
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := carol.run("logout"); code != 0 || errOut != "" {
		t.Errorf("logout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var old map[string]any
	_ = json.Unmarshal(kept, &old)
	old["expiry"] = "2000-01-01T00:00:00Z" // force a refresh
	b, _ := json.Marshal(old)
	if err := os.WriteFile(sessionFile(carol), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := carol.run("ls"); code == 0 || !strings.Contains(errOut, "session expired") {
		t.Errorf("ls with the revoked device's session: exit %d, stderr %q", code, errOut)
	}

	carol.ok("login", "--email", carol.email)
	token := idToken(t, carol)
	list := func(tok string) (int, string, listJSON) {
		t.Helper()
		code, h, body := call(t, client, "GET", s.stack.APIURL+"/v1/todos", tok, nil, nil)
		var l listJSON
		_ = json.Unmarshal(body, &l)
		return code, h.Get("X-Cache"), l
	}
	list(token) // the gateway now holds carol's list
	if code, xc, l := list(token); code != 200 || xc != "Hit" || len(l.Items) != 2 {
		t.Fatalf("carol's list before deletion: %d, X-Cache %s, %d items", code, xc, len(l.Items))
	}

	if _, errOut, code := carol.run("account", "delete"); code == 0 || !strings.Contains(errOut, "--yes") {
		t.Errorf("account delete without --yes: exit %d, stderr %q", code, errOut)
	}
	carol.ok("account", "delete", "--yes")
	if _, err := os.Stat(sessionFile(carol)); !os.IsNotExist(err) {
		t.Errorf("session file after account delete: %v", err)
	}
	// The old token has not expired: nothing of the account is served, nothing written.
	if code, xc, l := list(token); code != 200 || len(l.Items) != 0 || xc == "Hit" {
		t.Errorf("the old token's list after deletion: %d, X-Cache %s, %+v; want an empty list, not a cached one", code, xc, l.Items)
	}
	if code, _, body := call(t, client, "POST", s.stack.APIURL+"/v1/todos", token, map[string]string{"title": "ghost"}, nil); code != http.StatusForbidden {
		t.Errorf("a write with the old token after deletion: %d %s, want 403", code, body)
	}
	// Repeating the deletion is harmless.
	if code, _, body := call(t, client, "DELETE", s.stack.APIURL+"/v1/me", token, nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE /v1/me again: %d %s", code, body)
	}
	if _, errOut, code := carol.run("login", "--email", carol.email); code == 0 || !strings.Contains(errOut, "wrong email or password") {
		t.Errorf("login after deletion: exit %d, stderr %q", code, errOut)
	}

	// A new account with the same email starts empty.
	carol.ok("signup", "--email", carol.email)
	carol.ok("confirm", "--email", carol.email, "--code", "123456")
	carol.ok("login", "--email", carol.email)
	var l listJSON
	carol.okJSON(&l, "ls")
	if len(l.Items) != 0 {
		t.Errorf("the new account sees %+v", l.Items)
	}
	var files struct {
		Items []json.RawMessage `json:"items"`
	}
	carol.okJSON(&files, "files", "ls")
	if len(files.Items) != 0 {
		t.Errorf("the new account's folder holds %s", files.Items)
	}
}
