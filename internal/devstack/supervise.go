package devstack

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Restart backoff of a service that dies once the stack is up: the first restart after
// minBackoff, each further one after twice the wait before, up to maxBackoff. A service
// that ran stableAfter or longer before dying starts again from minBackoff.
const (
	minBackoff  = time.Second
	maxBackoff  = 30 * time.Second
	stableAfter = time.Minute
)

// spec is what a child was started with, to start it again.
type spec struct {
	name, bin, dir string
	args, env      []string
}

// supervised is what the stack knows of one process for `sa status`.
type supervised struct {
	url       string
	restarts  int
	lastError string
	backoff   time.Duration // before the next restart
	started   time.Time
	// Hot reload (watch.go): how often the process was rebuilt and started again, and
	// when last.
	reloads    int
	lastReload time.Time
	// Scale to zero (scaletozero.go): whether an activator fronts the process, how
	// often a request started it, and how long the last start took.
	scales        bool
	coldStarts    int
	lastColdStart time.Duration
}

// onExit is called when a child has ended. A death during start-up, or moto's, stops
// the stack with the child's obituary; a service that dies once the stack is up is
// restarted with backoff and the rest keeps running.
func (s *stackRun) onExit(c *child) {
	if c.expected() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil || s.closing {
		return
	}
	sv := s.supervisedLocked(c.name)
	sv.lastError = c.exitStatus()
	moto := c == s.startedMoto
	if !s.running || (moto && !s.persistent) {
		s.dead = c
		s.con.Printf("\n!!! %s\n!!! stopping the local stack", strings.ReplaceAll(c.obituary().Error(), "\n", "\n!!! "))
		close(s.died)
		s.writeStatusLocked()
		return
	}
	if time.Since(sv.started) >= stableAfter || sv.backoff == 0 {
		sv.backoff = minBackoff
	}
	wait := sv.backoff
	sv.backoff = min(2*sv.backoff, maxBackoff)
	s.con.Printf("\n!!! %s\n!!! restarting %s in %s; the rest of the stack keeps running", strings.ReplaceAll(c.obituary().Error(), "\n", "\n!!! "), c.name, wait)
	s.writeStatusLocked()
	if moto {
		go s.restartMoto(c, wait)
		return
	}
	go s.restart(c, wait)
}

// restartMoto starts the moto this run started again after wait, with the state it
// saved last (at most motoSaveEvery old), and provisions again what is missing.
func (s *stackRun) restartMoto(old *child, wait time.Duration) {
	c := s.restart(old, wait)
	if c == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.mu.Lock()
	st, cognitoURL := s.st, s.cognitoURL
	s.startedMoto = c
	s.mu.Unlock()
	ep := st.AWSEndpoint
	deadline := time.Now().Add(motoStartTimeout)
	for !motoAnswers(ctx, ep) {
		if ctx.Err() != nil || c.exited() {
			return
		}
		if time.Now().After(deadline) {
			s.con.Printf("!!! the restarted moto_server does not answer at %s after %s; see %s", ep, motoStartTimeout, filepath.Join(s.o.Dir, LogsDir, "moto.log"))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.con.Printf("moto_server is back at %s with the state it saved last (at most %s old); provisioning again what is missing", ep, motoSaveEvery)
	res, err := s.provision(ctx, ep, cognitoURL)
	if err != nil {
		if ctx.Err() == nil {
			s.con.Printf("!!! provisioning the restarted moto failed: %v", err)
		}
		return
	}
	if res.UserPoolID != st.Resources.UserPoolID {
		s.followPool(st.Resources.UserPoolID, res)
		return
	}
	s.con.Printf("moto_server and its resources are back; the services kept running")
}

// restart starts c's process again after wait, unless the stack stops first, and
// returns the new child (nil if there is none).
func (s *stackRun) restart(old *child, wait time.Duration) *child {
	select {
	case <-time.After(wait):
	case <-s.closed:
		return nil
	}
	s.mu.Lock()
	// A reload (watch.go) may have started the process again meanwhile.
	gone := s.closing || !slices.Contains(s.children, old)
	s.mu.Unlock()
	if gone {
		return nil
	}
	c, err := s.respawn(old)
	if err != nil {
		s.con.Printf("!!! could not restart %s: %v", old.name, err)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := old.spec
	sv := s.supervisedLocked(sp.name)
	sv.restarts++
	s.metrics().restarts.WithLabelValues(sp.name).Inc()
	s.con.Printf("restarted %s (pid %d, restart %d)", sp.name, c.PID(), sv.restarts)
	s.replaceLocked(old, c)
	return c
}

// respawn starts old's process again as it was started (its binary may be new); a
// failure is recorded as the process's last error.
func (s *stackRun) respawn(old *child) (*child, error) {
	sp := old.spec
	c, err := s.start(sp.name, sp.bin, sp.args, sp.env, sp.dir)
	if err != nil {
		s.mu.Lock()
		s.supervisedLocked(sp.name).lastError = err.Error()
		s.writeStatusLocked()
		s.mu.Unlock()
	}
	return c, err
}

// replaceLocked puts c, old's process started again, in old's place among the
// children, in stack.json and in the status file; s.mu is held.
func (s *stackRun) replaceLocked(old, c *child) {
	s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == old })
	if s.st != nil && s.stackFile != "" {
		if svc, ok := s.st.Services[c.name]; ok {
			svc.PID = c.PID()
			s.st.Services[c.name] = svc
			if err := stack.Write(s.stackFile, s.st); err != nil {
				s.con.Printf("could not update %s: %v", s.stackFile, err)
			}
		}
	}
	s.writeStatusLocked()
}

// supervisedLocked returns the record of the process name, making it; s.mu is held.
func (s *stackRun) supervisedLocked(name string) *supervised {
	if s.status == nil {
		s.status = map[string]*supervised{}
	}
	sv, ok := s.status[name]
	if !ok {
		sv = &supervised{}
		s.status[name] = sv
	}
	return sv
}

// noteURL records where the process name answers.
func (s *stackRun) noteURL(name, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.supervisedLocked(name).url = url
}

// exitStatus is one line on how the child ended.
func (c *child) exitStatus() string {
	status := "exited with status 0"
	if c.err != nil {
		status = c.err.Error()
	}
	return fmt.Sprintf("%s %s at %s", status, lastLine(c.tail.String()), time.Now().Format(time.RFC3339))
}

// lastLine is the last of lines, in brackets, or "" when there is none.
func lastLine(lines string) string {
	lines = strings.TrimSpace(lines)
	if lines == "" {
		return ""
	}
	if i := strings.LastIndexByte(lines, '\n'); i >= 0 {
		lines = lines[i+1:]
	}
	if len(lines) > 200 {
		lines = lines[:200] + "…"
	}
	return "(last line: " + lines + ")"
}
