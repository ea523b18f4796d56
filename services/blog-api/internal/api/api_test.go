package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/maillink"
	"github.com/serverless-architect/serverless-architect/internal/originverify"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog/blogtest"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/markdown"
)

type fakePresigner struct{}

func (fakePresigner) PresignUpload(_ context.Context, key, contentType string) (string, error) {
	return "https://media.example/" + key + "?ct=" + url.QueryEscape(contentType), nil
}

// fakePurger records the CDN invalidations; err makes them fail.
type fakePurger struct {
	mu    sync.Mutex
	calls [][]string
	err   error
}

func (p *fakePurger) Purge(_ context.Context, paths []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, paths)
	return p.err
}

func (p *fakePurger) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

type fixture struct {
	purger *fakePurger
	srv    *httptest.Server
	store  *blogtest.MemStore
	pool   *authtest.Pool
	signer *maillink.Signer
	svc    *blog.Service
	admin  string
	reader string
}

// testOriginSecret is the fixture's origin secret: the value the distribution would send.
const testOriginSecret = "fixture-origin-secret-0123456789abcdef"

// viaCDN are the headers of a request CloudFront forwards for a viewer at addr.
func viaCDN(addr string) []string {
	return []string{"CloudFront-Viewer-Address", addr, originverify.Header, testOriginSecret}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := authtest.NewPool(t)
	v, err := auth.NewVerifier(pool.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	store := blogtest.NewMemStore()
	signer, err := maillink.New(bytes.Repeat([]byte{9}, maillink.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	svc := blog.NewService(store, markdown.New())
	svc.Limiter = &blogtest.Limiter{}
	svc.Rules.Region = "eu-west-1"
	purger := &fakePurger{}
	backend := awsconf.Start(context.Background(), func(context.Context) (Backend, error) {
		origin, err := originverify.New(testOriginSecret)
		return Backend{Service: svc, Presigner: fakePresigner{}, Purger: purger, Origin: origin}, err
	})
	h := Handler(Deps{
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Auth: v, Backend: backend, Links: signer, ClientHeader: "CloudFront-Viewer-Address",
		CacheControl: "public, max-age=60, s-maxage=300", MediaBaseURL: "/media", AdminGroup: "admins", PageSize: 2, MaxPage: 50,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{
		srv: srv, store: store, pool: pool, signer: signer, purger: purger, svc: svc,
		admin:  pool.IDToken(t, "ann", map[string]any{"cognito:groups": []string{"admins"}}),
		reader: pool.IDToken(t, "bob", map[string]any{"cognito:groups": []string{"readers"}}),
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (f *fixture) do(t *testing.T, method, path, token string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

func TestAdminRoutesNeedTheGroup(t *testing.T) {
	f := newFixture(t)
	post := map[string]any{"title": "Hello", "body": "text"}
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"create without token", "POST", "/v1/posts", "", post, 401},
		{"create with garbage token", "POST", "/v1/posts", "not.a.jwt", post, 401},
		{"create without group", "POST", "/v1/posts", f.reader, post, 403},
		{"replace without token", "PUT", "/v1/posts/hello", "", post, 401},
		{"replace without group", "PUT", "/v1/posts/hello", f.reader, post, 403},
		{"delete without token", "DELETE", "/v1/posts/hello", "", nil, 401},
		{"delete without group", "DELETE", "/v1/posts/hello", f.reader, nil, 403},
		{"photo without token", "POST", "/v1/photos", "", map[string]any{"contentType": "image/png"}, 401},
		{"photo without group", "POST", "/v1/photos", f.reader, map[string]any{"contentType": "image/png"}, 403},
		{"create as admin", "POST", "/v1/posts", f.admin, post, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, tc.method, tc.path, tc.token, tc.body)
			if res.status != tc.want {
				t.Errorf("status = %d, want %d (%s)", res.status, tc.want, res.body)
			}
		})
	}
}

func TestPostLifecycleAndCaching(t *testing.T) {
	f := newFixture(t)
	res := f.do(t, "POST", "/v1/posts", f.admin, map[string]any{"title": "Héllo, <World>!", "body": "# Hi\n\n<script>alert(1)</script>", "tags": []string{"Go", "go", "web"}})
	if res.status != 201 {
		t.Fatalf("create = %d %s", res.status, res.body)
	}
	created := res.json(t)
	if diff := cmp.Diff("/v1/posts/hello-world", res.header.Get("Location")); diff != "" {
		t.Errorf("Location (-want +got):\n%s", diff)
	}
	if created["body"] == nil || res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("admin create should return the source with no-store, got %v / %q", created["body"], res.header.Get("Cache-Control"))
	}

	res = f.do(t, "GET", "/v1/posts/hello-world", "", nil)
	if res.status != 200 {
		t.Fatalf("get = %d %s", res.status, res.body)
	}
	got := res.json(t)
	if _, ok := got["body"]; ok {
		t.Error("public read leaks the Markdown source")
	}
	if diff := cmp.Diff(map[string]any{"slug": "hello-world", "title": "Héllo, <World>!", "html": "<h1>Hi</h1>\n\n", "tags": []any{"go", "web"}},
		map[string]any{"slug": got["slug"], "title": got["title"], "html": got["html"], "tags": got["tags"]}); diff != "" {
		t.Errorf("post (-want +got):\n%s", diff)
	}
	if bytes.Contains(res.body, []byte("<World>")) || bytes.Contains(res.body, []byte("<script>")) {
		t.Errorf("JSON carries raw markup: %s", res.body)
	}
	if diff := cmp.Diff("public, max-age=60, s-maxage=300", res.header.Get("Cache-Control")); diff != "" {
		t.Errorf("Cache-Control (-want +got):\n%s", diff)
	}
	etag := res.header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
		t.Fatalf("ETag %q is not a strong tag", etag)
	}
	if r := f.do(t, "GET", "/v1/posts/hello-world", "", nil, "If-None-Match", etag); r.status != 304 || len(r.body) != 0 || r.header.Get("ETag") != etag {
		t.Errorf("revalidation = %d %q etag %q, want 304 empty", r.status, r.body, r.header.Get("ETag"))
	}
	if r := f.do(t, "GET", "/v1/posts/hello-world", "", nil, "If-None-Match", `"other"`); r.status != 200 {
		t.Errorf("stale revalidation = %d, want 200", r.status)
	}

	if r := f.do(t, "POST", "/v1/posts", f.admin, map[string]any{"title": "Hello World", "body": "again"}); r.status != 409 {
		t.Errorf("duplicate slug = %d, want 409 (%s)", r.status, r.body)
	}
	if r := f.do(t, "PUT", "/v1/posts/hello-world", f.admin, map[string]any{"title": "Changed", "body": "new"}); r.status != 200 {
		t.Fatalf("replace = %d %s", r.status, r.body)
	}
	r := f.do(t, "GET", "/v1/posts/hello-world", "", nil, "If-None-Match", etag)
	if r.status != 200 || r.json(t)["title"] != "Changed" {
		t.Errorf("after replace = %d %s, want 200 with the new title", r.status, r.body)
	}
	if r := f.do(t, "DELETE", "/v1/posts/hello-world", f.admin, nil); r.status != 204 {
		t.Errorf("delete = %d", r.status)
	}
	for _, p := range []string{"/v1/posts/hello-world", "/v1/posts/no-such-post", "/v1/posts/NOT_A_SLUG"} {
		if r := f.do(t, "GET", p, "", nil); r.status != 404 || r.json(t)["error"].(map[string]any)["code"] != "not_found" {
			t.Errorf("GET %s = %d %s, want 404 not_found", p, r.status, r.body)
		}
	}
}

func TestListNewestFirstWithPages(t *testing.T) {
	f := newFixture(t)
	svc := blog.NewService(f.store, markdown.New())
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, title := range []string{"one", "two", "three", "four", "five"} {
		svc.Now = func() time.Time { return base.Add(time.Duration(i) * time.Minute) }
		if _, err := svc.CreatePost(context.Background(), blog.Draft{Title: title, Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	var slugs []string
	path := "/v1/posts"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := f.do(t, "GET", path, "", nil)
		if r.status != 200 {
			t.Fatalf("list = %d %s", r.status, r.body)
		}
		m := r.json(t)
		for _, it := range m["items"].([]any) {
			slugs = append(slugs, it.(map[string]any)["slug"].(string))
		}
		path = ""
		if tok, ok := m["nextToken"].(string); ok {
			path = "/v1/posts?nextToken=" + tok
		}
	}
	if diff := cmp.Diff([]string{"five", "four", "three", "two", "one"}, slugs); diff != "" {
		t.Errorf("slugs (-want +got):\n%s", diff)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?nextToken=***", "?nextToken=Zm9v"} {
		if r := f.do(t, "GET", "/v1/posts"+q, "", nil); r.status != 400 {
			t.Errorf("GET /v1/posts%s = %d, want 400", q, r.status)
		}
	}
}

func TestSubscribe(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []any{
		map[string]any{"email": "not-an-email"}, map[string]any{"email": "Ann <ann@example.com>"},
		map[string]any{"email": "ann@localhost"}, map[string]any{"email": ""}, map[string]any{},
		map[string]any{"email": strings.Repeat("a", 250) + "@example.com"},
	} {
		if r := f.do(t, "POST", "/v1/subscribers", "", bad); r.status != 400 {
			t.Errorf("subscribe %v = %d, want 400", bad, r.status)
		}
	}
	// An address SES cannot send to is refused with a message that says why.
	r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "ü@example.com"})
	if e, _ := r.json(t)["error"].(map[string]any); r.status != 400 || e["field"] != "email" || !strings.Contains(fmt.Sprint(e["message"]), "outside ASCII") {
		t.Errorf("subscribe ü@example.com = %d %s, want 400 naming the non-ASCII local part", r.status, r.body)
	}

	// A new address: 202, a pending subscriber of this region that expires in 48h.
	before := time.Now()
	first := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": " Ann@Example.COM "}, viaCDN("198.51.100.7:40001")...)
	if first.status != 202 || first.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("subscribe = %d %s cc=%q", first.status, first.body, first.header.Get("Cache-Control"))
	}
	sub, ok := f.store.Subscriber("ann@example.com")
	if !ok || sub.Status != blog.SubscriberPending || sub.Region != "eu-west-1" ||
		sub.ExpiresAt.Before(before.Add(47*time.Hour)) || sub.ExpiresAt.After(time.Now().Add(49*time.Hour)) {
		t.Fatalf("stored subscriber = %+v, %v; want pending, in eu-west-1, expiring in 48h", sub, ok)
	}

	// The same answer whatever the address's state: pending (a repeat in the mailbox's
	// window is dropped), confirmed, or another spelling of one mailbox.
	if _, err := f.svc.Confirm(context.Background(), "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"ann@example.com", "ann+news@example.com", "bob@example.com"} {
		r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": email}, viaCDN("198.51.100.7:40001")...)
		if r.status != first.status || r.json(t)["message"] != first.json(t)["message"] {
			t.Errorf("subscribe %s = %d %s, want the same answer as the first: %s", email, r.status, r.body, first.body)
		}
	}
	if got, _ := f.store.Subscriber("ann@example.com"); got.Status != blog.SubscriberConfirmed {
		t.Errorf("subscribing a confirmed address again made it %q", got.Status)
	}
	if _, ok := f.store.Subscriber("ann+news@example.com"); ok {
		t.Error("a second spelling of Ann's mailbox within the hour was stored: it would mail her again")
	}
	if got, ok := f.store.Subscriber("bob@example.com"); !ok || got.Status != blog.SubscriberPending {
		t.Errorf("bob = %+v, %v; want pending", got, ok)
	}
}

// TestSubscribeRateLimits: a client address gets SUBSCRIBE_CLIENT_LIMIT requests per
// window, then 429 with Retry-After; another address is not affected; an IPv6 client
// counts as its /64; a mailbox gets one confirmation per hour however it is spelt,
// the victim+0..+4 flood of the issue included.
func TestSubscribeRateLimits(t *testing.T) {
	f := newFixture(t)
	for i := range 10 {
		r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": fmt.Sprintf("victim+%d@example.com", i)}, viaCDN("203.0.113.9:5000")...)
		if r.status != 202 {
			t.Fatalf("request %d = %d %s", i+1, r.status, r.body)
		}
	}
	r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "someone@example.com"}, viaCDN("203.0.113.9:5001")...)
	wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || wait < 1 || wait > 600 || r.json(t)["error"].(map[string]any)["code"] != "throttled" {
		t.Errorf("the 11th request = %d Retry-After %q %s; want 429 throttled within the 10-minute window", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "other@example.com"}, viaCDN("203.0.113.10:5000")...); r.status != 202 {
		t.Errorf("another client = %d, want 202", r.status)
	}
	var stored []string
	for _, e := range f.store.Subscribers() {
		if strings.HasPrefix(e, "victim") {
			stored = append(stored, e)
		}
	}
	if diff := cmp.Diff([]string{"victim+0@example.com"}, stored); diff != "" {
		t.Errorf("the flood of one mailbox stored (-want +got):\n%s", diff)
	}
	// IPv6: one /64 is one client.
	for i := range 11 {
		addr := fmt.Sprintf("2001:db8:1:2::%x:443", i+1)
		r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": fmt.Sprintf("v6-%d@example.com", i)}, viaCDN(addr)...)
		if want := map[bool]int{true: 429, false: 202}[i == 10]; r.status != want {
			t.Errorf("request %d from %s = %d, want %d", i+1, addr, r.status, want)
		}
	}
}

