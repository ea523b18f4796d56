package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/pagetoken"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo/todotest"
)

// memBucket is an in-memory bucket: "presigned" URLs name the key, uploads are
// recorded by the test itself.
type memBucket struct {
	objects map[string]int64
	signed  []string
	// slow is how many DeleteAll calls delete one object per page and then wait
	// for their context to end, as a folder too large for one request's budget does.
	slow int
}

func (b *memBucket) PresignUpload(_ context.Context, u files.Upload) (files.SignedUpload, error) {
	b.signed = append(b.signed, u.Key)
	return files.SignedUpload{Method: "PUT", URL: "https://s3.test/files/" + u.Key, Headers: map[string]string{"Content-Type": u.ContentType}}, nil
}

func (b *memBucket) PresignDownload(_ context.Context, key string, _ time.Duration) (files.SignedDownload, error) {
	b.signed = append(b.signed, key)
	return files.SignedDownload{Method: "GET", URL: "https://s3.test/files/" + key}, nil
}

func (b *memBucket) List(_ context.Context, prefix, startAfter string, limit int) ([]files.Object, bool, error) {
	var out []files.Object
	for _, k := range slices.Sorted(maps.Keys(b.objects)) {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, files.Object{Key: k, Size: b.objects[k]})
		}
	}
	return out, false, nil
}

func (b *memBucket) DeleteAll(ctx context.Context, prefix string) (int, error) {
	n := 0
	if b.slow > 0 {
		b.slow--
		for _, k := range slices.Sorted(maps.Keys(b.objects)) {
			if strings.HasPrefix(k, prefix) {
				delete(b.objects, k)
				n++
				break
			}
		}
		<-ctx.Done()
		return n, fmt.Errorf("delete objects under %s: %w", prefix, ctx.Err())
	}
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) {
			delete(b.objects, k)
			n++
		}
	}
	return n, nil
}

type stubVendor struct{ req files.SessionRequest }

