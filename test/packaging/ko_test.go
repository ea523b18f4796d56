package packaging

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	kobuild "github.com/google/ko/pkg/build"
	"github.com/google/ko/pkg/commands"
	"github.com/google/ko/pkg/commands/options"
	corev1 "k8s.io/api/core/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// koRefPattern finds ko:// image references in YAML text.
var koRefPattern = regexp.MustCompile(`ko://[^\s"']+`)

// koReferences returns every ko:// reference in the sources, each with where it is.
func koReferences(sources map[string][]manifest) map[string][]string {
	refs := map[string][]string{}
	for _, source := range sortedKeys(sources) {
		for _, m := range sources[source] {
			for _, ref := range koRefPattern.FindAllString(string(m.raw), -1) {
				refs[ref] = append(refs[ref], source+"/"+m.id())
			}
		}
	}
	return refs
}

// TestKoReferences checks that every ko:// reference in config/ and the chart is
// lowercase and names a main package of this module.
func TestKoReferences(t *testing.T) {
	root := repoRoot(t)
	refs := koReferences(allSources(t))
	if len(refs) == 0 {
		t.Fatal("no ko:// references in config/ or the chart")
	}
	for _, ref := range sortedKeys(refs) {
		t.Run(ref, func(t *testing.T) {
			if ref != strings.ToLower(ref) {
				t.Errorf("%s is not lowercase (in %v); ko requires lowercase references", ref, refs[ref])
			}
			importPath := strings.TrimPrefix(ref, kobuild.StrictScheme)
			rel, ok := strings.CutPrefix(importPath, modulePath+"/")
			if !ok {
				t.Fatalf("%s is not a package of %s (in %v)", ref, modulePath, refs[ref])
			}
			pkg, err := build.ImportDir(filepath.Join(root, filepath.FromSlash(rel)), 0)
			if err != nil {
				t.Fatalf("%s (in %v): %v", ref, refs[ref], err)
			}
			if pkg.Name != "main" {
				t.Errorf("%s is package %s, not a main package", ref, pkg.Name)
			}
		})
	}
}

// koFile is ko.yaml's schema: the keys ko reads. ko itself ignores unknown keys, so a
// misspelt one would silently do nothing; decoding strictly into this catches it.
type koFile struct {
	DefaultBaseImage   string            `json:"defaultBaseImage"`
	BaseImageOverrides map[string]string `json:"baseImageOverrides,omitempty"`
	DefaultPlatforms   []string          `json:"defaultPlatforms,omitempty"`
	DefaultEnv         []string          `json:"defaultEnv,omitempty"`
	DefaultFlags       []string          `json:"defaultFlags,omitempty"`
	DefaultLdflags     []string          `json:"defaultLdflags,omitempty"`
	Builds             []kobuild.Config  `json:"builds,omitempty"`
}

// loadKoOptions reads ko.yaml the way the ko CLI does (KO_CONFIG_PATH), into bo.
func loadKoOptions(t *testing.T, bo *options.BuildOptions) {
	t.Helper()
	root := repoRoot(t)
	t.Setenv("KO_CONFIG_PATH", filepath.Join(root, "ko.yaml"))
	bo.WorkingDirectory = root
	if err := bo.LoadConfig(); err != nil {
		t.Fatalf("ko could not load ko.yaml: %v", err)
	}
}

