package sitedeploy

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// hashed is the fingerprinted name a test expects for body: name.<12 hex>.ext.
func hashed(name string, body []byte) string {
	sum := sha256.Sum256(body)
	i := strings.LastIndex(name, ".")
	return name[:i] + "." + hex.EncodeToString(sum[:])[:hashLen] + name[i:]
}

func mustBuild(t *testing.T, extra map[string][]byte) *Site {
	t.Helper()
	site, err := Build(os.DirFS("testdata/site"), extra)
	if err != nil {
		t.Fatal(err)
	}
	return site
}

func body(t *testing.T, site *Site, source string) string {
	t.Helper()
	f, ok := site.File(source)
	if !ok {
		t.Fatalf("no file built from %s", source)
	}
	return string(f.Body)
}

func TestBuildFingerprintsAndClassifies(t *testing.T) {
	site := mustBuild(t, map[string][]byte{ConfigKey: []byte(`{"region":"us-east-1"}`)})
	read := func(p string) []byte {
		b, err := os.ReadFile("testdata/site/" + p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type row struct{ Key, ContentType, CacheControl string }
	var got []row
	for _, f := range site.Files {
		got = append(got, row{f.Key, f.ContentType, f.CacheControl})
	}
	// The stylesheet's hash is over its rewritten body, which names the images' hashed names.
	css := body(t, site, "style.css")
	want := []row{
		{hashed("app.js", read("app.js")), "text/javascript; charset=utf-8", ImmutableCacheControl},
		{"config.json", "application/json", HTMLCacheControl},
		{"favicon.ico", "image/x-icon", HTMLCacheControl},
		{hashed("img/bg.png", read("img/bg.png")), "image/png", ImmutableCacheControl},
		{hashed("img/logo.png", read("img/logo.png")), "image/png", ImmutableCacheControl},
		{hashed("img/logo@2x.png", read("img/logo@2x.png")), "image/png", ImmutableCacheControl},
		{"index.html", "text/html; charset=utf-8", HTMLCacheControl},
		{"post.html", "text/html; charset=utf-8", HTMLCacheControl},
		{hashed("style.css", []byte(css)), "text/css; charset=utf-8", ImmutableCacheControl},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"config.json", "favicon.ico", "index.html", "post.html"}, site.Pages()); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func TestBuildRewritesReferences(t *testing.T) {
	site := mustBuild(t, nil)
	key := func(src string) string {
		f, _ := site.File(src)
		return f.Key
	}
	base := func(src string) string { k := key(src); return k[strings.LastIndex(k, "/")+1:] }
	index := body(t, site, "index.html")
	for _, want := range []string{
		`href="/` + key("style.css") + `"`,                // absolute stays absolute
		`src="` + key("app.js") + `"`,                     // relative stays relative
		`href="/favicon.ico"`,                             // fixed names are kept
		`src="img/` + base("img/logo.png") + `?v=1#frag"`, // query and fragment kept
		`srcset="img/` + base("img/logo.png") + ` 1x, /img/` + base("img/logo@2x.png") + ` 2x"`,
		`href="/post.html?slug=x"`, `href="#main"`, // pages and anchors untouched
		`href="https://example.com/style.css"`, `href="/v1/posts"`, `href="/missing.css"`, // not ours
	} {
		if !strings.Contains(index, want) {
			t.Errorf("index.html lacks %s:\n%s", want, index)
		}
	}
	if post := body(t, site, "post.html"); !strings.Contains(post, `href='`+key("style.css")+`'`) {
		t.Errorf("post.html (single quotes) not rewritten:\n%s", post)
	}
	css := body(t, site, "style.css")
	for _, want := range []string{
		"url(img/" + base("img/bg.png") + ")",
		`url("/` + key("img/logo.png") + `")`,
		"url(data:image/gif;base64,R0lGOD)",
	} {
		if !strings.Contains(css, want) {
			t.Errorf("style.css lacks %s:\n%s", want, css)
		}
	}
}

// A changed image changes the stylesheet's name too (its body names the image), so a
// browser holding the old stylesheet forever never sees a stale image.
func TestChangePropagates(t *testing.T) {
	src := fstest.MapFS{
		"index.html":  {Data: []byte(`<link rel="stylesheet" href="/a.css"><script src="/b.js"></script>`)},
		"a.css":       {Data: []byte(`x{background:url(i.png)}`)},
		"b.js":        {Data: []byte(`1`)},
		"i.png":       {Data: []byte("one")},
		".DS_Store":   {Data: []byte("junk")},
		".git/HEAD":   {Data: []byte("ref")},
		"sub/.hidden": {Data: []byte("x")},
		"README.md":   {Data: []byte("# docs")},
	}
	first, err := Build(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	src["i.png"] = &fstest.MapFile{Data: []byte("two")}
	second, err := Build(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(s *Site) map[string]string {
		m := map[string]string{}
		for _, f := range s.Files {
			m[f.Source] = f.Key
		}
		return m
	}
	k1, k2 := keys(first), keys(second)
	if len(k1) != 4 {
		t.Errorf("built %v, want 4 files (dot files and README.md skipped)", k1)
	}
	if k1["i.png"] == k2["i.png"] || k1["a.css"] == k2["a.css"] {
		t.Errorf("image and stylesheet names must both change: %v -> %v", k1, k2)
	}
	if k1["b.js"] != k2["b.js"] {
		t.Errorf("unrelated script renamed: %s -> %s", k1["b.js"], k2["b.js"])
	}
	if a, b := body(t, first, "index.html"), body(t, second, "index.html"); a == b {
		t.Error("index.html did not change although its stylesheet did")
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   fstest.MapFS
		extra map[string][]byte
		want  string
	}{
		{"unknown type", fstest.MapFS{"notes.docx": {Data: []byte("x")}}, nil, "unknown file type"},
		{"circular css", fstest.MapFS{
			"a.css": {Data: []byte(`@import "b.css";`)}, "b.css": {Data: []byte(`@import "a.css";`)},
		}, nil, "circular"},
		{"generated clash", fstest.MapFS{"config.json": {Data: []byte("{}")}}, map[string][]byte{"config.json": []byte("{}")}, "replace"},
		{"empty", fstest.MapFS{}, nil, "no files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.src, tc.extra)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestInvalidationPaths(t *testing.T) {
	site := mustBuild(t, nil)
	css, _ := site.File("style.css")
	for _, tc := range []struct {
		name     string
		uploaded []string
		want     []string
	}{
		{"nothing changed", nil, nil},
		{"only an asset", []string{css.Key}, nil},
		{"index and asset", []string{css.Key, "index.html"}, []string{"/", "/index.html"}},
		{"a page", []string{"post.html", "favicon.ico"}, []string{"/favicon.ico", "/post.html"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, InvalidationPaths(site, tc.uploaded)); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}

// The blog's real site builds, and every asset its pages name exists in the build.
func TestBlogSiteBuilds(t *testing.T) {
	site, err := Build(os.DirFS("../../web/blog"), map[string][]byte{ConfigKey: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, f := range site.Files {
		keys[f.Key] = true
	}
	ref := regexp.MustCompile(`(?:src|href)="/?([^"?#]+)"`)
	pages := 0
	for _, f := range site.Files {
		if f.ContentType != "text/html; charset=utf-8" {
			continue
		}
		pages++
		for _, m := range ref.FindAllStringSubmatch(string(f.Body), -1) {
			if m[1] == "/" || strings.HasPrefix(m[1], "http") || strings.HasPrefix(m[1], "v1/") {
				continue
			}
			if !keys[m[1]] {
				t.Errorf("%s names %s, which the build does not have", f.Key, m[1])
			}
			if strings.HasSuffix(m[1], ".css") || strings.HasSuffix(m[1], ".js") {
				if !regexp.MustCompile(`\.[0-9a-f]{12}\.(css|js)$`).MatchString(m[1]) {
					t.Errorf("%s names %s, which is not fingerprinted", f.Key, m[1])
				}
			}
		}
	}
	if pages < 4 {
		t.Errorf("built %d pages, want home, post, gallery and admin", pages)
	}
}

func TestConfigFromStack(t *testing.T) {
	res := stack.Resources{UserPoolID: "us-east-1_abc", UserPoolClientID: "cid"}
	for _, tc := range []struct {
		name string
		st   stack.Stack
		want SiteConfig
	}{
		{"moto", stack.Stack{Region: "us-east-1", AWSEndpoint: "http://127.0.0.1:4566", Resources: res},
			SiteConfig{Region: "us-east-1", UserPoolID: "us-east-1_abc", ClientID: "cid", CognitoEndpoint: "http://127.0.0.1:4566/"}},
		{"aws", stack.Stack{Region: "eu-west-1", Resources: res},
			SiteConfig{Region: "eu-west-1", UserPoolID: "us-east-1_abc", ClientID: "cid", CognitoEndpoint: "https://cognito-idp.eu-west-1.amazonaws.com/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ConfigFromStack(&tc.st)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if _, err := got.JSON(); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := (SiteConfig{Region: "us-east-1"}).JSON(); err == nil {
		t.Error("a configuration without a client id encoded")
	}
}
