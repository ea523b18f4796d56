package devstack

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKoBuildSettings: the local binaries get ko.yaml's cgo setting and flags (the
// build tags that keep the image codecs static and the linker's dead-code elimination
// whole, no DWARF from the compiler), and its ldflags that need no template (-s -w), not
// the version stamps only ko can fill in. A debug build keeps DWARF and turns off
// optimisation.
func TestKoBuildSettings(t *testing.T) {
	env, flags, err := KoBuildSettings("../..")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-trimpath", "-tags=nodynamic,nomsgpack,grpcnotrace", "-gcflags=all=-dwarf=false", "-ldflags=-s -w"}
	if !slices.Contains(env, "CGO_ENABLED=0") || !cmp.Equal(flags, want) {
		t.Errorf("env %v, flags %v; want ko.yaml's CGO_ENABLED=0 and flags %q", env, flags, want)
	}
	if diff := cmp.Diff([]string{"-trimpath", "-tags=nodynamic,nomsgpack,grpcnotrace", "-gcflags=all=-N -l"}, debugFlags(flags)); diff != "" {
		t.Errorf("debugFlags (-want +got):\n%s", diff)
	}
}

// go build -o DIR names each binary after its package's last element: packages that
// share one are built in separate runs, the others together.
func TestBuildBatches(t *testing.T) {
	got := buildBatches([]string{"./services/gateway", "./services/todo-api", "./a/api", "./b/api", "./c/api", "./services/blog-api"})
	want := [][]string{{"./services/gateway", "./services/todo-api", "./a/api", "./services/blog-api"}, {"./b/api"}, {"./c/api"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildBatches (-want +got):\n%s", diff)
	}
}