func (v *stubVendor) Vend(_ context.Context, r files.SessionRequest) (files.Credentials, error) {
	v.req = r
	return files.Credentials{AccessKeyID: "ASIAX", SecretAccessKey: "s", SessionToken: "t", Expiration: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func newFilesEnv(t *testing.T, withFiles bool) (*env, *memBucket, *stubVendor) {
	t.Helper()
	pool := authtest.NewPool(t)
	v, err := auth.NewVerifier(pool.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := pagetoken.New(pagetoken.RandomKey(), "todos.list", time.Hour)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b := &memBucket{objects: map[string]int64{}}
	vend := &stubVendor{}
	filePages, _ := pagetoken.New(pagetoken.RandomKey(), "files.list", time.Hour)
	d := Deps{Log: log, Auth: v, Service: awsconf.Ready(todo.NewService(todotest.NewMemory())), Pages: pages, PageSize: 2, MaxPage: 100, FilePages: filePages,
		DeleteBudget: 500 * time.Millisecond}
	if withFiles {
		svc, err := files.NewService(files.Options{
			Bucket: "files", Region: "eu-west-1", CredentialsTTL: 15 * time.Minute, URLTTL: time.Minute,
			MaxUploadBytes: 1000, ContentTypes: []string{"text/plain"}, ListLimit: 10,
		}, vend, b)
		if err != nil {
			t.Fatal(err)
		}
		d.Files = awsconf.Ready(svc)
	}
	srv := httptest.NewServer(server.New(server.Config{MaxBodyBytes: 1 << 20}, log, Handler(d)).Handler())
	t.Cleanup(srv.Close)
	return &env{srv: srv, pool: pool}, b, vend
}

func TestFilesRoutes(t *testing.T) {
	e, b, vend := newFilesEnv(t, true)
	alice, bob := e.pool.IDToken(t, "alice", nil), e.pool.IDToken(t, "bob", nil)

	r := e.do(t, "POST", "/v1/files/credentials", alice, nil)
	var g files.Grant
	r.json(t, &g)
	if r.status != 200 || g.Prefix != "users/alice/" || g.Bucket != "files" || g.Region != "eu-west-1" || g.AccessKeyID != "ASIAX" {
		t.Fatalf("credentials: %d %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("credentials Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	if vend.req.Tags["sub"] != "alice" || !strings.Contains(vend.req.Policy, "users/alice/") || vend.req.Duration != 15*time.Minute {
		t.Errorf("session request %+v", vend.req)
	}

	r = e.do(t, "POST", "/v1/files/upload-url", alice, map[string]any{"key": "notes/a.txt", "contentType": "text/plain", "size": 12})
	var up files.SignedUpload
	r.json(t, &up)
	if r.status != 200 || up.URL != "https://s3.test/files/users/alice/notes/a.txt" {
		t.Fatalf("upload-url: %d %s", r.status, r.body)
	}
	b.objects["users/alice/notes/a.txt"] = 12
	b.objects["users/bob/secret.txt"] = 3

	r = e.do(t, "GET", "/v1/files?prefix=notes/", alice, nil)
	var l listFilesResponse
	r.json(t, &l)
	if diff := cmp.Diff([]files.ListedKey{{Key: "notes/a.txt", Size: 12, LastModified: time.Time{}.UTC()}}, l.Items); r.status != 200 || diff != "" {
		t.Fatalf("list: %d (-want +got):\n%s", r.status, diff)
	}
	if l.Prefix != "users/alice/" || l.NextToken != nil || !strings.Contains(string(r.body), `"nextToken":null`) {
		t.Errorf("list: %s; want the caller's folder as prefix and a null nextToken", r.body)
	}
	r = e.do(t, "GET", "/v1/files", bob, nil)
	r.json(t, &l)
	if len(l.Items) != 1 || l.Items[0].Key != "secret.txt" || l.Prefix != "users/bob/" {
		t.Fatalf("bob's list = %s", r.body)
	}

	r = e.do(t, "GET", "/v1/files/download-url?key="+url.QueryEscape("notes/a.txt"), alice, nil)
	var down files.SignedDownload
	r.json(t, &down)
	if r.status != 200 || down.URL != "https://s3.test/files/users/alice/notes/a.txt" {
		t.Fatalf("download-url: %d %s", r.status, r.body)
	}
	// Bob asking for Alice's key gets a URL into his own folder, never hers.
	r = e.do(t, "GET", "/v1/files/download-url?key="+url.QueryEscape("notes/a.txt"), bob, nil)
	r.json(t, &down)
	if down.URL != "https://s3.test/files/users/bob/notes/a.txt" {
		t.Errorf("bob's download URL = %s", down.URL)
	}
	for _, k := range b.signed {
		if !strings.HasPrefix(k, "users/alice/") && !strings.HasPrefix(k, "users/bob/") {
			t.Errorf("signed %q", k)
		}
	}
}

// TestFilesPagination: GET /v1/files pages with limit and a sealed nextToken, which is
// refused for another prefix, another user, or when tampered with.
func TestFilesPagination(t *testing.T) {
	e, b, _ := newFilesEnv(t, true)
	alice, bob := e.pool.IDToken(t, "alice", nil), e.pool.IDToken(t, "bob", nil)
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "c/1"} {
		b.objects["users/alice/"+k] = 1
	}
	b.objects["users/bob/a/9"] = 1
	var keys []string
	next, first, pages := "", "", 0
	for {
		path := "/v1/files?prefix=a/&limit=2"
		if next != "" {
			path += "&nextToken=" + url.QueryEscape(next)
		}
		r := e.do(t, "GET", path, alice, nil)
		var l listFilesResponse
		r.json(t, &l)
		if r.status != 200 || l.Prefix != "users/alice/" {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		pages++
		for _, it := range l.Items {
			keys = append(keys, it.Key)
		}
		if l.NextToken == nil {
			break
		}
		next = *l.NextToken
		if first == "" {
			first = next
		}
	}
	if diff := cmp.Diff([]string{"a/1", "a/2", "a/3"}, keys); diff != "" || pages != 2 {
		t.Errorf("%d pages (-want +got):\n%s", pages, diff)
	}
	tampered := []byte(first)
	tampered[3] ^= 1
	for name, c := range map[string]struct{ path, token string }{
		"another prefix": {"/v1/files?prefix=b/&nextToken=" + url.QueryEscape(first), alice},
		"another user":   {"/v1/files?prefix=a/&nextToken=" + url.QueryEscape(first), bob},
		"tampered":       {"/v1/files?prefix=a/&nextToken=" + url.QueryEscape(string(tampered)), alice},
		"garbage":        {"/v1/files?nextToken=abc", alice},
		"limit 0":        {"/v1/files?limit=0", alice},
		"limit too big":  {"/v1/files?limit=11", alice},
		"limit a word":   {"/v1/files?limit=ten", alice},
	} {
		r := e.do(t, "GET", c.path, c.token, nil)
		if r.status != 400 || r.errBody(t).Field == "" {
			t.Errorf("%s: %d %s, want a 400 naming a field", name, r.status, r.body)
		}
	}
	// A to-do page token is no files token.
	for range 3 {
		e.do(t, "POST", "/v1/todos", alice, map[string]any{"title": "x"})
	}
	var todos struct {
		NextToken *string `json:"nextToken"`
	}
	e.do(t, "GET", "/v1/todos?limit=1", alice, nil).json(t, &todos)
	if todos.NextToken == nil {
		t.Fatal("no to-do page token to try")
	}
	if r := e.do(t, "GET", "/v1/files?nextToken="+url.QueryEscape(*todos.NextToken), alice, nil); r.status != 400 {
		t.Errorf("a to-do token on /v1/files: %d %s", r.status, r.body)
	}
}

func TestFilesBadInput(t *testing.T) {
	e, b, _ := newFilesEnv(t, true)
	alice := e.pool.IDToken(t, "alice", nil)
	now := time.Now()
	expired := e.pool.IDToken(t, "alice", map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()})
	hostile := []string{"../bob/secret.txt", "/users/bob/secret.txt", "a\\..\\b", "a//b", "a\x00b", strings.Repeat("x", 1025)}
	type call struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      apperr.Code
	}
	calls := []call{
		{"no token", "POST", "/v1/files/credentials", "", nil, 401, apperr.Unauthenticated},
		{"expired token", "POST", "/v1/files/credentials", expired, nil, 401, apperr.Unauthenticated},
		{"expired token list", "GET", "/v1/files", expired, nil, 401, apperr.Unauthenticated},
		{"no token upload", "POST", "/v1/files/upload-url", "", map[string]any{"key": "a.txt", "contentType": "text/plain", "size": 1}, 401, apperr.Unauthenticated},
		{"too large", "POST", "/v1/files/upload-url", alice, map[string]any{"key": "a.txt", "contentType": "text/plain", "size": 1001}, 413, apperr.TooLarge},
		{"type not allowed", "POST", "/v1/files/upload-url", alice, map[string]any{"key": "a.html", "contentType": "text/html", "size": 1}, 415, apperr.UnsupportedMedia},
		{"unknown field", "POST", "/v1/files/upload-url", alice, map[string]any{"key": "a.txt", "contentType": "text/plain", "size": 1, "bucket": "other"}, 400, apperr.Invalid},
		{"no key", "GET", "/v1/files/download-url", alice, nil, 400, apperr.Invalid},
		{"hostile prefix", "GET", "/v1/files?prefix=" + url.QueryEscape("../"), alice, nil, 400, apperr.Invalid},
	}
	for _, k := range hostile {
		calls = append(calls,
			call{"hostile upload " + k[:min(len(k), 12)], "POST", "/v1/files/upload-url", alice, map[string]any{"key": k, "contentType": "text/plain", "size": 1}, 400, apperr.Invalid},
			call{"hostile download " + k[:min(len(k), 12)], "GET", "/v1/files/download-url?key=" + url.QueryEscape(k), alice, nil, 400, apperr.Invalid})
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.method, c.path, c.token, c.body)
			if r.status != c.status || r.errBody(t).Code != c.code {
				t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, r.status, r.body, c.status, c.code)
			}
		})
	}
	if len(b.signed) != 0 {
		t.Errorf("bad requests got signed: %v", b.signed)
	}
}

