package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// apiRequest is what the fake API saw.
type apiRequest struct {
	Method      string
	Path        string // as sent, escaped
	Query       string
	Auth        string
	ContentType string
	Body        string
}

// fakeAPI is an in-memory to-do API with the contract's shapes, one list per bearer
// token. It records every request.
type fakeAPI struct {
	mu    sync.Mutex
	todos map[string][]map[string]any
	reqs  []apiRequest
	seq   int
	// meBusy is how many DELETE /v1/me calls answer 503 (more left) before one ends.
	meBusy int
}

func newFakeAPI() *fakeAPI { return &fakeAPI{todos: map[string][]map[string]any{}} }

func (f *fakeAPI) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.reqs...)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	f.seq++
	reqID := fmt.Sprintf("req-%d", f.seq)
	f.reqs = append(f.reqs, apiRequest{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: string(b),
	})
	w.Header().Set("X-Request-Id", reqID)
	fail := func(status int, code, field, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body := map[string]any{"code": code, "message": msg, "requestId": reqID}
		if field != "" {
			body["field"] = field
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
	}
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	owner := r.Header.Get("Authorization")
	if !strings.HasPrefix(owner, "Bearer ") || len(owner) == len("Bearer ") {
		fail(http.StatusUnauthorized, "unauthenticated", "", "missing bearer token")
		return
	}
	list := f.todos[owner]
	find := func(id string) int {
		for i, t := range list {
			if t["id"] == id {
				return i
			}
		}
		return -1
	}
	id, isItem := strings.CutPrefix(r.URL.Path, "/v1/todos/")
	switch {
	case r.URL.Path == "/v1/me" && r.Method == http.MethodDelete && f.meBusy > 0:
		f.meBusy--
		w.Header().Set("Retry-After", "1")
		fail(http.StatusServiceUnavailable, "unavailable", "", "the account's data is being deleted ...; send DELETE /v1/me again to finish")
	case r.URL.Path == "/v1/me" && r.Method == http.MethodDelete:
		delete(f.todos, owner)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/v1/todos" && r.Method == http.MethodGet:
		limit := 50
		if l := r.URL.Query().Get("limit"); l != "" {
			limit, _ = strconv.Atoi(l)
		}
		start, _ := strconv.Atoi(r.URL.Query().Get("nextToken"))
		end := min(start+limit, len(list))
		var next any
		if end < len(list) {
			next = strconv.Itoa(end)
		}
		items := list[start:end]
		if items == nil {
			items = []map[string]any{}
		}
		reply(http.StatusOK, map[string]any{"items": items, "nextToken": next})
	case r.URL.Path == "/v1/todos" && r.Method == http.MethodPost:
		var in map[string]any
		if err := json.Unmarshal(b, &in); err != nil {
			fail(http.StatusBadRequest, "invalid_request", "", "body is not JSON")
			return
		}
		title, _ := in["title"].(string)
		if n := len([]rune(title)); n < 1 || n > 200 {
			fail(http.StatusBadRequest, "invalid_request", "title", "must be 1 to 200 characters")
			return
		}
		now := "2026-01-02T03:04:05Z"
		t := map[string]any{
			"id": fmt.Sprintf("01TEST%020d", f.seq), "title": title, "notes": in["notes"],
			"done": false, "createdAt": now, "updatedAt": now, "version": 1,
		}
		if t["notes"] == nil {
			t["notes"] = ""
		}
		if d, ok := in["dueAt"]; ok {
			t["dueAt"] = d
		}
		f.todos[owner] = append(list, t)
		w.Header().Set("Location", "/v1/todos/"+t["id"].(string))
		reply(http.StatusCreated, t)
	case isItem && find(id) < 0:
		fail(http.StatusNotFound, "not_found", "", "todo not found")
	case isItem && r.Method == http.MethodGet:
		reply(http.StatusOK, list[find(id)])
	case isItem && r.Method == http.MethodPatch:
		var in map[string]any
		if err := json.Unmarshal(b, &in); err != nil {
			fail(http.StatusBadRequest, "invalid_request", "", "body is not JSON")
			return
		}
		t := list[find(id)]
		for k, v := range in {
			if k == "dueAt" && v == nil {
				delete(t, k)
				continue
			}
			t[k] = v
		}
		t["version"] = t["version"].(int) + 1
		reply(http.StatusOK, t)
	case isItem && r.Method == http.MethodDelete:
		i := find(id)
		f.todos[owner] = append(list[:i:i], list[i+1:]...)
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(http.StatusMethodNotAllowed, "method_not_allowed", "", "method not allowed")
	}
}

