package webapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// root is the module root: go test runs a package's tests in its directory, two levels
// below it. (Not runtime.Caller: make test builds with -trimpath, which leaves module
// paths, not file paths, in the binary.)
func root(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func toolchain(t *testing.T) *Toolchain {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tc, err := Install(ctx, root(t), t.Logf)
	if errors.Is(err, ErrNoNode) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// TestAppUnitTests runs the app's own tests (node --test): the human messages for every
// failure, the offline queue, the checks on files before an upload.
func TestAppUnitTests(t *testing.T) {
	tc := toolchain(t)
	out, err := tc.Test(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^# fail 0$`).MatchString(out) || regexp.MustCompile(`(?m)^# pass 0$`).MatchString(out) {
		t.Fatalf("node --test:\n%s", out)
	}
	t.Logf("node --test:\n%s", out[strings.LastIndex(out, "# tests"):])
}

// TestBuild: the build is what a browser and a CDN need. Every asset has a content
// hash in its name and is referenced by that name; the service worker precaches every
// file it serves; the manifest's icons exist at their stated sizes; two builds of the
// same sources are byte for byte the same.
func TestBuild(t *testing.T) {
	tc := toolchain(t)
	ctx := context.Background()
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if _, err := tc.Build(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{}
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		files[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		other, err := os.ReadFile(filepath.Join(b, name))
		if err != nil || !bytes.Equal(data, other) {
			t.Errorf("%s differs between two builds of the same sources", name)
		}
	}
	for _, want := range []string{"index.html", "sw.js", "manifest.webmanifest", "icons/icon-192.png", "icons/icon-512.png", "icons/maskable-512.png"} {
		if files[want] == nil {
			t.Errorf("the build has no %s", want)
		}
	}
	if files["config.json"] != nil {
		t.Error("the build holds a config.json: it is written per stack when the app is served")
	}
	hashed := regexp.MustCompile(`^assets/[a-z]+-[A-Z0-9]{8}\.(js|css)(\.LEGAL\.txt)?$`)
	for name := range files {
		if strings.HasPrefix(name, "assets/") && !hashed.MatchString(name) {
			t.Errorf("asset %s has no content hash in its name", name)
		}
	}
	html := string(files["index.html"])
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	var assets int
	for _, m := range refs {
		if strings.HasPrefix(m[1], "#") {
			continue
		}
		if files[m[1]] == nil {
			t.Errorf("index.html refers to %s, which the build lacks", m[1])
		}
		if strings.HasPrefix(m[1], "assets/") {
			assets++
		}
	}
	if assets != 2 {
		t.Errorf("index.html refers to %d assets, want the script and the style sheet", assets)
	}
	sw := string(files["sw.js"])
	for name := range files {
		if name == "sw.js" || strings.HasSuffix(name, ".LEGAL.txt") {
			continue
		}
		if !strings.Contains(sw, `"`+name+`"`) {
			t.Errorf("the service worker does not precache %s", name)
		}
	}
	var manifest struct {
		Display string `json:"display"`
		Icons   []struct{ Src, Sizes, Purpose string }
	}
	if err := json.Unmarshal(files["manifest.webmanifest"], &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Display != "standalone" || len(manifest.Icons) != 3 {
		t.Errorf("manifest: %+v", manifest)
	}
	for _, ic := range manifest.Icons {
		img, err := png.Decode(bytes.NewReader(files[ic.Src]))
		if err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
			continue
		}
		if size := img.Bounds().Size(); ic.Sizes != fmt.Sprintf("%dx%d", size.X, size.Y) {
			t.Errorf("icon %s is %v, the manifest says %s", ic.Src, img.Bounds().Size(), ic.Sizes)
		}
	}
}

func TestConfigFromStack(t *testing.T) {
	st := &stack.Stack{Region: "eu-west-1", AWSEndpoint: "http://127.0.0.1:4566", CognitoEndpoint: "http://127.0.0.1:4999", Resources: stack.Resources{
		UserPoolID: "eu-west-1_abc", UserPoolClientID: "client", IdentityPoolID: "eu-west-1:id", Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", FilesBucket: "files",
	}}
	got := ConfigFromStack(st, "")
	want := Config{Region: "eu-west-1", UserPoolID: "eu-west-1_abc", ClientID: "client", IdentityPoolID: "eu-west-1:id",
		IdentityProvider: "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", FilesBucket: "files", CognitoEndpoint: "http://127.0.0.1:4999",
		AWSEndpoint: "http://127.0.0.1:4566", S3ForcePathStyle: true, MaxUploadBytes: DefaultMaxUploadBytes}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if _, err := got.JSON(); err != nil {
		t.Error(err)
	}
	aws := ConfigFromStack(&stack.Stack{Region: "eu-west-1", Resources: st.Resources}, "https://api.example.com")
	if aws.AWSEndpoint != "" || aws.CognitoEndpoint != "" || aws.S3ForcePathStyle || aws.APIURL != "https://api.example.com" {
		t.Errorf("against AWS: %+v", aws)
	}
	if _, err := (Config{Region: "x", MaxUploadBytes: 1}).JSON(); err == nil || !strings.Contains(err.Error(), "clientId, filesBucket, identityPoolId, identityProvider, userPoolId") {
		t.Errorf("incomplete config: %v", err)
	}
}
