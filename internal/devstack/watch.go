package devstack

// Hot reload (Options.Watch, `sa dev --watch`): every directory of the source tree is
// watched with fsnotify (inotify on Linux, kqueue on macOS: one watch per directory,
// new directories added as they appear). A burst of saves is gathered until
// Options.WatchDebounce passes without one, then:
//
//   - a changed .go file (not a _test.go) rebuilds the services whose build graph
//     holds its package (`go list -deps` of each service, taken at start and again
//     after each rebuild and when go.mod or go.sum change, which rebuild everything),
//     with the stack's own build (buildTo: ko.yaml's settings). Each package is built
//     once into a new file and moved over the old binary of every service built from
//     it, and every process running that binary (gateway replicas and further regions
//     included) is stopped and started again: a reload, which sa status counts apart
//     from the supervisor's restarts and which never backs off. A build that fails
//     leaves the old binary and processes alone and shows the compiler's output once.
//   - a changed file under web/blog publishes the blog's site to its bucket again
//     (changed files only), under web/todo the app is built and published again. The
//     publication invalidates the changed pages at the distribution, and the edge that
//     serves them drops them when it applies that invalidation, as CloudFront would:
//     nothing else makes it fetch them again, so a deploy that invalidates the wrong
//     paths shows here. Only the first region's site is published again.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/serverless-architect/serverless-architect/internal/stack"
	"github.com/serverless-architect/serverless-architect/internal/webapp"
)

// defaultWatchDebounce is how long the watcher waits after a change for the next
// before it acts (Options.WatchDebounce): an editor's save is often several events
// (write, chmod, rename) a few milliseconds apart, and a formatter or `git checkout`
// saves many files at once. It is part of every reload the developer waits for, so it
// is short (watchexec's default); a change that comes later, during the build, is
// built again after it.
const defaultWatchDebounce = 50 * time.Millisecond

// watcher is the hot reload of one run.
type watcher struct {
	s      *stackRun
	st     *stack.Stack
	fsw    *fsnotify.Watcher
	root   string // the source tree, absolute
	client *http.Client

	deps   map[string][]Service // package directory -> the services built from it
	failed map[string]string    // package -> the build error last shown
}

// startWatch watches the source tree and reloads what a change affects until ctx
// ends.
func (s *stackRun) startWatch(ctx context.Context, st *stack.Stack) error {
	root, err := filepath.Abs(s.o.SourceDir)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	client, err := httpsClient(st.CAFile)
	if err != nil {
		return err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch the source tree: %w", err)
	}
	w := &watcher{s: s, st: st, fsw: fsw, root: root, client: client, failed: map[string]string{}}
	n, err := w.addTree(root)
	if err == nil {
		err = w.refreshDeps(ctx)
	}
	if err != nil {
		_ = fsw.Close()
		return err
	}
	s.con.Printf("watching %d directories under %s: a saved .go file rebuilds and restarts the services built from it, a change under web/ publishes the site again (--watch=false: off)", n, root)
	go w.loop(ctx)
	return nil
}

// skipDir reports whether the directory at path is left unwatched: hidden ones (.git),
// node_modules, and the stack's own directory.
func (w *watcher) skipDir(path string) bool {
	if path == w.root {
		return false
	}
	name := filepath.Base(path)
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "node_modules" || path == w.s.o.Dir
}

// addTree watches dir and every directory under it, and returns how many it added.
func (w *watcher) addTree(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if w.skipDir(path) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w (on Linux, raise fs.inotify.max_user_watches; or run with --watch=false)", path, err)
		}
		n++
		return nil
	})
	return n, err
}

// refreshDeps lists the packages in each service's build graph (with ko.yaml's build
// flags, so build tags select the same files): one go list for every service, each
// package with the import paths it depends on.
func (w *watcher) refreshDeps(ctx context.Context) error {
	env, flags, err := w.s.buildSettings()
	if err != nil {
		return err
	}
	var pkgs []string
	for _, svc := range w.s.o.Services {
		if !slices.Contains(pkgs, svc.Package) {
			pkgs = append(pkgs, svc.Package)
		}
	}
	args := append(append([]string{"list", "-deps"}, flags...), "-f", "{{if not .Standard}}{{.ImportPath}}\t{{.Dir}}\t{{.DepOnly}}\t{{join .Deps \" \"}}{{end}}")
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = w.s.o.SourceDir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("watch: go list -deps %s: %w\n%s", strings.Join(pkgs, " "), err, indent(strings.TrimSpace(stderr.String())))
	}
	dirOf := map[string]string{}    // import path -> directory
	depsOf := map[string][]string{} // directory of a package named -> its dependencies
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(f) != 4 {
			continue
		}
		dirOf[f[0]] = f[1]
		if f[2] == "false" {
			depsOf[f[1]] = append(strings.Fields(f[3]), f[0])
		}
	}
	deps := map[string][]Service{}
	for _, svc := range w.s.o.Services {
		for _, imp := range depsOf[filepath.Join(w.root, svc.Package)] {
			if d, ok := dirOf[imp]; ok && inside(w.root, d) {
				deps[d] = append(deps[d], svc)
			}
		}
	}
	if len(deps) == 0 {
		return fmt.Errorf("watch: go list -deps %s named none of the services' packages (%s)", strings.Join(pkgs, " "), w.root)
	}
	w.deps = deps
	return nil
}