// TestSubscribeSpoofedViewerAddress: a caller of the origin itself (its Knative route
// is public) cannot pick the address it is counted under by sending
// CloudFront-Viewer-Address: without the distribution's origin secret, or with a wrong
// one, every request counts under its TCP peer, so the 11th is refused whatever the
// header says.
func TestSubscribeSpoofedViewerAddress(t *testing.T) {
	f := newFixture(t)
	for i := range 11 {
		hdr := []string{"CloudFront-Viewer-Address", fmt.Sprintf("198.51.100.%d:4000", i+1)}
		if i%2 == 1 {
			hdr = append(hdr, originverify.Header, strings.Repeat("x", len(testOriginSecret)))
		}
		r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": fmt.Sprintf("spoof-%d@example.com", i)}, hdr...)
		if want := map[bool]int{true: 429, false: 202}[i == 10]; r.status != want {
			t.Errorf("direct request %d claiming %s = %d, want %d (counted under the peer)", i+1, hdr[1], r.status, want)
		}
	}
	if r := f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "viewer@example.com"}, viaCDN("198.51.100.200:4000")...); r.status != 202 {
		t.Errorf("a viewer through the distribution = %d, want 202: the peer's spoofed flood must not count against it", r.status)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ header, remote, want string }{
		{"198.51.100.10:46532", "10.0.0.1:1234", "198.51.100.10"},
		{"2001:db8:85a3::8a2e:370:7334:46532", "10.0.0.1:1234", "2001:db8:85a3::/64"},
		{"[2001:db8::1]:443", "10.0.0.1:1234", "2001:db8::/64"},
		{"198.51.100.10", "10.0.0.1:1234", "198.51.100.10"},
		{"", "10.0.0.1:1234", "10.0.0.1"},
		{"garbage", "[::ffff:10.0.0.2]:80", "10.0.0.2"},
		{"", "not an address", ""},
	} {
		r := httptest.NewRequest("POST", "/v1/subscribers", nil)
		r.RemoteAddr = tc.remote
		if tc.header != "" {
			r.Header.Set("CloudFront-Viewer-Address", tc.header)
		}
		if got := ClientKey(r, "CloudFront-Viewer-Address"); got != tc.want {
			t.Errorf("ClientKey(header %q, peer %q) = %q, want %q", tc.header, tc.remote, got, tc.want)
		}
	}
	r := httptest.NewRequest("POST", "/v1/subscribers", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("CloudFront-Viewer-Address", "198.51.100.10:1")
	if got := ClientKey(r, ""); got != "10.0.0.1" {
		t.Errorf("with no header configured the peer counts, got %q", got)
	}
}