func TestFilesNotConfigured(t *testing.T) {
	e, _, _ := newFilesEnv(t, false)
	r := e.do(t, "POST", "/v1/files/credentials", e.pool.IDToken(t, "alice", nil), nil)
	if r.status != 503 || r.errBody(t).Code != apperr.Unavailable {
		t.Errorf("credentials without FILES_BUCKET: %d %s", r.status, r.body)
	}
}

// TestDeleteMeOverBudget: a folder too large for one request's budget gets 503 with
// Retry-After and a body saying to call again; what was deleted stays deleted, the
// account is closed already, and the call that follows finishes the job (204).
func TestDeleteMeOverBudget(t *testing.T) {
	e, b, _ := newFilesEnv(t, true)
	alice := e.pool.IDToken(t, "alice", nil)
	if r := e.do(t, "POST", "/v1/todos", alice, map[string]any{"title": "x"}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	b.objects["users/alice/a.txt"], b.objects["users/alice/b.txt"], b.objects["users/alice/c.txt"], b.objects["users/bob/d.txt"] = 1, 2, 3, 4
	b.slow = 1
	r := e.do(t, "DELETE", "/v1/me", alice, nil)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.errBody(t).Message, "send DELETE /v1/me again") {
		t.Fatalf("over budget: %d Retry-After %q %s; want 503, Retry-After and a message to call again", r.status, r.header.Get("Retry-After"), r.body)
	}
	if _, gone := b.objects["users/alice/a.txt"]; gone || len(b.objects) != 3 {
		t.Errorf("after the first call: %v; want users/alice/a.txt deleted and the rest kept", b.objects)
	}
	if r := e.do(t, "POST", "/v1/todos", alice, map[string]any{"title": "meanwhile"}); r.status != 403 {
		t.Errorf("create between the calls: %d, want 403 (the account is closed)", r.status)
	}
	if r := e.do(t, "DELETE", "/v1/me", alice, nil); r.status != 204 {
		t.Fatalf("the retry: %d %s, want 204", r.status, r.body)
	}
	if diff := cmp.Diff(map[string]int64{"users/bob/d.txt": 4}, b.objects); diff != "" {
		t.Errorf("objects after the retry (-want +got):\n%s", diff)
	}
	var page struct{ Items []todo.Todo }
	r = e.do(t, "GET", "/v1/todos", alice, nil)
	r.json(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("alice's to-dos after the retry: %s", r.body)
	}
}

