package devstack

import (
	"slices"
	"testing"
)

// TestKoBuildSettings: the local binaries get ko.yaml's cgo setting and flags,
// the build tag that keeps the image codecs static included.
func TestKoBuildSettings(t *testing.T) {
	env, flags, err := KoBuildSettings("../..")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "CGO_ENABLED=0") || !slices.Contains(flags, "-trimpath") || !slices.Contains(flags, "-tags=nodynamic") {
		t.Errorf("env %v, flags %v; want ko.yaml's CGO_ENABLED=0, -trimpath and -tags=nodynamic", env, flags)
	}
}
