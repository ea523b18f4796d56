// Command typecheck type-checks Go packages, and every package they import, for other
// operating systems and architectures, from source and without compiling them.
//
// make lint uses it to keep the whole module, tests included, building on macOS (arm64
// and amd64: make dev builds every service there) and todo on Windows: process handling
// differs per system (internal/childproc), and a Linux-only field, function or constant
// in a file without a build constraint is a type error on the others. That is the whole
// class of error a cross-build exists to catch, and type-checking finds it in seconds
// where cross-compiling sa and todo alone for those three targets took 8.4 minutes of a
// 2-core machine's first make test. What it does not
// do is generate code and link: a function declared without a body and without the
// assembly for that architecture would pass here and fail there (cgo is off in every
// build of this project). Kubernetes checks its other platforms the same way
// (hack/verify-typecheck.sh). The build tags come from GOFLAGS, as for go build.
//
// A clean result is remembered (-cache, by default in the user's cache directory) under
// a key of everything the check read: the platform, GOFLAGS, the Go version, this
// command's own binary, each module dependency's path and version (the module cache is
// read-only), and the contents of every file of this module and of local replacements.
// A second run with nothing changed then takes the second go list takes, not the half
// minute of loading 2,200 packages from source. A failed check is never remembered.
//
// Usage:
//
//	go run ./hack/typecheck [-tests] [-cache DIR] -platforms darwin/arm64,windows/amd64 ./cmd/todo ./internal/...
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/tools/go/packages"
)

func main() {
	platforms := flag.String("platforms", "", "comma-separated GOOS/GOARCH pairs to check, e.g. darwin/arm64,windows/amd64")
	tests := flag.Bool("tests", false, "check the packages' test files too")
	cacheDir := flag.String("cache", defaultCacheDir(), "where clean results are remembered; empty: nowhere")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: typecheck [-tests] [-cache DIR] -platforms GOOS/GOARCH[,...] packages...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *platforms == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	failed := false
	for _, platform := range strings.Split(*platforms, ",") {
		start := time.Now()
		res, fromCache, err := checkCached(*cacheDir, ".", platform, *tests, flag.Args(), os.Stderr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "typecheck %s: %v\n", platform, err)
			os.Exit(2)
		}
		for _, e := range res.errors {
			fmt.Fprintf(os.Stderr, "%s: %s\n", platform, e)
		}
		if len(res.errors) > 0 {
			failed = true
			fmt.Fprintf(os.Stderr, "typecheck %s: %d errors: this code would not build there\n", platform, len(res.errors))
			continue
		}
		how := "checked"
		if fromCache {
			how = "unchanged since a clean check"
		}
		fmt.Printf("typecheck %s: %d packages clean (%s) in %.1fs\n", platform, res.packages, how, time.Since(start).Seconds())
	}
	if failed {
		os.Exit(1)
	}
}

// checkCached is check, answered from cacheDir when a clean check of the same inputs is
// remembered there; a clean result is remembered. Cache trouble is reported to warn and
// costs only the time: the check runs.
func checkCached(cacheDir, dir, platform string, tests bool, patterns []string, warn io.Writer) (res result, fromCache bool, err error) {
	var key string
	if cacheDir != "" {
		if key, err = cacheKey(dir, platform, tests, patterns); err != nil {
			fmt.Fprintf(warn, "typecheck %s: not cached: %v\n", platform, err)
			key = ""
		}
		if n, ok := cached(cacheDir, key); ok {
			return result{packages: n}, true, nil
		}
	}
	if res, err = check(dir, platform, tests, patterns); err != nil {
		return res, false, err
	}
	if len(res.errors) == 0 && key != "" {
		if err := remember(cacheDir, key, res.packages); err != nil {
			fmt.Fprintf(warn, "typecheck %s: the clean result is not remembered: %v\n", platform, err)
		}
	}
	return res, false, nil
}

type result struct {
	packages int      // packages checked, dependencies included
	errors   []string // "file:line:col: message", in load order
}

// check loads patterns, and everything they import, for platform ("GOOS/GOARCH") from
// source in dir, and returns the errors of every package: listing, parsing and type
// errors alike.
func check(dir, platform string, tests bool, patterns []string) (result, error) {
	goos, goarch, ok := strings.Cut(platform, "/")
	if !ok || goos == "" || goarch == "" {
		return result{}, fmt.Errorf("platform %q is not GOOS/GOARCH (darwin/arm64, windows/amd64, ...)", platform)
	}
	cfg := &packages.Config{
		// NeedSyntax with NeedDeps loads every package from source: nothing is compiled.
		Mode:  packages.NeedName | packages.NeedFiles | packages.NeedImports | packages.NeedDeps | packages.NeedTypes | packages.NeedSyntax,
		Dir:   dir,
		Tests: tests,
		Env:   append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0"),
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return result{}, err
	}
	var res result
	seen := map[string]bool{}
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		res.packages++
		for _, e := range p.Errors {
			// A package's error repeats in each test variant of it.
			if s := e.Error(); !seen[s] {
				seen[s] = true
				res.errors = append(res.errors, s)
			}
		}
	})
	return res, nil
}
