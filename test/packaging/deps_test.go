package packaging

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

// notInServices are module path prefixes no service may link, each with the reason: the
// heavy ones only tests and tools may use (a service that imported one would make its
// image, and every `go build` of it, fetch and compile them), and what ko.yaml's build
// tags leave out.
var notInServices = map[string]string{
	"github.com/chromedp/":                   "a browser driver only tests use: keep it in tests",
	"helm.sh/helm/":                          "the Helm SDK only tests use: keep it in tests",
	"github.com/google/go-containerregistry": "an image registry only tests use: keep it in tests",
	"github.com/golangci/":                   "a linter: keep it in hack/tools/go.mod",
	"golang.org/x/vuln":                      "govulncheck: keep it in hack/tools/go.mod",
	"github.com/ugorji/go":                   "gin's MessagePack codec, which no service speaks and ko.yaml's -tags=nomsgpack leaves out: is the tag gone from ko.yaml, or does something else import it?",
}

// TestServicesBuildGraph lists the modules the services' binaries are built from, with
// ko.yaml's settings (its build tags and cgo setting, as ko builds them), and refuses the
// modules notInServices names.
func TestServicesBuildGraph(t *testing.T) {
	env, flags, err := devstack.KoBuildSettings(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"list"}
	for _, f := range flags {
		if strings.HasPrefix(f, "-tags=") {
			args = append(args, f)
		}
	}
	if len(args) == 1 {
		t.Fatalf("ko.yaml's flags %q have no -tags=: the image codecs would link purego (see ko.yaml)", flags)
	}
	cmd := exec.Command("go", append(args, "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./services/...")...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	modules := slices.Compact(slices.Sorted(slices.Values(strings.Fields(string(out)))))
	if len(modules) < 5 {
		t.Fatalf("go list found only %v: the listing is broken", modules)
	}
	for _, m := range modules {
		for prefix, why := range notInServices {
			if strings.HasPrefix(m, prefix) {
				t.Errorf("a service's build graph holds %s: %s", m, why)
			}
		}
	}
}
