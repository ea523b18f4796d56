package structure

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// window is how many normalised lines in a row make a shared block.
const window = 6

// maxMainLines bounds a service's main.go: wiring only, the rest in internal/svcmain
// and the service's own packages.
const maxMainLines = 60

// repoRoot is the module root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// services are the names of the directories under services/.
func services(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "services"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) < 2 {
		t.Fatalf("found %d services under services/: the test looks in the wrong place", len(names))
	}
	return names
}

// line is one normalised source line and where it is.
type line struct {
	text string
	file string // relative to the repository root
	no   int
}

// codeLines returns file's code lines, normalised: comments, blank lines, the package
// clause and the imports dropped, each line its tokens separated by one space (so
// indentation and alignment do not matter).
func codeLines(root, path string) ([]line, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	skipTo := fset.Position(f.Name.End()).Line
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			skipTo = fset.Position(g.End()).Line
		}
	}
	rel, _ := filepath.Rel(root, path)
	file := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0) // comments are skipped
	byLine := map[int][]string{}
	var order []int
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // inserted by the scanner, not written
		}
		n := file.Line(pos)
		if n <= skipTo {
			continue
		}
		text := lit
		if text == "" {
			text = tok.String()
		}
		if _, seen := byLine[n]; !seen {
			order = append(order, n)
		}
		byLine[n] = append(byLine[n], text)
	}
	out := make([]line, 0, len(order))
	for _, n := range order {
		out = append(out, line{text: strings.Join(byLine[n], " "), file: rel, no: n})
	}
	return out, nil
}

// serviceLines returns the normalised lines of every non-test Go file of the service
// under root/services, one slice per file.
func serviceLines(root, service string) ([][]line, error) {
	var files [][]line
	err := filepath.WalkDir(filepath.Join(root, "services", service), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		ls, err := codeLines(root, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		files = append(files, ls)
		return nil
	})
	return files, err
}

// sharedBlocks finds every run of window or more normalised lines that two services
// under root have in common, one finding per run: "a.go:12 and b.go:40 share: ...".
func sharedBlocks(root string, services []string) ([]string, error) {
	type place struct {
		service string
		at      line
	}
	seen := map[string]place{}
	var found []string
	// last is, per pair of files, the index in the second of the window found last: a
	// window that follows it continues the same block.
	last := map[string]int{}
	for _, svc := range services {
		files, err := serviceLines(root, svc)
		if err != nil {
			return nil, err
		}
		for _, ls := range files {
			for i := 0; i+window <= len(ls); i++ {
				texts := make([]string, window)
				for j := range window {
					texts[j] = ls[i+j].text
				}
				key := strings.Join(texts, "\n")
				first, ok := seen[key]
				if !ok {
					seen[key] = place{svc, ls[i]}
					continue
				}
				if first.service == svc {
					continue
				}
				pair := first.at.file + " " + ls[i].file
				prev, had := last[pair]
				last[pair] = i
				if had && prev == i-1 {
					continue
				}
				found = append(found, fmt.Sprintf("%s:%d and %s:%d share:\n\t%s",
					first.at.file, first.at.no, ls[i].file, ls[i].no, strings.Join(texts, "\n\t")))
			}
		}
	}
	slices.Sort(found)
	return found, nil
}

// TestNoBlockSharedBetweenServices: no six normalised lines in a row appear in two
// services. Such a block is one piece of logic kept twice; it belongs in internal/,
// where both services use the one copy.
func TestNoBlockSharedBetweenServices(t *testing.T) {
	root := repoRoot(t)
	found, err := sharedBlocks(root, services(t, root))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s", f)
	}
	if len(found) > 0 {
		t.Logf("%d blocks of %d or more lines are shared between services: move each to one package under internal/", len(found), window)
	}
}

// TestSharedBlocksFindsOne: the scan finds a block two services share (reflowed and
// commented differently in each) once, naming both files and lines, and nothing
// between a service and itself.
func TestSharedBlocksFindsOne(t *testing.T) {
	root := t.TempDir()
	block := "func f(a, b int) int {\n\tx := a + b\n\tif x > 10 {\n\t\tx = 10\n\t}\n\tx *= 2\n\tx -= 1\n\treturn x\n}\n"
	write := func(svc, name, src string) {
		dir := filepath.Join(root, "services", svc)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one", "a.go", "package a\n\n"+block)
	write("one", "b.go", "package a\n\n// twice in one service is not this test's business\n"+strings.ReplaceAll(block, "func f", "func g"))
	write("two", "c.go", "package c\n\nimport \"fmt\"\n\nvar _ = fmt.Sprint\n\n"+strings.ReplaceAll(strings.ReplaceAll(block, "\t", "    "), "x *= 2", "x *= 2 // doubled"))
	write("two", "c_test.go", "package c\n\n"+block)
	found, err := sharedBlocks(root, []string{"one", "two"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !strings.HasPrefix(found[0], "services/one/a.go:3 and services/two/c.go:7 share:") {
		t.Errorf("found %d: %q; want one, services/one/a.go:3 and services/two/c.go:7", len(found), found)
	}
}

// TestServiceMainsAreWiring: every services/<name>/main.go is under 60 lines.
func TestServiceMainsAreWiring(t *testing.T) {
	root := repoRoot(t)
	for _, svc := range services(t, root) {
		path := filepath.Join(root, "services", svc, "main.go")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("service %s: %v (every service has a main.go)", svc, err)
			continue
		}
		if n := strings.Count(string(b), "\n"); n >= maxMainLines {
			t.Errorf("services/%s/main.go has %d lines, want under %d: move what is not wiring to internal/svcmain or the service's packages", svc, n, maxMainLines)
		}
	}
}

// TestCodeLinesNormalises: comments, blank lines, imports and layout do not count.
func TestCodeLinesNormalises(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.go")
	src := "// Package a.\npackage a\n\nimport (\n\t\"fmt\"\n)\n\n// F says.\nfunc F() {\n\tfmt.Println(\"x // y\")   // z\n\t/* block */\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := codeLines(dir, path)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range got {
		texts = append(texts, fmt.Sprintf("%d %s", l.no, l.text))
	}
	want := []string{`9 func F ( ) {`, `10 fmt . Println ( "x // y" )`, `12 }`}
	if !slices.Equal(texts, want) {
		t.Errorf("codeLines = %q, want %q", texts, want)
	}
}
