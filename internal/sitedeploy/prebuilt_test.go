package sitedeploy

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestPrebuilt: a bundler's build is published under its own names; its hashed
// assets are immutable, everything else (and config.json) is revalidated, and only
// those fixed names are invalidated after a deploy.
func TestPrebuilt(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":                  {Data: []byte(`<script src="assets/app-ABC.js"></script>`)},
		"sw.js":                       {Data: []byte("self")},
		"manifest.webmanifest":        {Data: []byte("{}")},
		"icons/icon-192.png":          {Data: []byte("png")},
		"assets/app-ABC.js":           {Data: []byte("app")},
		"assets/app-ABC.js.LEGAL.txt": {Data: []byte("legal")},
		"assets/style-DEF.css":        {Data: []byte("css")},
		".DS_Store":                   {Data: []byte("x")},
		"assetsnot/under-assets.js":   {Data: []byte("y")},
	}
	site, err := Prebuilt(fsys, map[string][]byte{ConfigKey: []byte("{}")}, "assets")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range site.Files {
		got[f.Key] = f.CacheControl
	}
	want := map[string]string{
		"index.html": HTMLCacheControl, "sw.js": HTMLCacheControl, "manifest.webmanifest": HTMLCacheControl,
		"icons/icon-192.png": HTMLCacheControl, "config.json": HTMLCacheControl, "assetsnot/under-assets.js": HTMLCacheControl,
		"assets/app-ABC.js": ImmutableCacheControl, "assets/app-ABC.js.LEGAL.txt": ImmutableCacheControl, "assets/style-DEF.css": ImmutableCacheControl,
	}
	if len(got) != len(want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	for k, cc := range want {
		if got[k] != cc {
			t.Errorf("%s: Cache-Control %q, want %q", k, got[k], cc)
		}
	}
	if f, _ := site.File("index.html"); string(f.Body) != `<script src="assets/app-ABC.js"></script>` {
		t.Errorf("index.html was rewritten: %s", f.Body)
	}
	paths := strings.Join(InvalidationPaths(site, []string{"assets/app-ABC.js", "index.html", "sw.js"}), " ")
	if paths != "/ /index.html /sw.js" {
		t.Errorf("invalidated %q, want the fixed names only", paths)
	}
	if _, err := Prebuilt(fsys, map[string][]byte{"sw.js": []byte("x")}, "assets"); err == nil || !strings.Contains(err.Error(), "would replace") {
		t.Errorf("a generated file over the build's own: %v", err)
	}
	if _, err := Prebuilt(fstest.MapFS{}, nil, "assets"); err == nil || !strings.Contains(err.Error(), "was it built") {
		t.Errorf("an empty build: %v", err)
	}
	if _, err := Prebuilt(fstest.MapFS{"app.exe": {Data: []byte("x")}}, nil, "assets"); err == nil {
		t.Error("a file of unknown type was accepted")
	}
}