// TestConfirm: the confirmation link's GET shows a page whose only form POSTs to the
// same URL and changes nothing; the POST confirms (once: again is harmless); expired,
// forged and unsubscribe tokens confirm nothing.
func TestConfirm(t *testing.T) {
	f := newFixture(t)
	f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "ann@example.com"})
	exp := time.Now().Add(time.Hour)
	link := f.signer.ConfirmLink("https://blog.example", "ann@example.com", exp)
	u, _ := url.Parse(link)
	path := u.Path + "?" + u.RawQuery

	r := f.do(t, "GET", path, "", nil)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET = %d %s", r.status, r.body)
	}
	forms := regexp.MustCompile(`<form method="post" action="([^"]*)">`).FindAllStringSubmatch(string(r.body), -1)
	if len(forms) != 1 || html.UnescapeString(forms[0][1]) != path || !bytes.Contains(r.body, []byte("Confirm subscription</button>")) {
		t.Errorf("page = %s; want one form POSTing to %s with a confirm button", r.body, path)
	}
	if got, _ := f.store.Subscriber("ann@example.com"); got.Status != blog.SubscriberPending {
		t.Fatalf("a GET changed the subscriber to %q", got.Status)
	}
	forged, _ := maillink.New(bytes.Repeat([]byte{1}, maillink.KeySize))
	for name, tok := range map[string]string{
		"garbage": "x.y.z", "another key": forged.Confirm("ann@example.com", exp),
		"an unsubscribe token": f.signer.Unsubscribe("ann@example.com"),
		"expired":              f.signer.Confirm("ann@example.com", time.Now().Add(-time.Second)),
	} {
		for _, method := range []string{"GET", "POST"} {
			if r := f.do(t, method, "/v1/subscribers/confirm?token="+url.QueryEscape(tok), "", nil); r.status != 400 {
				t.Errorf("%s with %s = %d, want 400", method, name, r.status)
			}
		}
	}
	if got, _ := f.store.Subscriber("ann@example.com"); got.Status != blog.SubscriberPending {
		t.Fatalf("a bad token changed the subscriber to %q", got.Status)
	}

	// The browser posts the page's form (the token in the URL and in the body).
	form := url.Values{"token": {u.Query().Get("token")}}.Encode()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("is subscribed")) {
		t.Errorf("POST = %d %s", resp.StatusCode, body)
	}
	if got, _ := f.store.Subscriber("ann@example.com"); got.Status != blog.SubscriberConfirmed || !got.ExpiresAt.IsZero() || got.Region != "eu-west-1" {
		t.Errorf("after the POST: %+v; want confirmed, no expiry, its region kept", got)
	}
	if r := f.do(t, "POST", path, "", nil); r.status != 200 || r.json(t)["confirmed"] != true {
		t.Errorf("confirming again = %d %s, want 200", r.status, r.body)
	}
	// Nothing pending: unsubscribed since, or never asked.
	f.do(t, "POST", "/v1/subscribers/unsubscribe?token="+url.QueryEscape(f.signer.Unsubscribe("ann@example.com")), "", nil)
	if r := f.do(t, "POST", path, "", nil); r.status != 404 {
		t.Errorf("confirming after unsubscribing = %d %s, want 404", r.status, r.body)
	}
}

