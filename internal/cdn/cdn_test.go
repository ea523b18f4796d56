package cdn

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// blog is a distribution shaped like MyBlog's: a site bucket by default, an API with
// its own cache and origin request policies on /v1/*, a media bucket with the media
// function on /media/*, one response headers policy on all three.
func blog() *Distribution {
	media := CodeSHA256(MediaFunctionCode)
	return &Distribution{
		Name: "myblog", DefaultRootObject: "index.html",
		Origins: []Origin{
			{ID: "site", DomainName: "site-b.s3.us-east-1.amazonaws.com", S3: true, OriginAccessControlID: "OAC"},
			{ID: "media", DomainName: "media-b.s3.us-east-1.amazonaws.com", S3: true, OriginAccessControlID: "OAC"},
			{ID: "api", DomainName: "api.example.com", ProtocolPolicy: HTTPSOnly},
		},
		DefaultBehavior: Behavior{TargetOriginID: "site", ViewerProtocolPolicy: "redirect-to-https", AllowedMethods: ReadMethods,
			CachedMethods: ReadMethods, Compress: true, CachePolicyID: CachingOptimizedID, ResponseHeadersPolicyID: "rh"},
		Behaviors: []Behavior{
			{PathPattern: "/v1/*", TargetOriginID: "api", ViewerProtocolPolicy: "redirect-to-https", AllowedMethods: AllMethods,
				CachedMethods: ReadMethods, Compress: true, CachePolicyID: "cp", OriginRequestPolicyID: "orp", ResponseHeadersPolicyID: "rh"},
			{PathPattern: "/media/*", TargetOriginID: "media", ViewerProtocolPolicy: "redirect-to-https", AllowedMethods: ReadMethods,
				CachedMethods: ReadMethods, Compress: true, CachePolicyID: CachingOptimizedID, ResponseHeadersPolicyID: "rh",
				Functions: []FunctionAssociation{{EventType: EventViewerRequest, Name: "media-path", CodeSHA256: media}}},
		},
		CachePolicies: []CachePolicy{{ID: "cp", Name: "myblog-api", MinTTL: 0, DefaultTTL: 0, MaxTTL: year,
			Headers: []string{"Authorization"}, Cookies: Nothing, QueryStrings: Everything, Gzip: true, Brotli: true}},
		OriginRequestPolicies: []OriginRequestPolicy{{ID: "orp", Name: "myblog-api",
			Headers: Only("Accept", "CloudFront-Viewer-Address"), Cookies: Nothing, QueryStrings: Nothing}},
		ResponseHeadersPolicies: []ResponseHeadersPolicy{{ID: "rh", Name: "myblog-security",
			ContentSecurityPolicy:   &HeaderValue{Value: "default-src 'self'"},
			StrictTransportSecurity: &HSTS{MaxAge: 31536000, Override: true},
			ContentTypeOptions:      &Flag{Override: true}}},
	}
}

