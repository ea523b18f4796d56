package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/s3origin"
)

// object is one object of the fake bucket.
type object struct {
	body         []byte
	contentType  string
	cacheControl string
	etag         string
}

// fakeS3 is an in-memory bucket with S3's conditional GET behaviour.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string]object // "bucket/key"
	gets    []string          // keys asked for, with the If-None-Match sent
}

func (f *fakeS3) put(bucket, key, body, contentType, cacheControl string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sum := md5.Sum([]byte(body))
	f.objects[bucket+"/"+key] = object{body: []byte(body), contentType: contentType, cacheControl: cacheControl, etag: `"` + hex.EncodeToString(sum[:]) + `"`}
}

func (f *fakeS3) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.gets...)
}

func (f *fakeS3) lookup(bucket, key, inm string) (object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, key+" "+inm)
	o, ok := f.objects[bucket+"/"+key]
	if !ok {
		return object{}, &types.NoSuchKey{}
	}
	if inm != "" && inm == o.etag {
		return object{}, &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 304, Header: http.Header{"Etag": {o.etag}}}}}
	}
	return o, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	o, err := f.lookup(aws.ToString(in.Bucket), aws.ToString(in.Key), aws.ToString(in.IfNoneMatch))
	if err != nil {
		return nil, err
	}
	lm := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &s3.GetObjectOutput{
		Body: io.NopCloser(bytes.NewReader(o.body)), ContentLength: aws.Int64(int64(len(o.body))),
		ContentType: aws.String(o.contentType), CacheControl: aws.String(o.cacheControl), ETag: aws.String(o.etag), LastModified: &lm,
	}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	o, err := f.lookup(aws.ToString(in.Bucket), aws.ToString(in.Key), aws.ToString(in.IfNoneMatch))
	if err != nil {
		return nil, &types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(o.body))), ContentType: aws.String(o.contentType), CacheControl: aws.String(o.cacheControl), ETag: aws.String(o.etag)}, nil
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// apiOrigin plays blog-api: public answers with ETag and honoured If-None-Match.
type apiOrigin struct {
	srv   *httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	body  string
	cc    string
	seen  []string // method path If-None-Match Accept-Encoding
}

func newAPIOrigin(t *testing.T) *apiOrigin {
	o := &apiOrigin{body: `{"items":[` + strings.Repeat(`{"slug":"hello-world","title":"Hello, world"},`, 40) + `{}]}`, cc: "public, max-age=60, s-maxage=300"}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.calls.Add(1)
		o.mu.Lock()
		body, cc := o.body, o.cc
		o.seen = append(o.seen, r.Method+" "+r.URL.Path+" inm="+r.Header.Get("If-None-Match")+" ae="+r.Header.Get("Accept-Encoding"))
		o.mu.Unlock()
		if r.Method != http.MethodGet {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusCreated)
			return
		}
		sum := md5.Sum([]byte(body))
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		w.Header().Set("Etag", etag)
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if strings.HasPrefix(r.URL.Path, "/v1/private") {
			w.Header().Set("Cache-Control", "private, max-age=60")
		}
		if strings.HasPrefix(r.URL.Path, "/v1/nostore") {
			w.Header().Set("Cache-Control", "no-store")
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *apiOrigin) set(body, cc string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.body, o.cc = body, cc
}

func (o *apiOrigin) requests() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen...)
}

type edgeFixture struct {
	t     *testing.T
	s3    *fakeS3
	api   *apiOrigin
	clock *clock
	url   string
}