// inside reports whether path is root or under it.
func inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// relevant reports whether a change at path can matter: Go source, go.mod, go.sum, or
// a file under web/ that is not an editor's scratch file.
func (w *watcher) relevant(path string) bool {
	base := filepath.Base(path)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") || strings.HasPrefix(base, "#") {
		return false
	}
	switch {
	case base == "go.mod" || base == "go.sum":
		return filepath.Dir(path) == w.root
	case strings.HasSuffix(base, ".go"):
		return !strings.HasSuffix(base, "_test.go")
	}
	return inside(filepath.Join(w.root, "web"), path)
}

// loop gathers the changes of a burst and applies them, until ctx ends.
func (w *watcher) loop(ctx context.Context) {
	defer func() { _ = w.fsw.Close() }() // nothing is lost: the watch ends with the stack
	pending := map[string]bool{}
	var first time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			changed := w.event(ev)
			if len(changed) == 0 {
				continue
			}
			if len(pending) == 0 {
				first = time.Now()
			}
			for _, p := range changed {
				pending[p] = true
			}
			timer.Reset(w.s.o.WatchDebounce)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.s.con.Printf("!!! watching the source tree: %v (a change may have been missed: save the file again)", err)
		case <-timer.C:
			w.apply(ctx, slices.Sorted(maps.Keys(pending)), first)
			clear(pending)
		}
	}
}

// event returns the paths an event changed that matter: a new directory is watched
// and the Go and web files already in it count as changed.
func (w *watcher) event(ev fsnotify.Event) []string {
	if ev.Op == fsnotify.Chmod {
		return nil
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			if w.skipDir(ev.Name) {
				return nil
			}
			if _, err := w.addTree(ev.Name); err != nil {
				w.s.con.Printf("!!! %v", err)
			}
			var files []string
			_ = filepath.WalkDir(ev.Name, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && w.relevant(path) {
					files = append(files, path)
				}
				return nil
			})
			return files
		}
	}
	if !w.relevant(ev.Name) {
		return nil
	}
	return []string{ev.Name}
}

// apply rebuilds and reloads what the changed paths affect; saved is when the first of
// them changed.
func (w *watcher) apply(ctx context.Context, paths []string, saved time.Time) {
	var affected []Service
	add := func(svcs ...Service) {
		for _, svc := range svcs {
			if !slices.ContainsFunc(affected, func(a Service) bool { return a.Name == svc.Name }) {
				affected = append(affected, svc)
			}
		}
	}
	var site, app bool
	for _, p := range paths {
		switch base := filepath.Base(p); {
		case base == "go.mod" || base == "go.sum":
			if err := w.refreshDeps(ctx); err != nil {
				w.s.con.Printf("!!! %v", err)
			}
			add(w.s.o.Services...)
		case strings.HasSuffix(base, ".go"):
			add(w.deps[filepath.Dir(p)]...)
		case inside(filepath.Join(w.root, SiteDir), p):
			site = true
		case inside(filepath.Join(w.root, webapp.SourceDir), p):
			app = true
		}
	}
	if len(affected) > 0 {
		w.rebuild(ctx, affected, saved)
	}
	if site {
		w.republish(ctx, "the blog's site", saved, func() error {
			return w.s.deploySite(ctx, w.st.Region, w.st.AWSEndpoint, w.st.Resources)
		})
	}
	if app {
		w.republish(ctx, "the MyTodoList app", saved, func() error {
			return w.s.deployApp(ctx, w.st)
		})
	}
}

// rebuild builds the affected services (buildServices: one go build) and reloads
// every process running a binary that was rebuilt.
func (w *watcher) rebuild(ctx context.Context, affected []Service, saved time.Time) {
	s := w.s
	var pkgs []string
	byPkg := map[string][]string{}
	for _, svc := range affected {
		if _, ok := byPkg[svc.Package]; !ok {
			pkgs = append(pkgs, svc.Package)
		}
		byPkg[svc.Package] = append(byPkg[svc.Package], svc.Name)
	}
	for _, pkg := range pkgs {
		s.con.Printf("rebuilding %s (%s)", strings.Join(byPkg[pkg], ", "), pkg)
	}
	t := reloadTimes{saved: saved, began: time.Now()}
	built, err := s.buildServices(ctx, affected)
	t.ended = time.Now()
	if ctx.Err() != nil {
		return
	}
	rebuilt := map[string]bool{}
	for _, pkg := range pkgs {
		names := byPkg[pkg]
		if !built[pkg] {
			msg := fmt.Sprint(err)
			if w.failed[pkg] == msg {
				s.con.Printf("!!! %s still does not build (the same error as above); %s the last build that did", pkg, keepRunning(names))
			} else {
				s.con.Printf("!!! %s does not build; %s the last build that did:\n!!! %s", pkg, keepRunning(names), strings.ReplaceAll(msg, "\n", "\n!!! "))
			}
			w.failed[pkg] = msg
			continue
		}
		delete(w.failed, pkg)
		for _, name := range names {
			rebuilt[s.binPath(name)] = true
		}
	}
	if len(rebuilt) == 0 {
		return
	}
	w.reloadWhere(ctx, func(c *child) bool { return rebuilt[c.spec.bin] }, t)
	// The saved files may import packages they did not before.
	if err := w.refreshDeps(ctx); err != nil && ctx.Err() == nil {
		s.con.Printf("!!! %v", err)
	}
}