func resolved(t *testing.T, d *Distribution) []*Resolved {
	t.Helper()
	rs, err := d.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/v1/*", "/v1/posts", true},
		{"/v1/*", "/v1/", true},
		{"/v1/*", "/v1", false},
		{"v1/*", "/v1/posts", true},
		{"/v1/*", "/V1/posts", false},
		{"/media/*", "/media/uploads/a.jpg", true},
		{"/media/*", "/mediax/a.jpg", false},
		{"*.jpg", "/a/b.jpg", true},
		{"/images/?.png", "/images/a.png", true},
		{"/images/?.png", "/images/ab.png", false},
		{"/a*b*c", "/axxbyyc", true},
		{"/a*b*c", "/axxbyy", false},
		{"*", "/anything", true},
	}
	for _, tc := range tests {
		if got := MatchPattern(tc.pattern, tc.path); got != tc.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
	rs := resolved(t, blog())
	for path, want := range map[string]string{"/": "*", "/v1/posts": "/v1/*", "/v1": "*", "/media/x.jpg": "/media/*", "/post.html": "*"} {
		if got := Match(rs, path).Pattern(); got != want {
			t.Errorf("Match(%s) = %s, want %s", path, got, want)
		}
	}
}

func TestTTL(t *testing.T) {
	optimized, _ := ManagedCachePolicy(CachingOptimizedID)
	originCC, _ := ManagedCachePolicy(UseOriginCacheControlHeadersQSID)
	disabled, _ := ManagedCachePolicy(CachingDisabledID)
	api := blog().CachePolicies[0]
	tests := []struct {
		name   string
		policy CachePolicy
		cc     string
		ttl    time.Duration
		cache  bool
	}{
		{"optimized, nothing said: default 1 day", optimized, "", 24 * time.Hour, true},
		{"optimized, immutable asset", optimized, "public, max-age=31536000, immutable", 365 * 24 * time.Hour, true},
		{"optimized, max-age=0 is raised to min 1s", optimized, "max-age=0", time.Second, true},
		{"optimized, no-store is kept min TTL", optimized, "no-store", time.Second, true},
		{"s-maxage wins over max-age", optimized, "public, max-age=0, must-revalidate, s-maxage=300", 300 * time.Second, true},
		{"api, nothing said: not kept", api, "", 0, true},
		{"api, public answer", api, "public, max-age=60, s-maxage=300", 300 * time.Second, true},
		{"api, no-store: never", api, "no-store", 0, false},
		{"api, private: never", api, "private, max-age=60", 0, false},
		{"api, no-cache: never", api, "no-cache", 0, false},
		{"api, above max", api, "s-maxage=99999999999", 365 * 24 * time.Hour, true},
		{"origin headers, bad age is stale", originCC, "max-age=soon", 0, true},
		{"disabled", disabled, "public, max-age=600", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.cc != "" {
				h.Set("Cache-Control", tc.cc)
			}
			ttl, cache := tc.policy.TTL(h)
			if ttl != tc.ttl || cache != tc.cache {
				t.Errorf("TTL(%q) = %s, %v; want %s, %v", tc.cc, ttl, cache, tc.ttl, tc.cache)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := blog().Validate(); err != nil {
		t.Fatalf("MyBlog-shaped distribution: %v", err)
	}
	tests := []struct {
		name   string
		change func(d *Distribution)
		want   string
	}{
		{"Host-keyed policy on an S3 origin", func(d *Distribution) { d.DefaultBehavior.CachePolicyID = UseOriginCacheControlHeadersID },
			"sends the viewer's Host to S3 origin"},
		{"AllViewer on an S3 origin", func(d *Distribution) { d.DefaultBehavior.OriginRequestPolicyID = AllViewerID },
			"sends the viewer's Host to S3 origin"},
		{"Authorization in an origin request policy", func(d *Distribution) { d.OriginRequestPolicies[0].Headers = Only("Authorization") },
			"refuses Authorization in an origin request policy"},
		{"Authorization key on an S3 origin", func(d *Distribution) { d.DefaultBehavior.CachePolicyID = "cp" },
			"keys on Authorization, which CloudFront does not support for S3"},
		{"origin group with writes", func(d *Distribution) {
			d.Origins = append(d.Origins, Origin{ID: "api2", DomainName: "api2.example.com", ProtocolPolicy: HTTPSOnly})
			d.OriginGroups = []OriginGroup{{ID: "apis", Members: []string{"api", "api2"}, FailoverStatusCodes: []int{503}}}
			d.Behaviors[0].TargetOriginID = "apis"
		}, "refuses POST, PUT, PATCH or DELETE"},
		{"aliases without a certificate", func(d *Distribution) { d.Aliases = []string{"blog.example.com"} }, "need an ACM certificate"},
		{"certificate outside us-east-1", func(d *Distribution) {
			d.Aliases = []string{"blog.example.com"}
			d.CertificateARN = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
		}, "only uses ACM certificates from us-east-1"},
		{"keys with caching off", func(d *Distribution) { d.CachePolicies[0].MaxTTL, d.CachePolicies[0].DefaultTTL = 0, 0 },
			"caching is disabled"},
		{"unknown managed policy", func(d *Distribution) { d.Behaviors[1].CachePolicyID = "00000000-0000-0000-0000-000000000000" },
			"neither a managed policy this project knows"},
		{"methods not a CloudFront set", func(d *Distribution) { d.Behaviors[0].AllowedMethods = []string{"GET", "POST"} },
			"allowedMethods"},
		{"custom origin port", func(d *Distribution) { d.Origins[2].HTTPSPort = 444 }, "CloudFront allows 443 or 1024-65535"},
		{"no response header", func(d *Distribution) { d.ResponseHeadersPolicies[0] = ResponseHeadersPolicy{ID: "rh", Name: "x"} },
			"sets no header"},
		{"origin secret never filled in", func(d *Distribution) { d.Origins[2].CustomHeaders = []CustomHeader{{Name: "X-Origin-Verify"}} },
			"X-Origin-Verify: the value is empty"},
		{"reserved custom header", func(d *Distribution) { d.Origins[2].CustomHeaders = []CustomHeader{{Name: "x-amz-date", Value: "1"}} },
			"does not add X-Amz-Date"},
		{"custom header twice", func(d *Distribution) {
			d.Origins[2].CustomHeaders = []CustomHeader{{Name: "X-Origin-Verify", Value: "a"}, {Name: "x-origin-verify", Value: "b"}}
		}, "X-Origin-Verify is set twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := blog()
			tc.change(d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOriginRequest(t *testing.T) {
	rs := resolved(t, blog())
	api, site := rs[0], rs[2]
	viewer := http.Header{
		"Authorization":             {"Bearer t"},
		"Accept":                    {"application/json"},
		"Accept-Encoding":           {"br"},
		"Content-Type":              {"application/json"},
		"Cookie":                    {"session=1; theme=dark"},
		"User-Agent":                {"Mozilla"},
		"X-Forwarded-For":           {"10.0.0.1"},
		"Origin":                    {"https://evil.example"},
		"Cloudfront-Viewer-Address": {"6.6.6.6:1"},
		"If-Match":                  {`"v1"`},
		"X-Custom":                  {"x"},
	}
	v := Viewer{Addr: "192.0.2.7:4711", Proto: "https"}
	got := api.OriginHeader(viewer, v, api.Origins[0])
	want := http.Header{
		"Authorization":             {"Bearer t"},
		"Accept":                    {"application/json"},
		"Content-Type":              {"application/json"},
		"If-Match":                  {`"v1"`},
		"User-Agent":                {"Amazon CloudFront"},
		"X-Forwarded-For":           {"10.0.0.1, 192.0.2.7"},
		"Cloudfront-Viewer-Address": {"192.0.2.7:4711"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("API origin header (-want +got):\n%s", diff)
	}
	if h := api.Host("d123.cloudfront.net", api.Origins[0]); h != "api.example.com" {
		t.Errorf("API origin's Host = %q, want its own domain", h)
	}
	if q := api.OriginQuery("limit=10&nextToken=a%2Bb&x=1"); q != "limit=10&nextToken=a%2Bb&x=1" {
		t.Errorf("API origin query = %q", q)
	}
	if q := site.OriginQuery("slug=hello"); q != "" {
		t.Errorf("site origin query = %q, want none", q)
	}
	got = site.OriginHeader(viewer, v, site.Origins[0])
	if _, ok := got["Authorization"]; ok {
		t.Errorf("Authorization reached the S3 origin: %v", got)
	}
	if _, ok := got["Cookie"]; ok {
		t.Errorf("cookies reached the S3 origin: %v", got)
	}

	// The managed AllViewer policy with caching on still drops Authorization; with
	// CachingDisabled it forwards it, and Host too.
	d := blog()
	d.Behaviors[0].CachePolicyID, d.Behaviors[0].OriginRequestPolicyID = UseOriginCacheControlHeadersQSID, AllViewerExceptHostID
	r := resolved(t, d)[0]
	if _, ok := r.OriginHeader(viewer, v, r.Origins[0])["Authorization"]; ok {
		t.Error("AllViewerExceptHostHeader with caching on forwarded Authorization")
	}
	if h := r.Host("d123.cloudfront.net", r.Origins[0]); h != "d123.cloudfront.net" {
		t.Errorf("UseOriginCacheControlHeaders keys on Host, so the origin sees the viewer's; got %q", h)
	}
	d.Behaviors[0].CachePolicyID, d.Behaviors[0].OriginRequestPolicyID = CachingDisabledID, AllViewerID
	r = resolved(t, d)[0]
	if got := r.OriginHeader(viewer, v, r.Origins[0]); got.Get("Authorization") != "Bearer t" || got.Get("Cookie") != "session=1; theme=dark" {
		t.Errorf("CachingDisabled + AllViewer: %v", got)
	}
}

func TestCacheKey(t *testing.T) {
	rs := resolved(t, blog())
	api, site := rs[0], rs[2]
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	same := [][2]string{
		{site.CacheKey("GET", "/post.html", "slug=a", nil), site.CacheKey("GET", "/post.html", "slug=b", h("Cookie", "a=1"))},
		{api.CacheKey("GET", "/v1/posts", "limit=1", h("Cookie", "a=1", "Accept", "x")), api.CacheKey("GET", "/v1/posts", "limit=1", nil)},
		{api.CacheKey("GET", "/v1/posts", "", h("authorization", "Bearer a")), api.CacheKey("GET", "/v1/posts", "", h("Authorization", "Bearer a"))},
	}
	for i, p := range same {
		if p[0] != p[1] {
			t.Errorf("same[%d]: keys differ: %q, %q", i, p[0], p[1])
		}
	}
	differ := [][2]string{
		{api.CacheKey("GET", "/v1/posts", "limit=1", nil), api.CacheKey("GET", "/v1/posts", "limit=2", nil)},
		{api.CacheKey("GET", "/v1/posts", "", h("Authorization", "Bearer a")), api.CacheKey("GET", "/v1/posts", "", h("Authorization", "Bearer b"))},
		{api.CacheKey("GET", "/v1/posts", "", h("Authorization", "Bearer a")), api.CacheKey("GET", "/v1/posts", "", nil)},
		{api.CacheKey("GET", "/v1/a", "b=c", nil), api.CacheKey("GET", "/v1/ab=c", "", nil)},
		{site.CacheKey("GET", "/a", "", nil), site.CacheKey("HEAD", "/a", "", nil)},
	}
	for i, p := range differ {
		if p[0] == p[1] {
			t.Errorf("differ[%d]: one key %q for different requests", i, p[0])
		}
	}
}

func TestResponseHeaders(t *testing.T) {
	p := blog().ResponseHeadersPolicies[0]
	h := http.Header{"Content-Security-Policy": {"default-src 'none'"}, "Strict-Transport-Security": {"max-age=1"}}
	p.Apply(h)
	want := http.Header{
		"Content-Security-Policy":   {"default-src 'none'"}, // the origin's wins: no override
		"Strict-Transport-Security": {"max-age=31536000"},
		"X-Content-Type-Options":    {"nosniff"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	h = http.Header{}
	p.Apply(h)
	if h.Get("Content-Security-Policy") != "default-src 'self'" {
		t.Errorf("CSP where the origin sent none: %q", h.Get("Content-Security-Policy"))
	}
}

func TestDiff(t *testing.T) {
	a, b := blog(), blog()
	if d := Diff(a, b); len(d) != 0 {
		t.Errorf("equal distributions differ: %v", d)
	}
	b.Behaviors[0].CachePolicyID = UseOriginCacheControlHeadersQSID
	b.Aliases = []string{"blog.example.com"}
	want := []string{
		`aliases: want null, got ["blog.example.com"]`,
		`behaviors[0].cachePolicyId: want "cp", got "4cc15a8a-d715-48a4-82b8-cc0b614638fe"`,
	}
	if diff := cmp.Diff(want, Diff(a, b)); diff != "" {
		t.Errorf("Diff (-want +got):\n%s", diff)
	}
}

func TestReadWrite(t *testing.T) {
	p := t.TempDir() + "/d.json"
	if err := Write(p, blog()); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(blog(), got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestMediaFunctionGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/media-function.js")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(MediaFunctionCode)); diff != "" {
		t.Errorf("media function code (-want +got):\n%s", diff)
	}
	// CloudFront Functions are limited to 10 KB of code.
	if len(MediaFunctionCode) > 10*1024 {
		t.Errorf("function code is %d bytes, over CloudFront's 10 KB", len(MediaFunctionCode))
	}
	if f, ok := LocalFunction(CodeSHA256(MediaFunctionCode)); !ok || f("/media/a") != "/a" {
		t.Error("the media function's code has no local twin")
	}
	if _, ok := LocalFunction(CodeSHA256(append([]byte("// changed\n"), MediaFunctionCode...))); ok {
		t.Error("changed code still has a twin: the edge would run old behaviour")
	}
}

// TestMediaFunctionTwin runs the function under node with CloudFront's event shape
// and checks that its Go twin, which the local edge runs, agrees on every case.
func TestMediaFunctionTwin(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the function's JavaScript is not run")
	}
	uris := []string{
		"/media/uploads/01J.jpg", "/media/thumbnails/01J.jpg", "/media", "/media/", "/mediafoo/x.jpg",
		"/index.html", "/v1/media/uploads/x.jpg", "/media/uploads/a%20b.jpg", "/media/media/uploads/x.jpg", "/",
	}
	want := map[string]string{
		"/media/uploads/01J.jpg": "/uploads/01J.jpg", "/media": "/", "/media/": "/", "/mediafoo/x.jpg": "/mediafoo/x.jpg",
		"/media/media/uploads/x.jpg": "/media/uploads/x.jpg",
	}
	script := string(MediaFunctionCode) + `
const cases = JSON.parse(process.argv[1]);
const out = {};
for (const uri of cases) out[uri] = handler({ request: { method: "GET", uri: uri, querystring: {}, headers: {} } }).uri;
console.log(JSON.stringify(out));`
	arg, _ := json.Marshal(uris)
	b, err := exec.Command(node, "-e", script, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, b)
	}
	var js map[string]string
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatalf("node output %q: %v", b, err)
	}
	for _, u := range uris {
		if js[u] != StripMedia(u) {
			t.Errorf("%s: JavaScript gives %q, the Go twin %q", u, js[u], StripMedia(u))
		}
		if w, ok := want[u]; ok && js[u] != w {
			t.Errorf("%s: %q, want %q", u, js[u], w)
		}
	}
}
