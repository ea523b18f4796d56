package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module whose one file uses a field that exists only on Linux, and whose test file
// uses a function that exists only on Linux.
func linuxOnlyModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.26\n",
		"proc.go": `package m

import "syscall"

// Attr asks for the child to be killed with its parent.
func Attr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
`,
		"proc_test.go": `package m

import (
	"syscall"
	"testing"
)

func TestAttr(t *testing.T) { _ = syscall.Gettid() }
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckFindsWhatOnlyOneSystemHas(t *testing.T) {
	dir := linuxOnlyModule(t)
	linux, err := check(dir, "linux/amd64", true, []string{"./..."})
	if err != nil {
		t.Fatal(err)
	}
	if len(linux.errors) != 0 || linux.packages < 2 {
		t.Fatalf("linux/amd64: %d packages, errors %q; want it clean, the standard library included", linux.packages, linux.errors)
	}

	darwin, err := check(dir, "darwin/arm64", false, []string{"./..."})
	if err != nil {
		t.Fatal(err)
	}
	if len(darwin.errors) != 1 || !strings.Contains(darwin.errors[0], "proc.go:6") || !strings.Contains(darwin.errors[0], "Pdeathsig") {
		t.Fatalf("darwin/arm64 without tests: errors %q, want the one at proc.go:6 naming Pdeathsig", darwin.errors)
	}

	withTests, err := check(dir, "darwin/arm64", true, []string{"./..."})
	if err != nil {
		t.Fatal(err)
	}
	var testErr bool
	for _, e := range withTests.errors {
		testErr = testErr || strings.Contains(e, "proc_test.go:8") && strings.Contains(e, "Gettid")
	}
	if !testErr {
		t.Fatalf("darwin/arm64 with tests: errors %q, want one at proc_test.go:8 naming Gettid", withTests.errors)
	}
}

func TestCheckRejectsAMalformedPlatform(t *testing.T) {
	for _, p := range []string{"darwin", "/arm64", "darwin/", ""} {
		if _, err := check(".", p, false, []string{"."}); err == nil || !strings.Contains(err.Error(), "GOOS/GOARCH") {
			t.Errorf("check(%q) error = %v, want one naming GOOS/GOARCH", p, err)
		}
	}
}

// TestCleanChecksAreRemembered: a clean check is remembered and answered from the cache
// while nothing it read changes; a change to a file, a test file added, another
// platform check again; a check with errors is never remembered.
func TestCleanChecksAreRemembered(t *testing.T) {
	dir := linuxOnlyModule(t)
	cache := t.TempDir()
	run := func(platform string) (result, bool) {
		t.Helper()
		var warn strings.Builder
		res, fromCache, err := checkCached(cache, dir, platform, true, []string{"./..."}, &warn)
		if err != nil || warn.Len() > 0 {
			t.Fatalf("%s: err %v, warnings %q", platform, err, warn.String())
		}
		return res, fromCache
	}
	if res, fromCache := run("linux/amd64"); fromCache || len(res.errors) != 0 {
		t.Fatalf("first linux check: from cache %v, errors %q; want checked and clean", fromCache, res.errors)
	}
	first, fromCache := run("linux/amd64")
	if !fromCache || first.packages < 2 {
		t.Fatalf("second linux check of the same files: from cache %v, %d packages; want it remembered with its count", fromCache, first.packages)
	}
	// Errors are not remembered: the second darwin check finds them again.
	for i := range 2 {
		if res, fromCache := run("darwin/arm64"); fromCache || len(res.errors) == 0 {
			t.Fatalf("darwin check #%d: from cache %v, errors %q; want it checked, with errors", i+1, fromCache, res.errors)
		}
	}
	// A change to a file: checked again, and a type error in it found.
	proc := filepath.Join(dir, "proc.go")
	b, err := os.ReadFile(proc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(proc, append(b, []byte("\nvar broken int = \"text\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, fromCache := run("linux/amd64"); fromCache || len(res.errors) != 1 {
		t.Fatalf("after a change: from cache %v, errors %q; want it checked, with the one new error", fromCache, res.errors)
	}
	if err := os.WriteFile(proc, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, fromCache := run("linux/amd64"); !fromCache {
		t.Fatal("the file as it was: want the clean result remembered for it")
	}
	// A new test file is read with -tests.
	if err := os.WriteFile(filepath.Join(dir, "more_test.go"), []byte("package m\n\nvar _ int = \"text\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, fromCache := run("linux/amd64"); fromCache || len(res.errors) == 0 {
		t.Fatalf("after a new test file with an error: from cache %v, errors %q; want it checked, with the error", fromCache, res.errors)
	}
}