// newEdge runs the gateway with services/gateway/edge.yaml, the fake buckets and the
// fake blog-api.
func newEdge(t *testing.T) *edgeFixture {
	t.Helper()
	f := &edgeFixture{t: t, s3: &fakeS3{objects: map[string]object{}}, api: newAPIOrigin(t), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	table, err := route.Load("../../edge.yaml", LookupEnv(map[string]string{"SITE_BUCKET": "site", "MEDIA_BUCKET": "media", "BLOG_API_URL": f.api.srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	pool := authtest.NewPool(t)
	v, err := auth.NewVerifier(pool.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{CacheMaxEntries: 1000, CacheMaxBytes: 16 << 20, AuthCacheSize: 100, AuthCacheTTL: time.Minute, ThrottleMaxCallers: 100, UpstreamMaxIdleConns: 16}
	gw, err := New(cfg, Deps{Table: table, Verifier: v, Log: log, Now: f.clock.Now,
		S3: func(context.Context) (s3origin.API, error) { return f.s3, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	srv := httptest.NewServer(server.New(server.Config{MaxBodyBytes: 1 << 20}, log, gw).Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// get sends a request without Go's transparent gzip, so the raw encoding is seen.
func (f *edgeFixture) get(method, path string, hdr ...string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

const page = `<!doctype html><html><head><title>MyBlog</title></head><body>` + "\n"

func TestEdgeS3Origin(t *testing.T) {
	f := newEdge(t)
	home := page + strings.Repeat("<p>recent posts</p>\n", 3)
	f.s3.put("site", "index.html", home, "text/html; charset=utf-8", "public, max-age=0, must-revalidate, s-maxage=300")
	f.s3.put("site", "docs/index.html", "<p>docs</p>", "text/html", "public, max-age=0, must-revalidate, s-maxage=300")
	f.s3.put("site", "post.html", "<p>post</p>", "text/html", "public, max-age=0, must-revalidate, s-maxage=300")
	f.s3.put("media", "uploads/a.jpg", "\xff\xd8jpeg", "image/jpeg", "")
	f.s3.put("site", "media/uploads/a.jpg", "wrong bucket", "image/jpeg", "")

	tests := []struct {
		name, method, path, accept string
		status                     int
		ctype, cc, body            string
	}{
		{"root is index.html", "GET", "/", "", 200, "text/html; charset=utf-8", "public, max-age=0, must-revalidate, s-maxage=300", home},
		{"directory is its index.html", "GET", "/docs/", "", 200, "text/html", "public, max-age=0, must-revalidate, s-maxage=300", "<p>docs</p>"},
		{"query is ignored", "GET", "/post.html?slug=hello", "", 200, "text/html", "public, max-age=0, must-revalidate, s-maxage=300", "<p>post</p>"},
		{"media prefix stripped", "GET", "/media/uploads/a.jpg", "", 200, "image/jpeg", "", "\xff\xd8jpeg"},
		{"missing key, API client", "GET", "/nope.js", "application/json", 404, "application/json; charset=utf-8", "no-store", ""},
		{"missing key, browser", "GET", "/nope.html", "text/html,application/xhtml+xml", 404, "text/html; charset=utf-8", "no-store", ""},
		{"missing media", "GET", "/media/uploads/none.jpg", "", 404, "application/json; charset=utf-8", "no-store", ""},
		{"head", "HEAD", "/post.html", "", 200, "text/html", "public, max-age=0, must-revalidate, s-maxage=300", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(tc.method, tc.path, "Accept", tc.accept)
			got := []string{fmt.Sprint(resp.StatusCode), resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control")}
			want := []string{fmt.Sprint(tc.status), tc.ctype, tc.cc}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status, type, cache-control (-want +got):\n%s", diff)
			}
			switch {
			case tc.status == 404 && strings.HasPrefix(tc.ctype, "application/json"):
				if !strings.Contains(string(body), `"code":"not_found"`) || !strings.Contains(string(body), `"requestId":"`) {
					t.Errorf("404 body is not the error envelope: %s", body)
				}
			case tc.status == 404:
				if !strings.Contains(string(body), "<h1>Not found</h1>") {
					t.Errorf("404 page: %s", body)
				}
			case string(body) != tc.body:
				t.Errorf("body = %q, want %q", body, tc.body)
			}
			if tc.status == 200 && (resp.Header.Get("Etag") == "" || resp.Header.Get("Last-Modified") == "" && tc.method == "GET") {
				t.Errorf("validators missing: ETag %q, Last-Modified %q", resp.Header.Get("Etag"), resp.Header.Get("Last-Modified"))
			}
		})
	}
	// POST on the site is refused by the route table, not sent to S3.
	if resp, _ := f.get("POST", "/index.html"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /index.html: %d, want 405", resp.StatusCode)
	}
}

func TestEdgeSharedCache(t *testing.T) {
	f := newEdge(t)
	f.s3.put("site", "index.html", page, "text/html", "public, max-age=0, must-revalidate, s-maxage=300")

	// First request misses, the next ones hit for s-maxage (300s), with Age.
	resp, _ := f.get("GET", "/")
	if got := resp.Header.Get("X-Cache"); got != "Miss" {
		t.Fatalf("first GET / X-Cache = %q, want Miss", got)
	}
	f.clock.Add(299 * time.Second)
	resp, _ = f.get("GET", "/")
	if got := [2]string{resp.Header.Get("X-Cache"), resp.Header.Get("Age")}; got != [2]string{"Hit", "299"} {
		t.Errorf("GET / at 299s: X-Cache, Age = %v, want [Hit 299]", got)
	}
	// The client's own If-None-Match is answered by the edge.
	resp, body := f.get("GET", "/", "If-None-Match", resp.Header.Get("Etag"))
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("conditional GET: %d with %d bytes, want 304 with none", resp.StatusCode, len(body))
	}
	resp, _ = f.get("GET", "/", "If-Modified-Since", resp.Header.Get("Last-Modified"))
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with If-Modified-Since = Last-Modified: %d, want 304", resp.StatusCode)
	}
	// Past s-maxage the entry is revalidated with the ETag: S3 says 304, the edge
	// answers from the entry (Hit) and serves it fresh for another 300s.
	f.clock.Add(2 * time.Second)
	resp, body = f.get("GET", "/")
	if resp.StatusCode != 200 || string(body) != page || resp.Header.Get("X-Cache") != "Hit" {
		t.Errorf("revalidated GET /: %d %q X-Cache %q", resp.StatusCode, body, resp.Header.Get("X-Cache"))
	}
	f.clock.Add(10 * time.Second)
	f.get("GET", "/")
	etag := resp.Header.Get("Etag")
	if diff := cmp.Diff([]string{"index.html ", "index.html " + etag}, f.s3.log()); diff != "" {
		t.Errorf("requests to S3 (-want +got):\n%s", diff)
	}
	// A changed object is fetched whole on the next revalidation.
	f.s3.put("site", "index.html", page+"<p>new</p>", "text/html", "public, max-age=0, must-revalidate, s-maxage=300")
	f.clock.Add(301 * time.Second)
	resp, body = f.get("GET", "/")
	if resp.Header.Get("X-Cache") != "Miss" || !strings.Contains(string(body), "new") {
		t.Errorf("after a change: X-Cache %q, body %q", resp.Header.Get("X-Cache"), body)
	}
}

func TestEdgeOriginCacheControl(t *testing.T) {
	f := newEdge(t)
	// blog-api's answer: s-maxage (300) rules at the edge, not max-age (60).
	f.get("GET", "/v1/posts?limit=10")
	f.clock.Add(200 * time.Second)
	if resp, _ := f.get("GET", "/v1/posts?limit=10"); resp.Header.Get("X-Cache") != "Hit" {
		t.Errorf("at 200s with s-maxage=300: X-Cache %q, want Hit", resp.Header.Get("X-Cache"))
	}
	// Without s-maxage, max-age rules: at 59s a hit, at 61s a revalidation.
	f.api.set(`{"n":2}`, "public, max-age=60")
	f.get("GET", "/v1/posts?limit=5")
	f.clock.Add(59 * time.Second)
	before := len(f.api.requests())
	f.get("GET", "/v1/posts?limit=5")
	f.clock.Add(2 * time.Second)
	resp, _ := f.get("GET", "/v1/posts?limit=5")
	reqs := f.api.requests()[before:]
	if len(reqs) != 1 || !strings.Contains(reqs[0], `inm="`) || resp.Header.Get("X-Cache") != "Hit" {
		t.Errorf("at 59s and 61s with max-age=60: upstream requests %q, X-Cache %q; want one revalidation, then Hit", reqs, resp.Header.Get("X-Cache"))
	}
	// An object without Cache-Control: fresh for the route's defaultTtl on /media
	// (an hour), revalidated on every request on the site (defaultTtl 0).
	f.s3.put("media", "uploads/b.jpg", "jpeg", "image/jpeg", "")
	f.s3.put("site", "robots.txt", "User-agent: *", "text/plain", "")
	for _, p := range []string{"/media/uploads/b.jpg", "/robots.txt"} {
		f.get("GET", p)
		f.clock.Add(30 * time.Minute)
		f.get("GET", p)
	}
	if diff := cmp.Diff([]string{"uploads/b.jpg ", "robots.txt ", `robots.txt "` + md5hex("User-agent: *") + `"`}, f.s3.log()); diff != "" {
		t.Errorf("requests to S3 (-want +got):\n%s", diff)
	}
	// private and no-store are never stored.
	for _, p := range []string{"/v1/private", "/v1/nostore"} {
		f.get("GET", p)
		if resp, _ := f.get("GET", p); resp.Header.Get("X-Cache") != "Miss" {
			t.Errorf("%s second GET: X-Cache %q, want Miss", p, resp.Header.Get("X-Cache"))
		}
	}
	// Requests with credentials bypass the shared cache.
	if resp, _ := f.get("GET", "/v1/posts?limit=10", "Authorization", "Bearer x"); resp.Header.Get("X-Cache") != "Bypass" {
		t.Errorf("with Authorization: X-Cache %q, want Bypass", resp.Header.Get("X-Cache"))
	}
	// The edge never forwards the client's conditionals or encodings on a cacheable
	// fetch: it needs the identity body to store.
	f.get("GET", "/v1/posts?limit=3", "If-None-Match", `"x"`, "Accept-Encoding", "br")
	reqs = f.api.requests()
	if got := reqs[len(reqs)-1]; got != "GET /v1/posts inm= ae=" {
		t.Errorf("upstream request = %q, want no If-None-Match and no Accept-Encoding", got)
	}
	// A write through the edge makes its cached /v1 answers stale at once.
	if resp, _ := f.get("POST", "/v1/posts"); resp.StatusCode != 201 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	if resp, _ := f.get("GET", "/v1/posts?limit=10"); resp.Header.Get("X-Cache") != "Miss" {
		t.Errorf("after a write: X-Cache %q, want Miss", resp.Header.Get("X-Cache"))
	}
}

func TestEdgeCompression(t *testing.T) {
	f := newEdge(t)
	css := strings.Repeat("body { margin: 0 auto; max-width: 40rem; }\n", 100)
	f.s3.put("site", "style.abc.css", css, "text/css; charset=utf-8", "public, max-age=31536000, immutable")
	f.s3.put("site", "small.js", "x=1", "text/javascript", "public, max-age=60")
	f.s3.put("site", "logo.png", strings.Repeat("\x89PNG", 500), "image/png", "public, max-age=60")

	decode := map[string]func([]byte) ([]byte, error){
		"":   func(b []byte) ([]byte, error) { return b, nil },
		"br": func(b []byte) ([]byte, error) { return io.ReadAll(brotli.NewReader(bytes.NewReader(b))) },
		"gzip": func(b []byte) ([]byte, error) {
			r, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		},
	}
	tests := []struct {
		name, path, accept, want string
		vary                     bool
	}{
		{"brotli preferred", "/style.abc.css", "gzip, deflate, br", "br", true},
		{"gzip", "/style.abc.css", "gzip", "gzip", true},
		{"q=0 refuses", "/style.abc.css", "br;q=0, gzip;q=0.5", "gzip", true},
		{"higher q wins", "/style.abc.css", "gzip;q=0.5, br;q=0.1", "gzip", true},
		{"x-gzip is gzip", "/style.abc.css", "x-gzip", "gzip", true},
		{"upper case", "/style.abc.css", "GZIP", "gzip", true},
		{"identity preferred", "/style.abc.css", "identity, gzip;q=0.5", "", true},
		{"nothing acceptable", "/style.abc.css", "br;q=0, gzip;q=0", "", true},
		{"wildcard", "/style.abc.css", "*", "br", true},
		{"identity", "/style.abc.css", "", "", true},
		{"small body", "/small.js", "br, gzip", "", false},
		{"image", "/logo.png", "br, gzip", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get("GET", tc.path, "Accept-Encoding", tc.accept)
			if got := resp.Header.Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Content-Encoding = %q, want %q", got, tc.want)
			}
			if got := strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding"); got != tc.vary {
				t.Errorf("Vary: Accept-Encoding present = %v, want %v", got, tc.vary)
			}
			plain, err := decode[tc.want](body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.path == "/style.abc.css" {
				if string(plain) != css {
					t.Errorf("decoded body differs from the object")
				}
				if tc.want != "" && len(body) >= len(css)/4 {
					t.Errorf("%s body is %d bytes for %d", tc.want, len(body), len(css))
				}
				if fmt.Sprint(len(body)) != resp.Header.Get("Content-Length") {
					t.Errorf("Content-Length %s for %d bytes", resp.Header.Get("Content-Length"), len(body))
				}
			}
		})
	}
	// A compressed variant's ETag is weak, and it still answers If-None-Match.
	resp, _ := f.get("GET", "/style.abc.css", "Accept-Encoding", "br")
	if et := resp.Header.Get("Etag"); !strings.HasPrefix(et, `W/"`) {
		t.Errorf("ETag of the br variant = %q, want a weak one", et)
	}
	resp, _ = f.get("GET", "/style.abc.css", "Accept-Encoding", "br", "If-None-Match", resp.Header.Get("Etag"))
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the weak ETag: %d, want 304", resp.StatusCode)
	}
}

// An object stored compressed (Content-Encoding: gzip) is never compressed again.
func TestEdgeNoDoubleCompression(t *testing.T) {
	h := http.Header{"Content-Type": {"text/css"}, "Content-Encoding": {"gzip"}}
	if compressible(h, 1<<20) {
		t.Error("a gzip-encoded body is compressible")
	}
	h = http.Header{"Content-Type": {"text/css"}, "Cache-Control": {"public, no-transform"}}
	if compressible(h, 1<<20) {
		t.Error("a no-transform body is compressible")
	}
}