func TestUnsubscribe(t *testing.T) {
	f := newFixture(t)
	f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "ann@example.com"})
	f.do(t, "POST", "/v1/subscribers", "", map[string]any{"email": "bob@example.com"})
	tok := f.signer.Unsubscribe("ann@example.com")
	q := "/v1/subscribers/unsubscribe?token=" + url.QueryEscape(tok)

	// The link itself (GET) only asks: mail scanners follow links.
	r := f.do(t, "GET", q, "", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte("<form")) {
		t.Fatalf("GET = %d %s", r.status, r.body)
	}
	if diff := cmp.Diff([]string{"ann@example.com", "bob@example.com"}, f.store.Subscribers()); diff != "" {
		t.Errorf("GET changed the list (-want +got):\n%s", diff)
	}
	forged, _ := maillink.New(bytes.Repeat([]byte{1}, maillink.KeySize))
	for _, bad := range []string{"", "garbage", forged.Unsubscribe("bob@example.com"), f.signer.Confirm("bob@example.com", time.Now().Add(time.Hour))} {
		if r := f.do(t, "POST", "/v1/subscribers/unsubscribe?token="+url.QueryEscape(bad), "", nil); r.status != 400 {
			t.Errorf("POST with token %q = %d, want 400", bad, r.status)
		}
	}
	if r := f.do(t, "POST", q, "", nil); r.status != 200 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	if diff := cmp.Diff([]string{"bob@example.com"}, f.store.Subscribers()); diff != "" {
		t.Errorf("after unsubscribe (-want +got):\n%s", diff)
	}
}