// cognitoCall is one request to the fake Cognito.
type cognitoCall struct {
	Op   string
	Body map[string]any
}

// fakeCognito answers Cognito's JSON protocol with a function per operation.
type fakeCognito struct {
	mu    sync.Mutex
	ops   map[string]func(body map[string]any) (status int, out any)
	calls []cognitoCall
}

func (f *fakeCognito) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSCognitoIdentityProviderService.")
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.calls = append(f.calls, cognitoCall{Op: op, Body: body})
	h := f.ops[op]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if h == nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "InvalidParameterException", "message": "fake: no " + op})
		return
	}
	status, out := h(body)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeCognito) opNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ops []string
	for _, c := range f.calls {
		ops = append(ops, c.Op)
	}
	return ops
}

func cognitoError(typ, msg string) (int, any) {
	return http.StatusBadRequest, map[string]string{"__type": typ, "message": msg}
}

// world is a fake API over TLS, a fake Cognito, a stack file naming both, and a config
// directory for the session.
type world struct {
	api       *fakeAPI
	apiURL    string
	cognito   *fakeCognito
	caFile    string
	stackFile string
	env       map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{api: newFakeAPI(), cognito: &fakeCognito{ops: map[string]func(map[string]any) (int, any){}}}
	apiSrv := httptest.NewTLSServer(w.api)
	t.Cleanup(apiSrv.Close)
	cogSrv := httptest.NewServer(w.cognito)
	t.Cleanup(cogSrv.Close)
	w.apiURL = apiSrv.URL

	dir := t.TempDir()
	w.caFile = filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiSrv.Certificate().Raw})
	if err := os.WriteFile(w.caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	w.stackFile = filepath.Join(dir, "stack.json")
	if err := stack.Write(w.stackFile, &stack.Stack{
		Region: "us-east-1", AWSEndpoint: cogSrv.URL, CAFile: w.caFile, APIURL: apiSrv.URL,
		Resources: stack.Resources{UserPoolClientID: "client-1"},
	}); err != nil {
		t.Fatal(err)
	}
	w.env = map[string]string{
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"),
		"TODO_STACK_FILE": w.stackFile,
	}
	return w
}

func (w *world) getenv(k string) string { return w.env[k] }

func (w *world) store() session.Store {
	p, _ := session.DefaultPath(w.getenv)
	return session.Store{Path: p}
}

// login stores a session whose id token expires at exp and returns the id token.
func (w *world) login(t *testing.T, email string, exp time.Time) string {
	t.Helper()
	id := idToken(t, "sub-"+email, email, exp)
	if err := w.store().Save(&session.Session{
		Email: email, Sub: "sub-" + email, ClientID: "client-1",
		IDToken: id, AccessToken: "access-" + email, RefreshToken: "refresh-" + email, Expiry: exp,
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// run runs the todo command and returns its exit code and output.
func (w *world) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb, w.getenv)
	return code, out.String(), errb.String()
}

var testKey = []byte("test key, not a secret")

// idToken returns a JWT with the claims of a Cognito id token.
func idToken(t *testing.T, sub, email string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject(sub).Claim("email", email).Claim("token_use", "id").
		Expiration(exp).IssuedAt(time.Now()).JwtID(fmt.Sprint(time.Now().UnixNano())).Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), testKey))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
