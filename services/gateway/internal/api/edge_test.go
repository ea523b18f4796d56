package api

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
	"slices"
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
	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/store"
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

// apiOrigin plays blog-api behind a Knative ingress: it answers only requests whose
// Host is the ingress's (404 otherwise, as an ingress routes by Host), public answers
// with an ETag and honoured If-None-Match, and records what reached it.
type apiOrigin struct {
	srv    *httptest.Server
	host   string
	calls  atomic.Int64
	mu     sync.Mutex
	body   string
	cc     string
	status int           // of writes
	hold   chan struct{} // when set, a GET is answered once it is closed
	seen   []string      // method path If-None-Match Accept-Encoding
	heads  []http.Header
	hosts  []string
}

const apiHost = "blog-origin.example.com"

func newAPIOrigin(t *testing.T) *apiOrigin {
	o := &apiOrigin{host: apiHost, body: `{"items":[` + strings.Repeat(`{"slug":"hello-world","title":"Hello, world"},`, 40) + `{}]}`,
		cc: "public, max-age=60, s-maxage=300", status: http.StatusCreated}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.calls.Add(1)
		o.mu.Lock()
		body, cc, status, hold := o.body, o.cc, o.status, o.hold
		o.seen = append(o.seen, r.Method+" "+r.URL.RequestURI()+" inm="+r.Header.Get("If-None-Match")+" ae="+r.Header.Get("Accept-Encoding"))
		o.heads = append(o.heads, r.Header.Clone())
		o.hosts = append(o.hosts, r.Host)
		o.mu.Unlock()
		if r.Host != o.host {
			http.Error(w, "no route for host "+r.Host, http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			return
		}
		if hold != nil {
			<-hold
		}
		sum := md5.Sum([]byte(body))
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		w.Header().Set("Etag", etag)
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/private"):
			w.Header().Set("Cache-Control", "private, max-age=60")
		case strings.HasPrefix(r.URL.Path, "/v1/nostore"):
			w.Header().Set("Cache-Control", "no-store")
		case strings.HasPrefix(r.URL.Path, "/v1/page"):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
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

// last is the header and Host of the last request that reached the origin.
func (o *apiOrigin) last() (http.Header, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.heads[len(o.heads)-1], o.hosts[len(o.hosts)-1]
}

type edgeFixture struct {
	t     *testing.T
	s3    *fakeS3
	api   *apiOrigin
	clock *clock
	url   string
	dist  *cdn.Distribution
	gw    *Gateway
}

// blogDistribution is MyBlog's distribution as `sa provision` makes it
// (provision.BlogDistribution), with buckets "site" and "media" (and "media2" as the
// second region's with two regions) and the API at blog-origin.example.com.
func blogDistribution(regions int) *cdn.Distribution {
	cache, origin := provision.APICachePolicy(""), provision.APIOriginRequestPolicy("")
	cache.ID, origin.ID = provision.LocalPolicyID("cache policy", cache.Name), provision.LocalPolicyID("origin request policy", origin.Name)
	security := provision.SecurityHeadersPolicy("", []string{"http://127.0.0.1:4566"})
	security.ID = provision.LocalPolicyID("response headers policy", security.Name)
	media := []provision.RegionalBucket{{Bucket: "media", Region: "us-east-1"}}
	if regions == 2 {
		media = append(media, provision.RegionalBucket{Bucket: "media2", Region: "eu-west-1"})
	}
	return provision.BlogDistribution(provision.DistributionInputs{
		Name: "myblog", Site: provision.RegionalBucket{Bucket: "site", Region: "us-east-1"}, Media: media,
		OACID: "OAC", APIHost: apiHost, MediaFunctionName: "myblog-media-path", OriginSecret: testOriginSecret,
		APICache: cache, APIOrigin: origin, SecurityHeaders: security,
	})
}

// newEdgeFixture runs the gateway in edge mode with MyBlog's distribution, the fake buckets
// and the fake blog-api (reached through ORIGIN_URLS, as the local stack reaches a
// latency-routed host name).
func newEdgeFixture(t *testing.T) *edgeFixture { return newEdgeFixtureFor(t, blogDistribution(1)) }

func newEdgeFixtureFor(t *testing.T, d *cdn.Distribution) *edgeFixture {
	t.Helper()
	f := &edgeFixture{t: t, s3: &fakeS3{objects: map[string]object{}}, api: newAPIOrigin(t), clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, dist: d}
	pool := authtest.NewPool(t)
	v, err := auth.NewVerifier(pool.Config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{CacheMaxEntries: 1000, CacheMaxBytes: 16 << 20, AuthCacheSize: 100, AuthCacheTTL: time.Minute, ThrottleMaxCallers: 100, UpstreamMaxIdleConns: 16}
	gw, err := New(cfg, Deps{Distribution: d, OriginURLs: map[string]string{"api": f.api.srv.URL}, Verifier: v, Log: log, Now: f.clock.Now,
		S3: func(context.Context) (store.API, error) { return f.s3, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	f.gw = gw
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

const page = `<!doctype html><html><head><title>MyBlog</title></head><body>` + "\n"

func TestEdgeS3Origin(t *testing.T) {
	f := newEdgeFixture(t)
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
		{"root is the default root object", "GET", "/", "", 200, "text/html; charset=utf-8", "public, max-age=0, must-revalidate, s-maxage=300", home},
		{"a directory is not (as CloudFront)", "GET", "/docs/", "", 404, "application/json; charset=utf-8", "no-store", ""},
		{"query is ignored", "GET", "/post.html?slug=hello", "", 200, "text/html", "public, max-age=0, must-revalidate, s-maxage=300", "<p>post</p>"},
		{"the media function strips /media", "GET", "/media/uploads/a.jpg", "", 200, "image/jpeg", "", "\xff\xd8jpeg"},
		{"missing key, API client", "GET", "/nope.js", "application/json", 404, "application/json; charset=utf-8", "no-store", ""},
		// Accept does not reach S3 (CachingOptimized forwards no header): no HTML page.
		{"missing key, browser", "GET", "/nope.html", "text/html,application/xhtml+xml", 404, "application/json; charset=utf-8", "no-store", ""},
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
	// A method the behaviour does not allow is refused as CloudFront refuses it: 403,
	// without reaching S3.
	before := len(f.s3.log())
	if resp, body := f.get("POST", "/index.html"); resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "does not allow POST") {
		t.Errorf("POST /index.html: %d %s, want 403", resp.StatusCode, body)
	}
	if len(f.s3.log()) != before {
		t.Error("a refused method reached S3")
	}
}

func TestEdgeSharedCache(t *testing.T) {
	f := newEdgeFixture(t)
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
	// Credentials and cookies are not in CachingOptimized's key: a request with them is
	// answered from the same entry, and they never reach S3.
	if resp, _ := f.get("GET", "/", "Authorization", "Bearer x", "Cookie", "a=b"); resp.Header.Get("X-Cache") != "Hit" {
		t.Errorf("GET / with credentials: X-Cache %q, want Hit", resp.Header.Get("X-Cache"))
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

// TestEdgeTTLs: answers are kept as the behaviours' cache policies say.
func TestEdgeTTLs(t *testing.T) {
	f := newEdgeFixture(t)
	// blog-api's answer: s-maxage (300) rules, not max-age (60).
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
	// The API policy's default TTL is 0: an answer without Cache-Control is
	// revalidated on every request.
	f.api.set(`{"n":3}`, "")
	f.get("GET", "/v1/posts?limit=7")
	before = len(f.api.requests())
	f.get("GET", "/v1/posts?limit=7")
	if reqs := f.api.requests()[before:]; len(reqs) != 1 || !strings.Contains(reqs[0], `inm="`) {
		t.Errorf("no Cache-Control on /v1: upstream requests %q, want a revalidation", reqs)
	}
	// private and no-store are never stored under the API policy (minimum TTL 0).
	for _, p := range []string{"/v1/private", "/v1/nostore"} {
		f.get("GET", p)
		if resp, _ := f.get("GET", p); resp.Header.Get("X-Cache") != "Miss" {
			t.Errorf("%s second GET: X-Cache %q, want Miss", p, resp.Header.Get("X-Cache"))
		}
	}
	// CachingOptimized: an object without Cache-Control is fresh for its default TTL, a
	// day, on the site and on /media alike.
	f.s3.put("media", "uploads/b.jpg", "jpeg", "image/jpeg", "")
	f.s3.put("site", "robots.txt", "User-agent: *", "text/plain", "")
	for _, p := range []string{"/media/uploads/b.jpg", "/robots.txt"} {
		f.get("GET", p)
		f.clock.Add(23 * time.Hour)
		if resp, _ := f.get("GET", p); resp.Header.Get("X-Cache") != "Hit" {
			t.Errorf("%s after 23h: X-Cache %q, want Hit", p, resp.Header.Get("X-Cache"))
		}
	}
	if diff := cmp.Diff([]string{"uploads/b.jpg ", "robots.txt "}, f.s3.log()); diff != "" {
		t.Errorf("requests to S3 (-want +got):\n%s", diff)
	}
}

// testOriginSecret is the fixture distribution's origin secret (provision.OriginSecret).
const testOriginSecret = "edge-test-origin-secret-not-a-real-one-000"

// TestEdgeOriginRequest checks what reaches blog-api: exactly what the API's cache and
// origin request policies forward, with the ingress's own Host, and the origin's custom
// header in place of a viewer's forgery.
func TestEdgeOriginRequest(t *testing.T) {
	f := newEdgeFixture(t)
	f.get("POST", "/v1/posts?draft=1", "Authorization", "Bearer admin", "Accept", "application/json", "Content-Type", "application/json",
		"Cookie", "session=1", "User-Agent", "Mozilla/5.0", "Origin", "https://evil.example", "X-Forwarded-For", "10.1.1.1",
		"Cloudfront-Viewer-Address", "6.6.6.6:1", "X-Request-Id", "abc", "X-Origin-Verify", "forged by the viewer")
	h, host := f.api.last()
	if host != apiHost {
		t.Errorf("blog-api's ingress saw Host %q, want %q", host, apiHost)
	}
	got := map[string]string{}
	for k := range h {
		got[k] = h.Get(k)
	}
	delete(got, "Content-Length")
	delete(got, "Accept-Encoding") // Go's client may ask for gzip on its own
	want := map[string]string{
		"Authorization": "Bearer admin", "Accept": "application/json", "Content-Type": "application/json",
		"User-Agent": "Amazon CloudFront", "X-Forwarded-For": "10.1.1.1, 127.0.0.1",
		"Cloudfront-Viewer-Address": got["Cloudfront-Viewer-Address"],
		// The distribution's origin custom header, over the one the viewer sent.
		"X-Origin-Verify": testOriginSecret,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers at blog-api (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got["Cloudfront-Viewer-Address"], "127.0.0.1:") {
		t.Errorf("CloudFront-Viewer-Address = %q, want the viewer's 127.0.0.1:port", got["Cloudfront-Viewer-Address"])
	}
	if reqs := f.api.requests(); reqs[len(reqs)-1] != "POST /v1/posts?draft=1 inm= ae=" && !strings.HasPrefix(reqs[len(reqs)-1], "POST /v1/posts?draft=1 ") {
		t.Errorf("request = %q, want the query forwarded", reqs[len(reqs)-1])
	}
	// Admin reads are cached per token (Authorization is in the key), never shared.
	f.get("GET", "/v1/posts", "Authorization", "Bearer a")
	if resp, _ := f.get("GET", "/v1/posts", "Authorization", "Bearer a"); resp.Header.Get("X-Cache") != "Hit" {
		t.Errorf("same token: X-Cache %q, want Hit", resp.Header.Get("X-Cache"))
	}
	if resp, _ := f.get("GET", "/v1/posts", "Authorization", "Bearer b"); resp.Header.Get("X-Cache") != "Miss" {
		t.Errorf("another token: X-Cache %q, want Miss", resp.Header.Get("X-Cache"))
	}
	if resp, _ := f.get("GET", "/v1/posts"); resp.Header.Get("X-Cache") != "Miss" {
		t.Errorf("no token: X-Cache %q, want Miss", resp.Header.Get("X-Cache"))
	}
	// On a cacheable fetch the edge sends neither the client's conditionals nor its
	// encodings: it needs the identity body to store.
	f.get("GET", "/v1/posts?limit=3", "If-None-Match", `"x"`, "Accept-Encoding", "br")
	reqs := f.api.requests()
	if got := reqs[len(reqs)-1]; got != "GET /v1/posts?limit=3 inm= ae=" && got != "GET /v1/posts?limit=3 inm= ae=gzip" {
		t.Errorf("upstream request = %q, want no If-None-Match and not the client's Accept-Encoding", got)
	}
}

// TestEdgeRunsMisconfigurations runs the distribution issue 12 found (the managed
// UseOriginCacheControlHeaders-QueryStrings and AllViewerExceptHostHeader on /v1/*):
// the local edge does what CloudFront would, so the admin's write reaches blog-api's
// ingress with the viewer's Host and no token, and fails here as it would in AWS.
func TestEdgeRunsMisconfigurations(t *testing.T) {
	d := blogDistribution(1)
	d.Behaviors[0].CachePolicyID, d.Behaviors[0].OriginRequestPolicyID = cdn.UseOriginCacheControlHeadersQSID, cdn.AllViewerExceptHostID
	f := newEdgeFixtureFor(t, d)
	resp, _ := f.get("POST", "/v1/posts", "Authorization", "Bearer admin")
	h, host := f.api.last()
	if resp.StatusCode != http.StatusNotFound || host == apiHost || h.Get("Authorization") != "" {
		t.Errorf("with the old policies: %d, Host %q, Authorization %q; want the ingress's 404, the viewer's Host, no token",
			resp.StatusCode, host, h.Get("Authorization"))
	}
	// And the old default behaviour, keyed on Host, is refused before it runs.
	d = blogDistribution(1)
	d.DefaultBehavior.CachePolicyID = cdn.UseOriginCacheControlHeadersID
	_, err := New(Config{CacheMaxEntries: 10, CacheMaxBytes: 1 << 20, AuthCacheSize: 1, AuthCacheTTL: time.Minute, ThrottleMaxCallers: 1, UpstreamMaxIdleConns: 1},
		Deps{Distribution: d, S3: func(context.Context) (store.API, error) { return nil, nil }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "S3 origin") {
		t.Errorf("a Host-keyed S3 behaviour started: %v", err)
	}
}

// TestEdgeResponseHeaders: every answer, from any origin, hit, miss or error, carries
// the security headers policy; blog-api's own pages keep their CSP.
func TestEdgeResponseHeaders(t *testing.T) {
	f := newEdgeFixture(t)
	f.s3.put("site", "index.html", page, "text/html", "public, max-age=0, must-revalidate, s-maxage=300")
	f.s3.put("media", "uploads/a.jpg", "jpeg", "image/jpeg", "")
	csp := f.dist.ResponseHeadersPolicies[0].ContentSecurityPolicy.Value
	for _, tc := range []struct {
		method, path, csp string
	}{
		{"GET", "/", csp}, {"GET", "/", csp}, {"GET", "/v1/posts", csp}, {"GET", "/media/uploads/a.jpg", csp},
		{"GET", "/missing.html", csp}, {"DELETE", "/index.html", csp},
		{"GET", "/v1/page", "default-src 'none'; style-src 'unsafe-inline'"},
	} {
		resp, _ := f.get(tc.method, tc.path)
		got := []string{resp.Header.Get("Content-Security-Policy"), resp.Header.Get("Strict-Transport-Security"),
			resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("X-Frame-Options"), resp.Header.Get("Referrer-Policy")}
		want := []string{tc.csp, "max-age=31536000", "nosniff", "DENY", "strict-origin-when-cross-origin"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s (%d) security headers (-want +got):\n%s", tc.method, tc.path, resp.StatusCode, diff)
		}
	}
}

// TestEdgeInvalidations: as at CloudFront, a write through the edge leaves its cache
// alone, and an invalidation drops exactly what its paths cover: every cached version
// of an exact path (whatever its query string), every path a pattern ending in *
// prefixes, case-sensitively; a fetch in flight when the invalidation came is not
// stored.
func TestEdgeInvalidations(t *testing.T) {
	f := newEdgeFixture(t)
	read := func(path string) (string, int64) {
		t.Helper()
		before := f.api.calls.Load()
		resp, _ := f.get("GET", path)
		return resp.Header.Get("X-Cache"), f.api.calls.Load() - before
	}
	const list = "/v1/posts?limit=10"
	f.get("GET", list)
	if cache, calls := read(list); cache != "Hit" || calls != 0 {
		t.Fatalf("X-Cache %q with %d origin requests, want a Hit from the cache", cache, calls)
	}
	if resp, _ := f.get("POST", "/v1/posts"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	f.api.set(`{"items":[{"slug":"new"}]}`, "public, max-age=60, s-maxage=300")
	if cache, calls := read(list); cache != "Hit" || calls != 0 {
		t.Errorf("after a write through the edge: X-Cache %q with %d origin requests, want the cached list (CloudFront keeps it until an invalidation)", cache, calls)
	}
	if n := f.gw.ApplyInvalidation([]string{"/v1/post", "/v1/postsX*", "/V1/posts*", "/v1/posts/"}); n != 0 {
		t.Errorf("invalidations of other paths dropped %d answers, want 0", n)
	}
	if cache, _ := read(list); cache != "Hit" {
		t.Errorf("after invalidations of other paths: X-Cache %q, want Hit", cache)
	}
	if n := f.gw.ApplyInvalidation([]string{"/v1/posts"}); n != 1 {
		t.Errorf("invalidating /v1/posts dropped %d answers, want 1: the list cached with its query string", n)
	}
	if cache, calls := read(list); cache != "Miss" || calls != 1 {
		t.Errorf("after invalidating /v1/posts: X-Cache %q with %d origin requests, want the new list fetched", cache, calls)
	}

	for _, p := range []string{"/v1/posts/a", "/v1/posts/b", "/v1/photos/c"} {
		f.get("GET", p)
	}
	if n := f.gw.ApplyInvalidation([]string{"/v1/posts/*"}); n != 2 {
		t.Errorf("invalidating /v1/posts/* dropped %d answers, want 2", n)
	}
	for p, want := range map[string]string{"/v1/posts/a": "Miss", "/v1/posts/b": "Miss", "/v1/photos/c": "Hit", list: "Hit"} {
		if cache, _ := read(p); cache != want {
			t.Errorf("%s after invalidating /v1/posts/*: X-Cache %q, want %s", p, cache, want)
		}
	}

	// A fetch in flight when the invalidation comes: served, not stored.
	hold := make(chan struct{})
	f.api.mu.Lock()
	f.api.hold = hold
	f.api.mu.Unlock()
	done := make(chan string)
	go func() {
		resp, _ := f.get("GET", "/v1/posts/slow")
		done <- resp.Header.Get("X-Cache")
	}()
	waitFor(t, "the slow fetch at the origin", func() bool {
		return slices.ContainsFunc(f.api.requests(), func(r string) bool { return strings.HasPrefix(r, "GET /v1/posts/slow ") })
	})
	f.gw.ApplyInvalidation([]string{"/v1/posts/*"})
	close(hold)
	if cache := <-done; cache != "Miss" {
		t.Errorf("the fetch in flight: X-Cache %q, want Miss", cache)
	}
	f.api.mu.Lock()
	f.api.hold = nil
	f.api.mu.Unlock()
	if cache, calls := read("/v1/posts/slow"); cache != "Miss" || calls != 1 {
		t.Errorf("the answer of a fetch in flight when its path was invalidated: X-Cache %q with %d origin requests, want it fetched again (it was not stored)", cache, calls)
	}
}

// TestEdgeOriginGroup: with two regions, /media/* is an origin group: a photo only in
// the second region's bucket is served after the first answers 404.
func TestEdgeOriginGroup(t *testing.T) {
	f := newEdgeFixtureFor(t, blogDistribution(2))
	f.s3.put("media", "uploads/east.jpg", "east", "image/jpeg", "")
	f.s3.put("media2", "uploads/west.jpg", "west", "image/jpeg", "")
	for _, tc := range [][2]string{{"/media/uploads/east.jpg", "east"}, {"/media/uploads/west.jpg", "west"}} {
		if resp, body := f.get("GET", tc[0]); resp.StatusCode != 200 || string(body) != tc[1] {
			t.Errorf("%s: %d %q, want %q", tc[0], resp.StatusCode, body, tc[1])
		}
	}
	if resp, _ := f.get("GET", "/media/uploads/nowhere.jpg"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("in neither bucket: %d, want 404", resp.StatusCode)
	}
	if diff := cmp.Diff([]string{"uploads/east.jpg ", "uploads/west.jpg ", "uploads/west.jpg ", "uploads/nowhere.jpg ", "uploads/nowhere.jpg "},
		f.s3.log()); diff != "" {
		t.Errorf("bucket reads (-want +got):\n%s", diff)
	}
}

func TestEdgeCompression(t *testing.T) {
	f := newEdgeFixture(t)
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