// TestKoConfig checks ko.yaml: known keys only, a base image pinned by digest, both
// platforms, -trimpath, stripped binaries, and version stamps that land in a real
// variable.
func TestKoConfig(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "ko.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kf koFile
	if err := yaml.UnmarshalStrict(data, &kf); err != nil {
		t.Fatalf("ko.yaml: %v", err)
	}

	var bo options.BuildOptions
	loadKoOptions(t, &bo)
	if _, err := name.NewDigest(bo.BaseImage); err != nil {
		t.Errorf("defaultBaseImage %q is not pinned by digest: %v", bo.BaseImage, err)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(bo.DefaultPlatforms, p) {
			t.Errorf("defaultPlatforms %v lacks %s", bo.DefaultPlatforms, p)
		}
	}
	if !slices.Contains(bo.DefaultFlags, "-trimpath") {
		t.Errorf("defaultFlags %v lacks -trimpath", bo.DefaultFlags)
	}
	if !slices.Contains(bo.DefaultEnv, "CGO_ENABLED=0") {
		t.Errorf("defaultEnv %v lacks CGO_ENABLED=0 (the base image has no libc)", bo.DefaultEnv)
	}
	for _, f := range []string{"-s", "-w"} {
		if !slices.Contains(bo.DefaultLdflags, f) {
			t.Errorf("defaultLdflags %v lacks %s", bo.DefaultLdflags, f)
		}
	}

	// `-X path.Var=value` is ignored by the linker when path.Var does not exist, so
	// check every stamp names a package-level string variable of this module.
	for _, f := range bo.DefaultLdflags {
		target, ok := strings.CutPrefix(f, "-X ")
		if !ok {
			continue
		}
		t.Run(target, func(t *testing.T) {
			symbol, _, _ := strings.Cut(target, "=")
			dot := strings.LastIndex(symbol, ".")
			pkgPath, varName := symbol[:dot], symbol[dot+1:]
			rel, ok := strings.CutPrefix(pkgPath, modulePath+"/")
			if !ok {
				t.Fatalf("%s is not in this module", pkgPath)
			}
			if !declaresStringVar(t, filepath.Join(root, filepath.FromSlash(rel)), varName) {
				t.Errorf("package %s declares no string variable %s for -X %s to set", pkgPath, varName, target)
			}
		})
	}
}

// declaresStringVar reports whether the Go package in dir declares a package-level
// variable name (the linker's -X can only set string variables).
func declaresStringVar(t *testing.T, dir, varName string) bool {
	t.Helper()
	pkg, err := build.ImportDir(dir, 0)
	if err != nil {
		t.Logf("%s: %v", dir, err)
		return false
	}
	fset := token.NewFileSet()
	for _, f := range pkg.GoFiles {
		file, err := parser.ParseFile(fset, filepath.Join(dir, f), nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		if obj := file.Scope.Lookup(varName); obj != nil && obj.Kind.String() == "var" {
			return true
		}
	}
	return false
}

// TestKoBuild runs `ko resolve` in-process on config/ and on the rendered chart: it
// builds every ko:// image for linux/amd64 with ko.yaml's settings on a small base
// image, pushes it to a registry served by the test, and checks the resolved
// manifests and the images. Slow (it compiles every service): skipped with -short.
func TestKoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every service image; skipped with -short")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	base := pushBaseImage(t, host+"/base:static")

	bo := options.BuildOptions{
		// Set before LoadConfig, so it replaces ko.yaml's defaultBaseImage (which
		// this test cannot pull) and keeps everything else from ko.yaml.
		BaseImage:        base,
		Platforms:        []string{"linux/amd64"},
		SBOM:             "none",
		Trimpath:         true,
		InsecureRegistry: true,
	}
	loadKoOptions(t, &bo)
	builder, err := commands.NewBuilder(ctx, &bo)
	if err != nil {
		t.Fatalf("ko builder: %v", err)
	}
	caching, ok := builder.(*kobuild.Caching)
	if !ok {
		t.Fatalf("ko builder is a %T, want *build.Caching", builder)
	}
	publisher, err := commands.NewPublisher(&options.PublishOptions{
		DockerRepo:       host + "/sa",
		Push:             true,
		InsecureRegistry: true,
		BaseImportPaths:  true,
		Tags:             []string{"latest"},
	})
	if err != nil {
		t.Fatalf("ko publisher: %v", err)
	}

	// What `ko resolve -f config/` and `helm template ... | ko resolve -f -` read.
	r, err := renderChart(t, defaultValues)
	if err != nil {
		t.Fatal(err)
	}
	chartFile := filepath.Join(t.TempDir(), "chart.yaml")
	var rendered bytes.Buffer
	for _, m := range r.manifests {
		fmt.Fprintf(&rendered, "---\n%s\n", m.raw)
	}
	if err := os.WriteFile(chartFile, rendered.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err = commands.ResolveFilesToWriter(ctx, caching, publisher,
		&options.FilenameOptions{Filenames: []string{filepath.Join(root, "config"), chartFile}},
		&options.SelectorOptions{}, nopCloser{&out})
	if err != nil {
		t.Fatalf("ko resolve: %v", err)
	}
	for i, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") && strings.Contains(line, "ko://") {
			t.Errorf("resolved manifests line %d still holds a ko:// reference: %s", i+1, line)
		}
	}
	resolved, err := decodeAll("resolved", out.Bytes())
	if err != nil {
		t.Fatal(err)
	}

	images := map[string]bool{}
	for _, m := range resolved {
		for _, c := range containersOf(m) {
			if strings.HasPrefix(c.Image, host+"/") {
				images[c.Image] = true
			}
		}
	}
	if want := len(koReferences(map[string][]manifest{"config": configManifests(t)})); len(images) < want {
		t.Errorf("resolved %d distinct images, want at least %d (one per ko:// reference)", len(images), want)
	}
	for _, ref := range sortedKeys(images) {
		t.Run(ref, func(t *testing.T) { checkImage(t, ref) })
	}
}