// keepRunning is "<names> keep(s) running".
func keepRunning(names []string) string {
	if len(names) == 1 {
		return names[0] + " keeps running"
	}
	return strings.Join(names, ", ") + " keep running"
}

// republish publishes a web tree again with deploy. The edges that serve it keep
// their processes: they drop the changed pages when they apply the invalidation the
// publication made (INVALIDATION_POLL, 1 s), as CloudFront does.
func (w *watcher) republish(ctx context.Context, what string, saved time.Time, deploy func() error) {
	w.s.con.Printf("publishing %s again", what)
	if err := deploy(); err != nil {
		if ctx.Err() == nil {
			w.s.con.Printf("!!! %v; the edge keeps serving what was published before", err)
		}
		return
	}
	w.s.con.Printf("published %s again %s after the save; the edge drops the changed pages when it applies the invalidation (within a second)", what, round(time.Since(saved)))
}

// reloadTimes are the moments of one reload, from which its phases are reported: the
// first save of the burst, and when the build the save asked for began and ended.
type reloadTimes struct {
	saved, began, ended time.Time
}

// reloadPollEvery is how often a reloaded process's /readyz is asked: often, because
// the developer waits for it.
const reloadPollEvery = 10 * time.Millisecond

// reloadWhere reloads, all at once, the processes that pick selects, and reports when
// each serves again (ready), counted from the save, with the phases of the wait
// (sa_dev_reload_seconds).
func (w *watcher) reloadWhere(ctx context.Context, pick func(*child) bool, t reloadTimes) {
	s := w.s
	s.mu.Lock()
	var olds []*child
	for _, c := range s.children {
		// A process stopped on purpose (scaled to zero) starts from the new binary on
		// its next request.
		if c != s.startedMoto && pick(c) && !(c.exited() && c.expected()) {
			olds = append(olds, c)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, old := range olds {
		wg.Go(func() {
			stopping := time.Now()
			c, started, err := s.reload(old)
			if err != nil {
				s.con.Printf("!!! could not start %s again: %v", old.name, err)
				return
			}
			s.mu.Lock()
			url := s.supervisedLocked(c.name).url
			s.mu.Unlock()
			if url != "" {
				ready := func() bool { return answersReady(ctx, w.client, url) }
				if err := s.waitEvery(ctx, s.o.ReadyTimeout, reloadPollEvery, ready); err != nil {
					if ctx.Err() != nil {
						return
					}
					s.con.Printf("!!! %s (pid %d) is not ready at %s/readyz after the reload: %v", c.name, c.PID(), url, err)
					return
				}
			}
			now := time.Now()
			phases := []struct {
				name string
				took time.Duration
			}{
				{"wait", t.began.Sub(t.saved)},
				{"build", t.ended.Sub(t.began)},
				{"stop", started.Sub(stopping)},
				{"start", now.Sub(started)},
				{"serving", now.Sub(t.saved)},
			}
			parts := make([]string, 0, len(phases)-1)
			for i, p := range phases {
				s.metrics().reloadPhase.WithLabelValues(c.name, p.name).Observe(p.took.Seconds())
				if i < len(phases)-1 {
					parts = append(parts, fmt.Sprintf("%s %s", p.name, round(p.took)))
				}
			}
			s.con.Printf("reloaded %s (pid %d): serving %s after the save (%s)", c.name, c.PID(), round(now.Sub(t.saved)), strings.Join(parts, ", "))
		})
	}
	wg.Wait()
}

// round rounds d for a message: to 10ms, or to 1ms below 100ms.
func round(d time.Duration) time.Duration {
	if d < 100*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// reload stops old, as asked (not a crash: no backoff, no restart counted), and starts
// its process again from its binary, which may have been rebuilt; started is when the
// old process had stopped and the new one was started.
func (s *stackRun) reload(old *child) (c *child, started time.Time, err error) {
	old.stop(s.o.StopTimeout)
	started = time.Now()
	c, err = s.respawn(old)
	if err != nil {
		return nil, started, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.supervisedLocked(c.name)
	sv.reloads++
	s.metrics().reloads.WithLabelValues(c.name).Inc()
	sv.lastReload = time.Now()
	s.replaceLocked(old, c)
	return c, started, nil
}
