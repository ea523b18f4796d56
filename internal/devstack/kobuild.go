package devstack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// KoBuildSettings reads the environment (defaultEnv) and flags (defaultFlags) ko.yaml
// gives every image, so the local stack's binaries are built as the images are: a
// setting that breaks the images (a missing build tag, cgo) breaks `sa dev` and the
// tests that run it too. The ldflags are left to ko (they stamp versions). A source
// tree without a ko.yaml (a test's own module) is built with go's defaults.
func KoBuildSettings(sourceDir string) (env, flags []string, err error) {
	b, err := os.ReadFile(filepath.Join(sourceDir, "ko.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read ko.yaml: %w", err)
	}
	var kf struct {
		DefaultEnv   []string `yaml:"defaultEnv"`
		DefaultFlags []string `yaml:"defaultFlags"`
	}
	if err := yaml.Unmarshal(b, &kf); err != nil {
		return nil, nil, fmt.Errorf("ko.yaml: %w", err)
	}
	return kf.DefaultEnv, kf.DefaultFlags, nil
}