func TestPhotos(t *testing.T) {
	f := newFixture(t)
	if r := f.do(t, "POST", "/v1/photos", f.admin, map[string]any{"contentType": "text/html"}); r.status != 400 {
		t.Errorf("html upload = %d, want 400", r.status)
	}
	r := f.do(t, "POST", "/v1/photos", f.admin, map[string]any{"contentType": "image/jpeg", "filename": "cat.jpg"})
	if r.status != 201 {
		t.Fatalf("create photo = %d %s", r.status, r.body)
	}
	m := r.json(t)
	id := m["id"].(string)
	if diff := cmp.Diff(map[string]any{
		"status": "pending", "uploadUrl": "https://media.example/uploads/" + id + ".jpg?ct=image%2Fjpeg",
		"originalUrl": "/media/uploads/" + id + ".jpg", "thumbnailUrl": nil,
	}, map[string]any{"status": m["status"], "uploadUrl": m["uploadUrl"], "originalUrl": m["originalUrl"], "thumbnailUrl": m["thumbnailUrl"]}); diff != "" {
		t.Errorf("created photo (-want +got):\n%s", diff)
	}
	if r.header.Get("Location") != "/v1/photos/"+id {
		t.Errorf("Location = %q", r.header.Get("Location"))
	}
	r = f.do(t, "GET", "/v1/photos/"+id, "", nil)
	if r.status != 200 || r.json(t)["status"] != "pending" || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("pending photo = %d %s cc=%q", r.status, r.body, r.header.Get("Cache-Control"))
	}
	p, _ := f.store.GetPhoto(context.Background(), id)
	p.Status, p.ThumbnailKey, p.ThumbnailWebPKey = blog.PhotoReady, "thumbnails/"+id+".jpg", "thumbnails/"+id+".webp"
	f.store.SetPhoto(p)
	r = f.do(t, "GET", "/v1/photos/"+id, "", nil)
	if got := r.json(t); got["thumbnailUrl"] != "/media/thumbnails/"+id+".jpg" || got["thumbnailWebpUrl"] != "/media/thumbnails/"+id+".webp" {
		t.Errorf("thumbnailUrl = %v, thumbnailWebpUrl = %v", got["thumbnailUrl"], got["thumbnailWebpUrl"])
	}
	// Every type a phone or a browser writes is accepted (the bytes are the
	// thumbnailer's to check); its extension follows the declared type.
	for ct, ext := range map[string]string{"image/heic": "heic", "image/heif": "heif", "image/avif": "avif", "image/webp": "webp", "image/gif": "gif", "IMAGE/PNG": "png"} {
		r := f.do(t, "POST", "/v1/photos", f.admin, map[string]any{"contentType": ct, "filename": "IMG_0001." + ext})
		if r.status != 201 || !strings.HasSuffix(r.json(t)["originalUrl"].(string), "."+ext) {
			t.Errorf("create a %s photo = %d %s", ct, r.status, r.body)
		}
	}
	// A rejected photo says why, and is final (cacheable), with no thumbnail.
	p.Status, p.ThumbnailKey, p.ThumbnailWebPKey, p.Reason = blog.PhotoRejected, "", "", "the file is PNG (image/png), but was uploaded as image/jpeg"
	f.store.SetPhoto(p)
	r = f.do(t, "GET", "/v1/photos/"+id, "", nil)
	if got := r.json(t); got["status"] != "rejected" || got["reason"] != p.Reason || got["thumbnailUrl"] != nil || r.header.Get("Cache-Control") == "no-cache" {
		t.Errorf("rejected photo = %s cc=%q", r.body, r.header.Get("Cache-Control"))
	}
	if r := f.do(t, "GET", "/v1/photos?limit=50", "", nil); r.status != 200 || len(r.json(t)["items"].([]any)) != 7 {
		t.Errorf("list photos = %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v1/photos/01ARZ3NDEKTSV4RRFFQ69G5FAV", "", nil); r.status != 404 {
		t.Errorf("unknown photo = %d", r.status)
	}
}