// TestDeleteMe: DELETE /v1/me removes the caller's to-dos and every object of their
// folder, and nobody else's; afterwards the caller's token lists nothing and can write
// nothing (403), and the call can be repeated (idempotent).
func TestDeleteMe(t *testing.T) {
	for _, withFiles := range []bool{true, false} {
		t.Run(fmt.Sprintf("files=%v", withFiles), func(t *testing.T) {
			e, b, _ := newFilesEnv(t, withFiles)
			alice, bob := e.pool.IDToken(t, "alice", nil), e.pool.IDToken(t, "bob", nil)
			for _, tok := range []string{alice, alice, alice, bob} {
				if r := e.do(t, "POST", "/v1/todos", tok, map[string]any{"title": "x"}); r.status != 201 {
					t.Fatalf("create: %d %s", r.status, r.body)
				}
			}
			b.objects["users/alice/a.txt"], b.objects["users/alice/dir/b.txt"], b.objects["users/bob/c.txt"] = 1, 2, 3

			for i := range 2 {
				if r := e.do(t, "DELETE", "/v1/me", alice, nil); r.status != 204 {
					t.Fatalf("DELETE /v1/me #%d: %d %s", i+1, r.status, r.body)
				}
			}
			var page struct{ Items []todo.Todo }
			r := e.do(t, "GET", "/v1/todos", alice, nil)
			r.json(t, &page)
			if r.status != 200 || len(page.Items) != 0 {
				t.Errorf("alice's list after deletion: %d %s", r.status, r.body)
			}
			if r := e.do(t, "POST", "/v1/todos", alice, map[string]any{"title": "after"}); r.status != 403 || r.errBody(t).Message != todo.ClosedMessage {
				t.Errorf("create after deletion: %d %s, want 403 %q", r.status, r.body, todo.ClosedMessage)
			}
			r = e.do(t, "GET", "/v1/todos", bob, nil)
			r.json(t, &page)
			if len(page.Items) != 1 {
				t.Errorf("bob's list after alice's deletion: %s", r.body)
			}
			want := map[string]int64{"users/bob/c.txt": 3}
			if !withFiles {
				want = map[string]int64{"users/alice/a.txt": 1, "users/alice/dir/b.txt": 2, "users/bob/c.txt": 3}
			}
			if diff := cmp.Diff(want, b.objects); diff != "" {
				t.Errorf("objects after alice's deletion (-want +got):\n%s", diff)
			}
			if withFiles {
				for _, call := range []struct {
					method, path string
					body         any
				}{
					{"POST", "/v1/files/credentials", nil},
					{"POST", "/v1/files/upload-url", map[string]any{"key": "again.txt", "contentType": "text/plain", "size": 1}},
				} {
					if r := e.do(t, call.method, call.path, alice, call.body); r.status != 403 {
						t.Errorf("%s %s after deletion: %d %s, want 403", call.method, call.path, r.status, r.body)
					}
				}
				if r := e.do(t, "POST", "/v1/files/credentials", bob, nil); r.status != 200 {
					t.Errorf("bob's credentials after alice's deletion: %d %s", r.status, r.body)
				}
			}
			if r := e.do(t, "DELETE", "/v1/me", "", nil); r.status != 401 {
				t.Errorf("DELETE /v1/me without a token: %d", r.status)
			}
		})
	}
}
