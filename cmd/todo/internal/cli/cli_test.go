package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
)

func TestTodoCommands(t *testing.T) {
	w := newWorld(t)
	tok := w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	bearer := "Bearer " + tok

	// add
	code, out, errOut := w.run(t, "", "add", "Buy", "milk", "--notes", "two litres", "--due", "2026-12-24T18:00:00Z")
	if code != 0 {
		t.Fatalf("add: exit %d, stderr %q", code, errOut)
	}
	id1 := "01TEST00000000000000000001"
	if want := "added " + id1 + ": Buy milk\n"; out != want {
		t.Errorf("add printed %q, want %q", out, want)
	}
	// add --json prints the API's object.
	code, out, errOut = w.run(t, "", "--json", "add", "File taxes")
	if code != 0 {
		t.Fatalf("add --json: exit %d, stderr %q", code, errOut)
	}
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("add --json printed %q: %v", out, err)
	}
	id2 := created["id"].(string)
	wantCreated := map[string]any{"id": id2, "title": "File taxes", "notes": "", "done": false,
		"createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:05Z", "version": float64(1)}
	if diff := cmp.Diff(wantCreated, created); diff != "" {
		t.Errorf("add --json (-want +got):\n%s", diff)
	}

	steps := []struct {
		name     string
		args     []string
		wantReq  apiRequest // Auth defaults to bearer
		wantOut  string
		wantCode int
		wantErr  string
	}{
		{
			name:    "done",
			args:    []string{"done", id1},
			wantReq: apiRequest{Method: "PATCH", Path: "/v1/todos/" + id1, ContentType: "application/json", Body: `{"done":true}`},
			wantOut: "done ✓ " + id1 + ": Buy milk\n",
		},
		{
			name:    "done --undo",
			args:    []string{"done", "--undo", id1},
			wantReq: apiRequest{Method: "PATCH", Path: "/v1/todos/" + id1, ContentType: "application/json", Body: `{"done":false}`},
			wantOut: "not done " + id1 + ": Buy milk\n",
		},
		{
			name:    "edit title and clear due",
			args:    []string{"edit", id1, "--title", "Buy oat milk", "--clear-due"},
			wantReq: apiRequest{Method: "PATCH", Path: "/v1/todos/" + id1, ContentType: "application/json", Body: `{"dueAt":null,"title":"Buy oat milk"}`},
			wantOut: "updated " + id1 + " (version 4): Buy oat milk\n",
		},
		{
			name:    "edit clears notes with an empty value",
			args:    []string{"edit", id1, "--notes", "", "--due", "2027-01-01T09:00:00+01:00"},
			wantReq: apiRequest{Method: "PATCH", Path: "/v1/todos/" + id1, ContentType: "application/json", Body: `{"dueAt":"2027-01-01T09:00:00+01:00","notes":""}`},
			wantOut: "updated " + id1 + " (version 5): Buy oat milk\n",
		},
		{
			name:    "show",
			args:    []string{"show", id1},
			wantReq: apiRequest{Method: "GET", Path: "/v1/todos/" + id1},
			wantOut: "" +
				"id:      " + id1 + "\n" +
				"title:   Buy oat milk\n" +
				"notes:   -\n" +
				"done:    no\n" +
				"due:     2027-01-01T09:00:00+01:00\n" +
				"created: 2026-01-02T03:04:05Z\n" +
				"updated: 2026-01-02T03:04:05Z\n" +
				"version: 5\n",
		},
		{
			name:    "ls",
			args:    []string{"ls"},
			wantReq: apiRequest{Method: "GET", Path: "/v1/todos"},
			wantOut: "" +
				"ID                          TITLE         DONE  DUE\n" +
				id1 + "  Buy oat milk        2027-01-01T09:00:00+01:00\n" +
				id2 + "  File taxes          -\n",
		},
		{
			name:     "show a missing to-do",
			args:     []string{"show", "nope"},
			wantReq:  apiRequest{Method: "GET", Path: "/v1/todos/nope"},
			wantCode: 1,
			wantErr:  "error: todo not found (request req-9)\n",
		},
		{
			name:     "validation error",
			args:     []string{"add", strings.Repeat("x", 201)},
			wantReq:  apiRequest{Method: "POST", Path: "/v1/todos", ContentType: "application/json", Body: `{"title":"` + strings.Repeat("x", 201) + `"}`},
			wantCode: 1,
			wantErr:  "error: title: must be 1 to 200 characters (request req-10)\n",
		},
		{
			name:    "rm",
			args:    []string{"rm", id2},
			wantReq: apiRequest{Method: "DELETE", Path: "/v1/todos/" + id2},
			wantOut: "deleted " + id2 + "\n",
		},
		{
			name:     "an id that needs escaping",
			args:     []string{"show", "a/b c"},
			wantReq:  apiRequest{Method: "GET", Path: "/v1/todos/a%2Fb%20c"},
			wantCode: 1,
			wantErr:  "error: todo not found (request req-12)\n",
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := len(w.api.requests())
			code, out, errOut := w.run(t, "", st.args...)
			if code != st.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, st.wantCode, errOut)
			}
			if diff := cmp.Diff(st.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.wantErr, errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			reqs := w.api.requests()[before:]
			st.wantReq.Auth = bearer
			if diff := cmp.Diff([]apiRequest{st.wantReq}, reqs); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddRequest(t *testing.T) {
	w := newWorld(t)
	tok := w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	if code, _, errOut := w.run(t, "", "add", "Buy milk", "--notes", "two litres", "--due", "2026-12-24T18:00:00Z"); code != 0 {
		t.Fatalf("add: exit %d, stderr %q", code, errOut)
	}
	want := []apiRequest{{
		Method: "POST", Path: "/v1/todos", Auth: "Bearer " + tok, ContentType: "application/json",
		Body: `{"title":"Buy milk","notes":"two litres","dueAt":"2026-12-24T18:00:00Z"}`,
	}}
	if diff := cmp.Diff(want, w.api.requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestLsPages(t *testing.T) {
	w := newWorld(t)
	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	for _, title := range []string{"one", "two", "three"} {
		if code, _, errOut := w.run(t, "", "add", title); code != 0 {
			t.Fatalf("add: %s", errOut)
		}
	}
	tests := []struct {
		name       string
		args       []string
		wantQuery  []string
		wantTitles []string
		wantMore   bool
	}{
		{name: "one page", args: []string{"ls", "--limit", "2"}, wantQuery: []string{"limit=2"}, wantTitles: []string{"one", "two"}, wantMore: true},
		{name: "all pages", args: []string{"ls", "--limit", "2", "--all"}, wantQuery: []string{"limit=2", "limit=2&nextToken=2"}, wantTitles: []string{"one", "two", "three"}},
		{name: "all pages, JSON", args: []string{"--json", "ls", "--all", "--limit", "1"}, wantQuery: []string{"limit=1", "limit=1&nextToken=1", "limit=1&nextToken=2"}, wantTitles: []string{"one", "two", "three"}},
		{name: "one page, JSON", args: []string{"ls", "--json", "--limit", "1"}, wantQuery: []string{"limit=1"}, wantTitles: []string{"one"}, wantMore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(w.api.requests())
			code, out, errOut := w.run(t, "", tt.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var queries []string
			for _, r := range w.api.requests()[before:] {
				queries = append(queries, r.Query)
			}
			if diff := cmp.Diff(tt.wantQuery, queries); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
			var titles []string
			if strings.Contains(strings.Join(tt.args, " "), "--json") {
				var got struct {
					Items []map[string]any `json:"items"`
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("output %q: %v", out, err)
				}
				for _, it := range got.Items {
					titles = append(titles, it["title"].(string))
				}
			} else {
				for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
					titles = append(titles, strings.Fields(line)[1])
				}
			}
			if diff := cmp.Diff(tt.wantTitles, titles); diff != "" {
				t.Errorf("titles (-want +got):\n%s", diff)
			}
			if more := strings.Contains(errOut, "todo ls --all"); more != tt.wantMore {
				t.Errorf("stderr %q: hint about more pages = %v, want %v", errOut, more, tt.wantMore)
			}
		})
	}
}

func TestEmptyLs(t *testing.T) {
	w := newWorld(t)
	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ls"}, "no to-dos\n"},
		{[]string{"ls", "--json"}, "{\n  \"items\": []\n}\n"},
	} {
		code, out, errOut := w.run(t, "", tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0, %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestUsersDoNotMix(t *testing.T) {
	w := newWorld(t)
	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	if code, _, errOut := w.run(t, "", "add", "alice's"); code != 0 {
		t.Fatal(errOut)
	}
	bob := *w
	bob.env = map[string]string{}
	for k, v := range w.env {
		bob.env[k] = v
	}
	bob.env["XDG_CONFIG_HOME"] = t.TempDir()
	bob.login(t, "bob@example.com", time.Now().Add(time.Hour))
	code, out, errOut := bob.run(t, "", "ls")
	if code != 0 || out != "no to-dos\n" {
		t.Errorf("bob's ls: exit %d, stdout %q, stderr %q; want an empty list", code, out, errOut)
	}
	code, out, _ = w.run(t, "", "ls")
	if code != 0 || !strings.Contains(out, "alice's") {
		t.Errorf("alice's ls after bob's login: exit %d, stdout %q; want her to-do", code, out)
	}
}

func TestCommandErrors(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name      string
		login     bool
		env       map[string]string
		args      []string
		wantErr   []string
		noRequest bool
	}{
		{name: "not logged in", args: []string{"ls"}, wantErr: []string{"error: not logged in: run todo login"}, noRequest: true},
		{name: "edit without changes", login: true, args: []string{"edit", "x"}, wantErr: []string{"error: nothing to change"}, noRequest: true},
		{name: "bad due", login: true, args: []string{"add", "x", "--due", "tomorrow"}, wantErr: []string{`--due "tomorrow"`, "RFC 3339"}, noRequest: true},
		{name: "due and clear-due", login: true, args: []string{"edit", "x", "--due", "2026-01-01T00:00:00Z", "--clear-due"}, wantErr: []string{"error:", "due", "clear-due"}, noRequest: true},
		{name: "unknown command", args: []string{"frobnicate"}, wantErr: []string{`error: unknown command "frobnicate"`}, noRequest: true},
		{name: "id of dots", login: true, args: []string{"rm", ".."}, wantErr: []string{`".." is not a to-do id`}, noRequest: true},
		{
			name: "API down", login: true, args: []string{"--api-url", closedURL, "ls"},
			wantErr: []string{"error: GET " + closedURL + "/v1/todos", "is make dev running?"}, noRequest: true,
		},
		{
			name: "CA not trusted", login: true, args: []string{"--ca-file", os.DevNull, "ls"},
			wantErr: []string{"error: read CA file", "no PEM certificates"}, noRequest: true,
		},
		{
			name: "missing stack file", env: map[string]string{"TODO_STACK_FILE": "/nonexistent/stack.json"}, args: []string{"ls"},
			wantErr: []string{"error: read stack file", "make dev"}, noRequest: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.login {
				w.login(t, "alice@example.com", time.Now().Add(time.Hour))
			}
			for k, v := range tt.env {
				w.env[k] = v
			}
			code, out, errOut := w.run(t, "", tt.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q does not contain %q", errOut, want)
				}
			}
			if n := len(w.api.requests()); tt.noRequest && n != 0 {
				t.Errorf("the API got %d requests, want none", n)
			}
		})
	}
}

func TestUntrustedServer(t *testing.T) {
	w := newWorld(t)
	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	// Trust another CA than the one that signed the test server's certificate.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(otherCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := w.run(t, "", "--ca-file", otherCA, "ls")
	if code != 1 || !strings.Contains(errOut, "name the CA that signed") || !strings.Contains(errOut, w.apiURL) {
		t.Errorf("exit %d, stderr %q; want 1 and a hint about the CA", code, errOut)
	}
	if n := len(w.api.requests()); n != 0 {
		t.Errorf("the API got %d requests, want none", n)
	}
}

// TestUnauthorizedRenewsOnce: a 401 from the API (here: a stored id token the API
// refuses although its expiry says it is valid) makes the CLI refresh the session once
// and send the request again with the new token; when Cognito refuses the refresh
// token, the user is told to log in.
func TestUnauthorizedRenewsOnce(t *testing.T) {
	t.Run("renewed", func(t *testing.T) {
		w := newWorld(t)
		// A session whose id token is empty makes the fake API answer 401.
		if err := w.store().Save(&session.Session{Email: "a@example.com", ClientID: "client-1", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		newTok := idToken(t, "sub-a", "a@example.com", time.Now().Add(time.Hour))
		w.cognito.ops["InitiateAuth"] = func(map[string]any) (int, any) {
			return http.StatusOK, map[string]any{"AuthenticationResult": map[string]any{"IdToken": newTok, "AccessToken": "access-2", "ExpiresIn": 3600}}
		}
		code, out, errOut := w.run(t, "", "ls")
		if code != 0 || errOut != "" || out != "no to-dos\n" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0 and an empty list", code, out, errOut)
		}
		reqs := w.api.requests()
		if len(reqs) != 2 || strings.TrimSpace(reqs[0].Auth) != "Bearer" || reqs[1].Auth != "Bearer "+newTok {
			t.Errorf("API requests %+v, want the refused one and one with the renewed token", reqs)
		}
		if sess, err := w.store().Load(); err != nil || sess.IDToken != newTok {
			t.Errorf("stored session %+v, %v; want the renewed token saved", sess, err)
		}
	})
	t.Run("refresh refused", func(t *testing.T) {
		w := newWorld(t)
		if err := w.store().Save(&session.Session{Email: "a@example.com", ClientID: "client-1", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		w.cognito.ops["InitiateAuth"] = func(map[string]any) (int, any) {
			return cognitoError("NotAuthorizedException", "Refresh Token has been revoked")
		}
		code, _, errOut := w.run(t, "", "ls")
		if want := "error: session expired: run todo login\n"; code != 1 || errOut != want {
			t.Errorf("exit %d, stderr %q; want 1, %q", code, errOut, want)
		}
		if n := len(w.api.requests()); n != 1 {
			t.Errorf("the API got %d requests, want 1 (no retry without a new token)", n)
		}
	})
}

func TestRefreshBeforeCall(t *testing.T) {
	tests := []struct {
		name string
		left time.Duration
		// reject makes Cognito refuse the refresh token.
		reject      bool
		wantRefresh bool
	}{
		{name: "valid token", left: time.Hour},
		{name: "expires within 60s", left: 30 * time.Second, wantRefresh: true},
		{name: "expired", left: -time.Hour, wantRefresh: true},
		{name: "revoked refresh token", left: -time.Hour, reject: true, wantRefresh: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			oldTok := w.login(t, "alice@example.com", time.Now().Add(tt.left))
			newExp := time.Now().Add(time.Hour).Truncate(time.Second)
			newTok := idToken(t, "sub-alice@example.com", "alice@example.com", newExp)
			w.cognito.ops["InitiateAuth"] = func(body map[string]any) (int, any) {
				if tt.reject {
					return cognitoError("NotAuthorizedException", "Refresh Token has been revoked")
				}
				return http.StatusOK, map[string]any{"AuthenticationResult": map[string]any{
					"IdToken": newTok, "AccessToken": "access-2", "ExpiresIn": 3600, "TokenType": "Bearer",
				}}
			}
			code, _, errOut := w.run(t, "", "ls")
			var wantCalls []cognitoCall
			if tt.wantRefresh {
				wantCalls = []cognitoCall{{Op: "InitiateAuth", Body: map[string]any{
					"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": "client-1",
					"AuthParameters": map[string]any{"REFRESH_TOKEN": "refresh-alice@example.com"},
				}}}
			}
			if diff := cmp.Diff(wantCalls, w.cognito.calls); diff != "" {
				t.Errorf("Cognito calls (-want +got):\n%s", diff)
			}
			sess, err := w.store().Load()
			if err != nil {
				t.Fatal(err)
			}
			if tt.reject {
				if code != 1 || errOut != "error: session expired: run todo login\n" {
					t.Errorf("exit %d, stderr %q; want 1 and the session-expired message", code, errOut)
				}
				if n := len(w.api.requests()); n != 0 {
					t.Errorf("the API got %d requests, want none", n)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			want := oldTok
			if tt.wantRefresh {
				want = newTok
				if sess.IDToken != newTok || sess.AccessToken != "access-2" || sess.RefreshToken != "refresh-alice@example.com" || !sess.Expiry.Equal(newExp) {
					t.Errorf("saved session = %+v, want the new tokens, the old refresh token and expiry %v", sess, newExp)
				}
			}
			reqs := w.api.requests()
			if len(reqs) != 1 || reqs[0].Auth != "Bearer "+want {
				t.Errorf("API requests = %+v, want one with the %s token", reqs, map[bool]string{true: "new", false: "old"}[tt.wantRefresh])
			}
		})
	}
}

func TestAccountCommands(t *testing.T) {
	w := newWorld(t)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := idToken(t, "sub-1", "alice@example.com", exp)
	var users = map[string]string{} // email -> password
	confirmed := map[string]bool{}
	w.cognito.ops["SignUp"] = func(b map[string]any) (int, any) {
		email := b["Username"].(string)
		if _, ok := users[email]; ok {
			return cognitoError("UsernameExistsException", "User already exists")
		}
		if len(b["Password"].(string)) < 8 {
			return cognitoError("InvalidPasswordException", "Password did not conform with policy: Password not long enough")
		}
		users[email] = b["Password"].(string)
		return http.StatusOK, map[string]any{"UserConfirmed": false, "UserSub": "sub-1"}
	}
	w.cognito.ops["ConfirmSignUp"] = func(b map[string]any) (int, any) {
		confirmed[b["Username"].(string)] = true
		return http.StatusOK, map[string]any{}
	}
	w.cognito.ops["InitiateAuth"] = func(b map[string]any) (int, any) {
		p := b["AuthParameters"].(map[string]any)
		email, _ := p["USERNAME"].(string)
		if pw, ok := users[email]; !ok || pw != p["PASSWORD"] {
			return cognitoError("NotAuthorizedException", "Incorrect username or password.")
		}
		if !confirmed[email] {
			return cognitoError("UserNotConfirmedException", "User is not confirmed.")
		}
		return http.StatusOK, map[string]any{"AuthenticationResult": map[string]any{
			"IdToken": tok, "AccessToken": "access-1", "RefreshToken": "refresh-1", "ExpiresIn": 3600, "TokenType": "Bearer",
		}}
	}
	w.cognito.ops["GlobalSignOut"] = func(b map[string]any) (int, any) {
		if b["AccessToken"] != "access-1" {
			return cognitoError("NotAuthorizedException", "Invalid access token")
		}
		return http.StatusOK, map[string]any{}
	}

	steps := []struct {
		name     string
		env      map[string]string
		stdin    string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{name: "signup with a short password", args: []string{"signup", "--email", "alice@example.com", "--password", "short"}, wantCode: 1,
			wantErr: "error: password rejected: Password did not conform with policy: Password not long enough\n"},
		{name: "signup, password from TODO_PASSWORD", env: map[string]string{"TODO_PASSWORD": "Passw0rd!"}, args: []string{"signup", "--email", "alice@example.com"},
			wantOut: "signed up alice@example.com: run todo confirm --email alice@example.com --code CODE\n"},
		{name: "signup twice", args: []string{"signup", "--email", "alice@example.com", "--password", "Passw0rd!"}, wantCode: 1,
			wantErr: "error: an account with this email already exists\n"},
		{name: "login before confirming", args: []string{"login", "--email", "alice@example.com", "--password", "Passw0rd!"}, wantCode: 1,
			wantErr: "error: account not confirmed: run todo confirm\n"},
		{name: "confirm", args: []string{"confirm", "--email", "alice@example.com", "--code", "123456"},
			wantOut: "confirmed alice@example.com: run todo login --email alice@example.com\n"},
		{name: "wrong password", args: []string{"login", "--email", "alice@example.com", "--password", "nope-nope"}, wantCode: 1,
			wantErr: "error: wrong email or password\n"},
		{name: "no password anywhere", args: []string{"login", "--email", "alice@example.com"}, wantCode: 1,
			wantErr: "error: no password: pass --password, set TODO_PASSWORD, or run in a terminal to be asked\n"},
		{name: "login, password from stdin", stdin: "Passw0rd!\n", args: []string{"login", "--email", "alice@example.com"},
			wantOut: "logged in as alice@example.com (user sub-1; token valid until " + exp.Local().Format(time.RFC3339) + ")\n"},
		{name: "whoami --json", args: []string{"whoami", "--json"},
			wantOut: `{
  "email": "alice@example.com",
  "sub": "sub-1",
  "expiry": "` + exp.UTC().Format(time.RFC3339) + `"
}
`},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			delete(w.env, "TODO_PASSWORD")
			for k, v := range st.env {
				w.env[k] = v
			}
			code, out, errOut := w.run(t, st.stdin, st.args...)
			if code != st.wantCode {
				t.Errorf("exit %d, want %d", code, st.wantCode)
			}
			if diff := cmp.Diff(st.wantOut, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.wantErr, errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}

	// The session file holds the tokens, readable only by its owner.
	st := w.store()
	fi, err := os.Stat(st.Path)
	if err != nil {
		t.Fatalf("session file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %o, want 600", fi.Mode().Perm())
	}
	sess, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := &session.Session{Email: "alice@example.com", Sub: "sub-1", ClientID: "client-1", IDToken: tok,
		AccessToken: "access-1", RefreshToken: "refresh-1", Expiry: exp.UTC()}
	if diff := cmp.Diff(want, sess, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("session (-want +got):\n%s", diff)
	}

	// logout revokes this session's refresh token and deletes the file; a second
	// logout says so.
	w.cognito.ops["RevokeToken"] = func(body map[string]any) (int, any) {
		if body["Token"] != "refresh-1" || body["ClientId"] != "client-1" {
			return cognitoError("InvalidParameterException", fmt.Sprintf("unexpected %v", body))
		}
		return http.StatusOK, map[string]any{}
	}
	code, out, errOut := w.run(t, "", "logout")
	if code != 0 || out != "logged out alice@example.com\n" || errOut != "" {
		t.Errorf("logout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if last := w.cognito.opNames(); last[len(last)-1] != "RevokeToken" {
		t.Errorf("Cognito calls %v, want RevokeToken last", last)
	}
	if _, err := st.Load(); !errors.Is(err, session.ErrNotLoggedIn) {
		t.Errorf("session after logout: err = %v, want ErrNotLoggedIn", err)
	}
	code, out, _ = w.run(t, "", "logout")
	if code != 0 || out != "not logged in\n" {
		t.Errorf("second logout: exit %d, stdout %q", code, out)
	}
}

func TestLogoutWhenCognitoFails(t *testing.T) {
	w := newWorld(t)
	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	w.cognito.ops["GlobalSignOut"] = func(map[string]any) (int, any) {
		return cognitoError("NotAuthorizedException", "Access Token has been revoked")
	}
	code, out, errOut := w.run(t, "", "logout", "--everywhere")
	if code != 0 || out != "logged out alice@example.com everywhere\n" {
		t.Errorf("logout: exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "warning: could not sign out at Cognito") {
		t.Errorf("stderr %q, want a warning", errOut)
	}
	if _, err := w.store().Load(); !errors.Is(err, session.ErrNotLoggedIn) {
		t.Errorf("session after logout: err = %v, want it deleted", err)
	}
}

// TestPasswordCommands: forgot, confirm and change send Cognito what the app sends,
// with the passwords from the environment or stdin, and tell the user what to do
// next; Cognito's refusals are sentences.
func TestPasswordCommands(t *testing.T) {
	w := newWorld(t)
	w.cognito.ops["ForgotPassword"] = func(map[string]any) (int, any) {
		return http.StatusOK, map[string]any{"CodeDeliveryDetails": map[string]any{"Destination": "a***@e***.com", "DeliveryMedium": "EMAIL"}}
	}
	code, out, errOut := w.run(t, "", "password", "forgot", "--email", "alice@example.com")
	if code != 0 || !strings.Contains(out, "sent to a***@e***.com: run todo password confirm --email alice@example.com --code CODE") {
		t.Errorf("forgot: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	w.cognito.ops["ConfirmForgotPassword"] = func(b map[string]any) (int, any) {
		if b["ConfirmationCode"] != "123456" {
			return cognitoError("ExpiredCodeException", "Invalid code provided, please request a code again.")
		}
		if b["Password"] != "N3w-Passw0rd!" || b["Username"] != "alice@example.com" || b["ClientId"] != "client-1" {
			return cognitoError("InvalidParameterException", fmt.Sprintf("unexpected %v", b))
		}
		return http.StatusOK, map[string]any{}
	}
	code, out, errOut = w.run(t, "N3w-Passw0rd!\n", "password", "confirm", "--email", "alice@example.com", "--code", "123456")
	if code != 0 || out != "new password set for alice@example.com: run todo login --email alice@example.com\n" {
		t.Errorf("confirm: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = w.run(t, "N3w-Passw0rd!\n", "password", "confirm", "--email", "alice@example.com", "--code", "000000")
	if want := "error: the code is wrong or has expired: run todo password forgot for a new one\n"; code != 1 || errOut != want {
		t.Errorf("confirm with a bad code: exit %d, stderr %q, want %q", code, errOut, want)
	}

	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	w.cognito.ops["ChangePassword"] = func(b map[string]any) (int, any) {
		if b["PreviousPassword"] != "Old-Passw0rd!" {
			return cognitoError("NotAuthorizedException", "Incorrect username or password.")
		}
		if b["AccessToken"] != "access-alice@example.com" || b["ProposedPassword"] != "N3w-Passw0rd!" {
			return cognitoError("InvalidParameterException", fmt.Sprintf("unexpected %v", b))
		}
		return http.StatusOK, map[string]any{}
	}
	// From stdin: the current password, then the new one.
	code, out, errOut = w.run(t, "Old-Passw0rd!\nN3w-Passw0rd!\n", "password", "change")
	if code != 0 || out != "password changed for alice@example.com\n" {
		t.Errorf("change: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	w.env["TODO_PASSWORD"], w.env["TODO_NEW_PASSWORD"] = "wrong", "N3w-Passw0rd!"
	code, _, errOut = w.run(t, "", "password", "change")
	if want := "error: the current password is wrong\n"; code != 1 || errOut != want {
		t.Errorf("change with a wrong password: exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// TestAccountDelete: without --yes nothing is called; with it the API's DELETE /v1/me
// comes first, then Cognito's DeleteUser with the access token, then the session is
// forgotten. When the API fails, Cognito is not called and the session stays.
func TestAccountDelete(t *testing.T) {
	w := newWorld(t)
	w.login(t, "alice@example.com", time.Now().Add(time.Hour))
	code, _, errOut := w.run(t, "", "account", "delete")
	if code != 1 || !strings.Contains(errOut, "run todo account delete --yes") || len(w.api.requests()) != 0 || len(w.cognito.calls) != 0 {
		t.Errorf("without --yes: exit %d, stderr %q, %d API and %d Cognito calls", code, errOut, len(w.api.requests()), len(w.cognito.calls))
	}

	w.cognito.ops["DeleteUser"] = func(b map[string]any) (int, any) {
		if b["AccessToken"] != "access-alice@example.com" {
			return cognitoError("NotAuthorizedException", "Invalid Access Token")
		}
		return http.StatusOK, map[string]any{}
	}
	// A large account: the first call answers 503 (more left), the CLI calls again.
	w.api.meBusy = 1
	code, out, errOut := w.run(t, "", "account", "delete", "--yes")
	if code != 0 || out != "deleted the account alice@example.com with all its to-dos and files\n" || !strings.Contains(errOut, "calling again") {
		t.Errorf("delete: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if r := w.api.requests(); len(r) != 2 || r[1].Method != "DELETE" || r[1].Path != "/v1/me" {
		t.Errorf("API requests %+v, want DELETE /v1/me twice (503, then 204)", r)
	}
	if ops := w.cognito.opNames(); !slices.Equal(ops, []string{"DeleteUser"}) {
		t.Errorf("Cognito calls %v, want [DeleteUser]", ops)
	}
	if _, err := w.store().Load(); !errors.Is(err, session.ErrNotLoggedIn) {
		t.Errorf("session after deletion: %v, want none", err)
	}

	// The API down: nothing else happens, the session stays for a retry.
	w2 := newWorld(t)
	w2.login(t, "bob@example.com", time.Now().Add(time.Hour))
	w2.env["TODO_STACK_FILE"] = w2.stackFile
	code, _, errOut = w2.run(t, "", "--api-url", "https://127.0.0.1:1", "account", "delete", "--yes")
	if code != 1 || !strings.Contains(errOut, "nothing else was deleted; run the command again") || len(w2.cognito.calls) != 0 {
		t.Errorf("API down: exit %d, stderr %q, Cognito calls %v", code, errOut, w2.cognito.opNames())
	}
	if _, err := w2.store().Load(); err != nil {
		t.Errorf("session after a failed deletion: %v, want it kept", err)
	}
}