// nopCloser lets a buffer stand for ko's output file.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// pushBaseImage pushes a small linux/amd64 image to ref and returns its digest
// reference: a stand-in for the distroless base.
func pushBaseImage(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = "65532"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push base image: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String()).String()
}

// containersOf returns the containers of the workloads the test knows.
func containersOf(m manifest) []corev1.Container {
	switch obj := m.obj.(type) {
	case *servingv1.Service:
		return obj.Spec.Template.Spec.Containers
	case *corev1.Pod:
		return obj.Spec.Containers
	}
	if spec := podSpecOf(m); spec != nil {
		return append(slices.Clone(spec.InitContainers), spec.Containers...)
	}
	return nil
}

// checkImage pulls a built image and checks what ko made of ko.yaml: the
// entrypoint, a static linux/amd64 binary (no ELF interpreter) built with -trimpath and
// stripped. It logs
// the image's size. (That -X names a real variable is TestKoConfig's check.)
func checkImage(t *testing.T, ref string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(name.Digest); !ok {
		t.Errorf("%s is not pinned by digest", ref)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if len(cf.Config.Entrypoint) != 1 || !strings.HasPrefix(cf.Config.Entrypoint[0], "/ko-app/") {
		t.Fatalf("entrypoint %v, want /ko-app/<binary>", cf.Config.Entrypoint)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var compressed, appCompressed int64
	for i, l := range layers {
		size, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		compressed += size
		if i == len(layers)-1 {
			appCompressed = size
		}
	}
	// ko puts the binary in the last layer.
	bin := extractFile(t, layers[len(layers)-1], strings.TrimPrefix(cf.Config.Entrypoint[0], "/"))
	t.Logf("%s: %d layers, %.1f MiB compressed (application layer %.1f MiB), binary %.1f MiB",
		ref, len(layers), mib(compressed), mib(appCompressed), mib(int64(len(bin))))

	// Issue 7's budget: 25 MB per image on the static base. The test's base is a
	// stand-in; distroless/static adds about 2 MB compressed, so the application
	// layer gets the rest.
	if budget := int64(25e6 - baseImageAllowance); appCompressed > budget {
		t.Errorf("application layer %.1f MB compressed: over the %.1f MB left of the 25 MB image budget", float64(appCompressed)/1e6, float64(budget)/1e6)
	}

	path := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(path, bin, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("read the binary's build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"GOOS": "linux", "GOARCH": "amd64", "CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[k] != want {
			t.Errorf("build setting %s = %q, want %q", k, settings[k], want)
		}
	}
	// With -trimpath Go does not record -ldflags, so look at the binary itself:
	// -s drops the symbol table, -w the DWARF data.
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("open the binary as ELF: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (it names an ELF interpreter), and the static base image has no libc: " +
				"a dependency linked it (purego's cgo stand-in, under the image codecs, unless built with -tags=nodynamic)")
		}
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("the binary has a symbol table (err %v); want it stripped with -ldflags=-s", err)
	}
	if f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil {
		t.Error("the binary has DWARF data; want it dropped with -ldflags=-w")
	}
}

// extractFile returns the file at path (no leading slash) in a layer.
func extractFile(t *testing.T, l v1.Layer, path string) []byte {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no %s in the application layer", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") == path {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// baseImageAllowance is what the distroless static base adds to an image (compressed),
// rounded up.
const baseImageAllowance = 3e6

func mib(n int64) float64 { return float64(n) / (1 << 20) }
