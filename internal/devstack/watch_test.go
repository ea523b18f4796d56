package devstack

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// watchMain is a service of the watch test's module: /readyz, and /word answering
// greet.Word (when it imports greet) or "fixed".
const watchMain = `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	%s
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/word", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, %s) })
	srv := &http.Server{Addr: net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT")), Handler: mux}
	go func() { fmt.Println(srv.ListenAndServeTLS(os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE"))) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	_ = srv.Close()
}
`

// watchModule writes a module of two services into a new directory: reader imports
// package greet, other does not.
func watchModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":          "module example.com/watched\n\ngo 1.24\n",
		"greet/greet.go":  "// Package greet holds the word.\npackage greet\n\n// Word is served.\nconst Word = \"hello\"\n",
		"reader/main.go":  fmt.Sprintf(watchMain, `"example.com/watched/greet"`, "greet.Word"),
		"other/main.go":   fmt.Sprintf(watchMain, "", `"fixed"`),
		"other/README.md": "not Go: saving it reloads nothing\n",
	}
	for name, body := range files {
		writeFile(t, filepath.Join(dir, name), body)
	}
	return dir
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func watchedService(name string, port int) Service {
	return Service{Name: name, Package: "./" + name, Port: func(Options) int { return port }, API: name == "reader"}
}

