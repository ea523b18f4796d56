package devstack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KoBuildSettings reads the environment (defaultEnv) and flags (defaultFlags) ko.yaml
// gives every image, so the local stack's binaries are built as the images are: a
// setting that breaks the images (a missing build tag, cgo) breaks `sa dev` and the
// tests that run it too. Of defaultLdflags, those without a template (-s -w: no symbol
// table, no DWARF, which also makes the link of a large binary much faster) are passed
// as one -ldflags flag; the templated ones stamp versions only ko knows and are left to
// ko. A source tree without a ko.yaml (a test's own module) is built with go's
// defaults.
func KoBuildSettings(sourceDir string) (env, flags []string, err error) {
	b, err := os.ReadFile(filepath.Join(sourceDir, "ko.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read ko.yaml: %w", err)
	}
	var kf struct {
		DefaultEnv     []string `yaml:"defaultEnv"`
		DefaultFlags   []string `yaml:"defaultFlags"`
		DefaultLdflags []string `yaml:"defaultLdflags"`
	}
	if err := yaml.Unmarshal(b, &kf); err != nil {
		return nil, nil, fmt.Errorf("ko.yaml: %w", err)
	}
	flags = slices.Clone(kf.DefaultFlags)
	var ld []string
	for _, f := range kf.DefaultLdflags {
		if !strings.Contains(f, "{{") {
			ld = append(ld, f)
		}
	}
	if len(ld) > 0 {
		flags = append(flags, "-ldflags="+strings.Join(ld, " "))
	}
	return kf.DefaultEnv, flags, nil
}

// debugFlags turns build flags from KoBuildSettings into those of a binary a debugger
// can follow (Options.Debug): neither ko.yaml's -ldflags nor its -gcflags
// (-dwarf=false), so the symbol table and DWARF stay, and no optimisation or inlining
// (-gcflags=all=-N -l), as delve asks. Every package is then compiled once more with
// these flags, into the build cache beside the usual ones.
func debugFlags(flags []string) []string {
	out := slices.DeleteFunc(slices.Clone(flags), func(f string) bool {
		return strings.HasPrefix(f, "-ldflags=") || strings.HasPrefix(f, "-gcflags=")
	})
	return append(out, "-gcflags=all=-N -l")
}
