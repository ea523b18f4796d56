package packaging

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

// keepsMethods are the services allowed to link a call that looks methods up by name,
// each with the reason. The list can only shrink: an entry a service no longer needs
// fails the test.
var keepsMethods = map[string]string{
	"welcome-mailer": "renders the welcome email with html/template, whose contextual escaping guards the subscriber's name and the unsubscribe link; " +
		"template execution finds fields and methods by name",
}

// TestServicesKeepDeadCode links every service as ko.yaml builds it, with the linker's
// dependency dump (-ldflags=-dumpdep), and fails when a function the linker marks
// <ReflectMethod> is reachable: reflect.Value.MethodByName, or Method with an index
// not known at compile time (text/template and html/template call it when they run).
// From then on the linker must keep every exported method of every type that can be
// converted to an interface, in case it is called by name: with golang.org/x/net/trace
// (gRPC's, left out by ko.yaml's -tags=grpcnotrace) linked, blog-api was 47 MB instead
// of 25 and every `sa dev` rebuild linked it for 0.7 s longer. The failure names the
// chain of calls from the program's entry to that function. Slow (it links every
// service): skipped with -short.
func TestServicesKeepDeadCode(t *testing.T) {
	if testing.Short() {
		t.Skip("links every service; skipped with -short")
	}
	root := repoRoot(t)
	env, flags, err := devstack.KoBuildSettings(root)
	if err != nil {
		t.Fatal(err)
	}
	var ldflags string
	flags = slices.DeleteFunc(flags, func(f string) bool {
		if v, ok := strings.CutPrefix(f, "-ldflags="); ok {
			ldflags = v
			return true
		}
		return false
	})
	env = append(os.Environ(), env...)

	list := exec.Command("go", append(append([]string{"list"}, flags...), "-f", "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}", "./services/...")...)
	list.Dir, list.Env = root, env
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list ./services/...: %v", err)
	}
	mains := strings.Fields(string(out))
	if len(mains) < 5 {
		t.Fatalf("go list found only the services %v: the listing is broken", mains)
	}
	seen := map[string]bool{}
	for _, pkg := range mains {
		name := path.Base(pkg)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			build := exec.Command("go", append(append([]string{"build"}, flags...),
				"-ldflags="+strings.TrimSpace(ldflags+" -dumpdep"), "-o", filepath.Join(t.TempDir(), name), pkg)...)
			build.Dir, build.Env = root, env
			var dump bytes.Buffer
			build.Stdout, build.Stderr = &dump, &dump
			if err := build.Run(); err != nil {
				t.Fatalf("go build -ldflags=-dumpdep %s: %v\n%s", pkg, err, tail(dump.String(), 40))
			}
			chain, edges := reflectMethodChain(dump.Bytes())
			if edges < 1000 {
				t.Fatalf("the linker's dependency dump of %s holds %d edges: is -dumpdep still printed to the build's output?\n%s", pkg, edges, tail(dump.String(), 20))
			}
			why, allowed := keepsMethods[name]
			switch {
			case chain == nil && allowed:
				t.Errorf("%s no longer links a call that finds methods by name: remove its entry from keepsMethods", name)
			case chain != nil && allowed:
				t.Logf("%s keeps every exported method: %s (reached by %s)", name, why, strings.Join(chain, " <- "))
			case chain != nil:
				t.Errorf("%s links %s, which finds methods by name, so the linker keeps every exported method of every type "+
					"(the binary and its link grow by about half). Reached from the program's entry by:\n  %s\n"+
					"Find the import that brings it in (go mod why -m, or a build tag that leaves it out, as -tags=grpcnotrace does for gRPC), "+
					"or, if the service needs it, add it to keepsMethods with the reason.",
					name, chain[0], strings.Join(chain, "\n  <- "))
			}
		})
	}
	for name := range keepsMethods {
		if !seen[name] {
			t.Errorf("keepsMethods names %s, which is not a service: remove it", name)
		}
	}
}

// reflectMethodChain reads the linker's -dumpdep output ("from -> to" per line, each
// symbol possibly followed by attributes such as <ReflectMethod>) and returns the first
// symbol marked <ReflectMethod>, followed by the symbols that reached it, back to the
// entry point (the linker's root, "_", left out); nil when none is marked. edges counts the lines read.
func reflectMethodChain(dump []byte) (chain []string, edges int) {
	reachedBy := map[string]string{}
	var marked string
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " -> ")
		if !ok {
			continue
		}
		edges++
		from, fromMarked := symbol(from)
		to, toMarked := symbol(to)
		// The linker marks what it reaches in order: the first edge into a symbol is
		// the path it was reached by.
		if _, ok := reachedBy[to]; !ok {
			reachedBy[to] = from
		}
		if marked == "" {
			switch {
			case fromMarked:
				marked = from
			case toMarked:
				marked = to
			}
		}
	}
	if marked == "" {
		return nil, edges
	}
	chain = []string{marked}
	for s := marked; ; {
		next, ok := reachedBy[s]
		if !ok || next == "_" || slices.Contains(chain, next) || len(chain) > 200 {
			return chain, edges
		}
		chain = append(chain, next)
		s = next
	}
}

// symbol strips the attributes after a symbol's name in a -dumpdep line and says
// whether <ReflectMethod> was one of them.
func symbol(s string) (name string, reflectMethod bool) {
	s = strings.TrimSpace(s)
	name, attrs, _ := strings.Cut(s, " <")
	return name, strings.Contains(attrs, "ReflectMethod>")
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
