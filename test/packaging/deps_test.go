package packaging

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// heavyTestModules are modules only tests may use: a browser driver, the Helm SDK and
// an image registry. A service that imported one would make its image (and every
// `go build` of it) fetch and compile them.
var heavyTestModules = []string{
	"github.com/chromedp/",
	"helm.sh/helm/",
	"github.com/google/go-containerregistry",
	"github.com/golangci/",
	"golang.org/x/vuln",
}

// TestServicesBuildGraph lists the modules the services' binaries are built from, as ko
// builds them (-tags=nodynamic), and refuses any test-only heavy module among them.
func TestServicesBuildGraph(t *testing.T) {
	cmd := exec.Command("go", "list", "-tags=nodynamic", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./services/...")
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
		for _, heavy := range heavyTestModules {
			if strings.HasPrefix(m, heavy) {
				t.Errorf("a service's build graph holds %s, a test-only module: keep it in tests (or in hack/tools/go.mod for tools)", m)
			}
		}
	}
}