// A saved .go file rebuilds and restarts only the services built from its package, a
// reload is no restart, a build that fails leaves the old process serving and shows
// the compiler's error once, and a new package directory is watched.
func TestWatchReloadsWhatASaveChanges(t *testing.T) {
	ep := mototest.Endpoint(t)
	src := watchModule(t)
	dir := t.TempDir()
	readerPort, otherPort := porttest.Free(t), porttest.Free(t)
	r := startStack(t, Options{
		Dir: dir, SourceDir: src, MotoEndpoint: ep, Prefix: mototest.Name("dev") + "-", StopTimeout: 5 * time.Second,
		Services: []Service{watchedService("reader", readerPort), watchedService("other", otherPort)}, Watch: true,
		// The three saves below are 30ms apart: a debounce well over that keeps them one
		// burst on a machine that stalls the test for a moment.
		WatchDebounce: 500 * time.Millisecond,
	})
	r.waitFor("line saying what is watched", func() bool { return strings.Contains(r.out.String(), "watching ") })
	client, err := httpsClient(r.stack.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	word := func(port int) string {
		resp, err := client.Get(fmt.Sprintf("https://localhost:%d/word", port))
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitWord := func(want string) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := start.Add(60 * time.Second)
		for {
			if got := word(readerPort); got == want {
				return time.Since(start)
			} else if time.Now().After(deadline) {
				t.Fatalf("reader still answers %q, not %q, 60s after the save\noutput:\n%s", got, want, r.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	status := func() map[string]ProcessStatus { return statusByName(t, dir) }
	if got := word(readerPort); got != "hello" {
		t.Fatalf("reader answers %q before any change, want hello", got)
	}
	before := status()
	greet := filepath.Join(src, "greet", "greet.go")

	// A burst of saves (an editor, a formatter) is one rebuild.
	for _, w := range []string{"hel", "hell", "bonjour"} {
		writeFile(t, greet, "package greet\n\nconst Word = \""+w+"\"\n")
		time.Sleep(30 * time.Millisecond)
	}
	took := waitWord("bonjour")
	t.Logf("figure: saved to serving the new word in %s (the poll began at the last of three saves)", took.Round(10*time.Millisecond))
	// Ready is probed when the status is read, with a 1s limit that a loaded machine can
	// exceed for a process just started: wait for it with the reload.
	var after map[string]ProcessStatus
	r.waitFor("the status to record the reload, reader ready", func() bool {
		after = status()
		return after["reader"].Reloads == 1 && after["reader"].Ready
	})
	if got := after["reader"]; got.PID == before["reader"].PID || got.Restarts != 0 || got.LastReload == "" || !got.Ready {
		t.Errorf("reader after the reload: %+v; want a new pid, 0 restarts, lastReload set, ready (before: %+v)", got, before["reader"])
	}
	if got := after["other"]; got.PID != before["other"].PID || got.Reloads != 0 {
		t.Errorf("other was reloaded though it does not import greet: %+v (before: %+v)", got, before["other"])
	}
	// The phases are observed once sa dev's own poll of /readyz answers, which may be
	// after this test saw the new word: wait for all of them in one scrape.
	wants := []metricstest.Want{{Name: "sa_dev_reloads_total", Labels: map[string]string{"service": "reader"}, Value: 1}}
	for _, phase := range []string{"wait", "build", "stop", "start", "serving"} {
		wants = append(wants, metricstest.Want{Name: "sa_dev_reload_seconds", Labels: map[string]string{"service": "reader", "phase": phase}, Value: 1})
	}
	fams := metricstest.WaitAll(t, r.stack.MetricsURL, wants...)
	if n, ok := fams.Value("sa_dev_reloads_total", map[string]string{"service": "other"}); ok {
		t.Errorf("sa dev's sa_dev_reloads_total{service=other} = %v, want no series: other was not reloaded", n)
	}
	// The line is printed just after the phases are observed.
	reloaded := regexp.MustCompile(`reloaded reader \(pid \d+\): serving \S+ after the save \(wait \S+, build \S+, stop \S+, start \S+\)`)
	r.waitFor("a line saying how long the reload took and where the time went", func() bool { return reloaded.MatchString(r.out.String()) })
	if n := strings.Count(r.out.String(), "rebuilding reader"); n != 1 {
		t.Errorf("three quick saves made %d rebuilds, want 1:\n%s", n, r.out)
	}

	// A file that does not build leaves the last good process serving.
	broken := "package greet\n\nconst Word = \"au revoir\n"
	writeFile(t, greet, broken)
	r.waitFor("the compiler's error", func() bool {
		return strings.Contains(r.out.String(), "./reader does not build; reader keeps running the last build that did")
	})
	if !strings.Contains(r.out.String(), "greet/greet.go:3") {
		t.Errorf("the output lacks the compiler's message with the file and line:\n%s", r.out)
	}
	writeFile(t, greet, broken)
	r.waitFor("the second failed build", func() bool { return strings.Contains(r.out.String(), "still does not build") })
	if got := word(readerPort); got != "bonjour" {
		t.Errorf("reader answers %q while its new build fails, want the last good build's bonjour", got)
	}
	if n := strings.Count(r.out.String(), "newline in string"); n != 1 {
		t.Errorf("the compiler's error was shown %d times, want once:\n%s", n, r.out)
	}
	if got := status()["reader"]; got.PID != after["reader"].PID {
		t.Errorf("a failed build replaced reader's process: %+v", got)
	}

	// A new package in a new directory is watched once something imports it.
	writeFile(t, filepath.Join(src, "greet", "lang", "lang.go"), "package lang\n\nconst Word = \"hallo\"\n")
	writeFile(t, greet, "package greet\n\nimport \"example.com/watched/greet/lang\"\n\nconst Word = lang.Word\n")
	waitWord("hallo")
	writeFile(t, filepath.Join(src, "greet", "lang", "lang.go"), "package lang\n\nconst Word = \"hej\"\n")
	waitWord("hej")

	// Files that are not Go source reload nothing.
	reloads := status()["reader"].Reloads
	writeFile(t, filepath.Join(src, "other", "README.md"), "still not Go\n")
	writeFile(t, filepath.Join(src, "greet", "greet_test.go"), "package greet\n")
	time.Sleep(time.Second)
	if got := status(); got["reader"].Reloads != reloads || got["other"].PID != before["other"].PID {
		t.Errorf("a README or a _test.go file reloaded a service: %+v", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls ok for up to 60s.
func (r *running) waitFor(what string, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s within 60s\noutput:\n%s", what, r.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// copyRepo copies the repository's tracked files into a new directory, for a test
// that edits them; the module cache and (as ko.yaml builds with -trimpath) the build
// cache are shared with the repository.
func copyRepo(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("list the repository's files (git ls-files): %v", err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link (hack/events)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, filepath.Join(dst, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// replaceIn replaces old by new in the file at path, which must hold old.
func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

// On a copy of the repository running blog-api behind the blog edge: a saved page of
// web/blog is what the edge serves at the next request, though it had the old page in
// its cache, and a saved handler of blog-api is served by a new blog-api while the
// edge keeps its process.
func TestWatchReloadsTheBlog(t *testing.T) {
	ep := mototest.Endpoint(t)
	src := copyRepo(t)
	dir := t.TempDir()
	var svcs []Service
	for _, svc := range Services() {
		if svc.Name == "blog-api" || svc.Name == "edge" {
			svcs = append(svcs, svc)
		}
	}
	r := startStack(t, Options{
		Dir: dir, SourceDir: src, MotoEndpoint: ep, Prefix: mototest.Name("dev") + "-", StopTimeout: 5 * time.Second,
		EdgePort: porttest.Free(t), PortBase: porttest.Block(t, 16), Services: svcs, Watch: true,
	})
	r.waitFor("line saying what is watched", func() bool { return strings.Contains(r.out.String(), "watching ") })
	client, err := httpsClient(r.stack.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := client.Get(r.stack.BlogURL + path)
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	pids := func() map[string]int {
		list, err := Status(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, p := range list {
			m[p.Name] = p.PID
		}
		return m
	}
	if page := get("/"); !strings.Contains(page, "<h1>Recent posts</h1>") {
		t.Fatalf("the edge serves at / (now in its cache):\n%s", page)
	}
	before := pids()

	replaceIn(t, filepath.Join(src, "web", "blog", "index.html"), "<h1>Recent posts</h1>", "<h1>Latest posts</h1>")
	saved := time.Now()
	r.waitFor("new page at the edge", func() bool { return strings.Contains(get("/"), "<h1>Latest posts</h1>") })
	t.Logf("figure: a saved page of web/blog served by the edge %s after the save", time.Since(saved).Round(10*time.Millisecond))
	afterPage := pids()
	if afterPage["blog-api"] != before["blog-api"] {
		t.Errorf("a page of web/blog restarted blog-api: pids %v, before %v", afterPage, before)
	}

	// GetPost's answer to a slug that cannot be one (no DynamoDB call); a new slug at each
	// try, so that no answer the edge might keep stands in for blog-api's.
	replaceIn(t, filepath.Join(src, "services", "blog-api", "internal", "blog", "service.go"), `"no such post"`, `"no such blog post"`)
	saved = time.Now()
	try := 0
	r.waitFor("blog-api's new answer", func() bool {
		try++
		return strings.Contains(get(fmt.Sprintf("/v1/posts/NOT_A_SLUG_%d", try)), "no such blog post")
	})
	t.Logf("figure: a saved handler of blog-api served through the edge %s after the save", time.Since(saved).Round(10*time.Millisecond))
	after := pids()
	if after["edge"] != afterPage["edge"] || after["blog-api"] == afterPage["blog-api"] {
		t.Errorf("after blog-api's handler changed: pids %v, before %v; want a new blog-api and the same edge", after, afterPage)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}

// statusByName is Status of the stack in dir, by process name.
func statusByName(t *testing.T, dir string) map[string]ProcessStatus {
	t.Helper()
	list, err := Status(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]ProcessStatus{}
	for _, p := range list {
		m[p.Name] = p
	}
	return m
}

// What the watcher acts on: Go source that is not a test, the module files at the
// root, files under web/ but not an editor's scratch files; never the stack's own
// directory, hidden directories or node_modules.
func TestWatchRelevantPaths(t *testing.T) {
	root := filepath.FromSlash("/src")
	w := &watcher{root: root, s: &stackRun{o: Options{Dir: filepath.FromSlash("/src/.dev")}}}
	for path, want := range map[string]bool{
		"services/blog-api/main.go":       true,
		"services/blog-api/main_test.go":  false,
		"go.mod":                          true,
		"go.sum":                          true,
		"test/cluster/go.mod":             false,
		"web/blog/index.html":             true,
		"web/blog/.index.html.swp":        false,
		"web/blog/index.html~":            false,
		"README.md":                       false,
		"services/blog-api/README.md":     false,
		"internal/devstack/testdata/x.go": true,
	} {
		if got := w.relevant(filepath.Join(root, filepath.FromSlash(path))); got != want {
			t.Errorf("relevant(%s) = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]bool{
		"":                      false,
		".git":                  true,
		".dev":                  true,
		"web/todo/node_modules": true,
		"services":              false,
		"internal/devstack":     false,
	} {
		if got := w.skipDir(filepath.Join(root, filepath.FromSlash(path))); got != want {
			t.Errorf("skipDir(%q) = %v, want %v", path, got, want)
		}
	}
}
