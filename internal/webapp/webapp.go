// Package webapp builds the MyTodoList app, web/todo, with its own toolchain: the
// packages of its committed package-lock.json installed by `npm ci` once per lock file
// into the user's cache directory (never into the source tree), then its build.mjs
// (esbuild, Workbox) run with node in a work directory beside them. The result is a
// directory of static files to publish as it is: hashed asset names, index.html,
// the service worker and its precache list. config.json is not part of it; whoever
// serves the app writes one for its stack (Config).
package webapp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SourceDir is the app's directory in the repository.
const SourceDir = "web/todo"

// sources are the files and directories of SourceDir a build needs.
var sources = []string{"build.mjs", "icons.mjs", "package.json", "package-lock.json", "src", "test"}

// Toolchain is the app's installed packages: Dir holds node_modules, and work
// directories are made inside it so that node and esbuild find them.
type Toolchain struct {
	// Dir is the install directory, <cache>/serverless-architect/webtodo-<lock hash>.
	Dir string
	// Node is the node executable.
	Node string
	// src is the app's source directory.
	src string
}

// ErrNoNode is returned when node or npm is not installed.
var ErrNoNode = errors.New("node and npm are needed to build the MyTodoList app (Node 20 or later; apt-get install nodejs npm)")

// Install makes the toolchain of the app under root (the module root) ready: npm ci
// of its lock file into the cache directory, unless an earlier run did it. What npm
// does is reported through log.
func Install(ctx context.Context, root string, log func(format string, args ...any)) (*Toolchain, error) {
	return InstallSource(ctx, filepath.Join(root, SourceDir), log)
}

// InstallSource is Install for the app's sources in src (a copy of web/todo).
func InstallSource(ctx context.Context, src string, log func(format string, args ...any)) (*Toolchain, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, ErrNoNode
	}
	dir, err := InstallPackages(ctx, src, "webtodo", log)
	if err != nil {
		return nil, err
	}
	return &Toolchain{Dir: dir, Node: node, src: src}, nil
}

// InstallPackages installs the packages of the package.json and package-lock.json in
// src with npm ci into <cache>/serverless-architect/<name>-<lock hash>/node_modules,
// once per lock file (a later call finds them), and returns that directory. The
// source tree is left alone. Concurrent calls are safe: each installs into a
// directory of its own and the first rename wins.
func InstallPackages(ctx context.Context, src, name string, log func(format string, args ...any)) (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", ErrNoNode
	}
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("the lock file: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256(lock)
	dir := filepath.Join(cache, "serverless-architect", name+"-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // a scratch directory: nothing to undo if it stays
	for _, f := range []string{"package.json", "package-lock.json"} {
		if err := copyPath(filepath.Join(src, f), filepath.Join(tmp, f)); err != nil {
			return "", err
		}
	}
	log("installing the packages of %s (npm ci, once per lock file) into %s", src, dir)
	cmd := exec.CommandContext(ctx, npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci in %s (the npm registry must be reachable): %w\n%s", tmp, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr != nil {
			return "", fmt.Errorf("install %s: %w", dir, err)
		}
		// Another run installed it meanwhile.
	}
	return dir, nil
}

// work copies the app's sources into a new work directory inside the toolchain (so
// that node resolves the installed packages) and returns it; the caller removes it.
func (tc *Toolchain) work() (string, error) {
	w, err := os.MkdirTemp(tc.Dir, "work-")
	if err != nil {
		return "", err
	}
	for _, s := range sources {
		if err := copyPath(filepath.Join(tc.src, s), filepath.Join(w, s)); err != nil {
			_ = os.RemoveAll(w)
			return "", err
		}
	}
	return w, nil
}

// Build builds the app into out (emptied first) and returns build.mjs's report.
func (tc *Toolchain) Build(ctx context.Context, out string) (string, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	w, err := tc.work()
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(w) }() // a scratch directory: nothing to undo if it stays
	return tc.run(ctx, w, "build.mjs", out)
}

// Test runs the app's own tests (node --test) and returns their output.
func (tc *Toolchain) Test(ctx context.Context) (string, error) {
	w, err := tc.work()
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(w) }() // a scratch directory: nothing to undo if it stays
	return tc.run(ctx, w, "--test", "test/")
}

func (tc *Toolchain) run(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tc.Node, args...)
	cmd.Dir = dir
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		return b.String(), fmt.Errorf("node %s: %w\n%s", strings.Join(args, " "), err, b.String())
	}
	return b.String(), nil
}

// copyPath copies a file or a directory tree.
func copyPath(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