// TestWritesInvalidateTheCDN: every post write invalidates /v1/posts* at the CDN, and a
// failing invalidation does not fail the write, which is done.
func TestWritesInvalidateTheCDN(t *testing.T) {
	f := newFixture(t)
	post := map[string]any{"title": "Purged", "body": "text"}
	if r := f.do(t, "POST", "/v1/posts", f.admin, post); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := f.do(t, "PUT", "/v1/posts/purged", f.admin, post); r.status != http.StatusOK {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	if r := f.do(t, "GET", "/v1/posts/purged", "", nil); r.status != http.StatusOK {
		t.Fatalf("read: %d", r.status)
	}
	if r := f.do(t, "DELETE", "/v1/posts/purged", f.admin, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	f.purger.mu.Lock()
	calls := f.purger.calls
	f.purger.mu.Unlock()
	if len(calls) != 3 {
		t.Fatalf("invalidations = %v, want one per write (3), none for the read", calls)
	}
	for _, c := range calls {
		if len(c) != 1 || c[0] != "/v1/posts*" {
			t.Errorf("invalidation paths = %v, want [/v1/posts*]", c)
		}
	}
	f.purger.mu.Lock()
	f.purger.err = errors.New("cloudfront is down")
	f.purger.mu.Unlock()
	if r := f.do(t, "POST", "/v1/posts", f.admin, map[string]any{"title": "Still saved", "body": "x"}); r.status != http.StatusCreated {
		t.Fatalf("create with the CDN failing: %d %s", r.status, r.body)
	}
	if f.purger.count() != 4 {
		t.Errorf("the failing invalidation was not attempted")
	}
}

func TestRenderPageEscapes(t *testing.T) {
	page := string(renderPage(pageData{
		Title:   `<script>alert(1)</script>`,
		Message: `Stop sending to "a"@x.org & <b>`,
		Token:   `t"><img src=x onerror=alert(1)>`,
		Action:  "/v1/subscribers/unsubscribe",
		Button:  "<b>Go</b>",
	}))
	for _, bad := range []string{"<script>", "<b>", `"><img`, "onerror=alert(1)>", "<b>Go"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q unescaped:\n%s", bad, page)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "&#34;a&#34;@x.org &amp; &lt;b&gt;", `value="t&#34;&gt;&lt;img`, `action="/v1/subscribers/unsubscribe"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(string(renderPage(pageData{Title: "x"})), "<form") {
		t.Error("a page without a token has a form")
	}
}
