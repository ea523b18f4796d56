package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// motoStartTimeout bounds how long a new moto_server may take to answer.
const motoStartTimeout = 60 * time.Second

// motoAnswers reports whether a moto_server answers at ep.
func motoAnswers(ctx context.Context, ep string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/moto-api/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// moto returns the endpoint of the moto_server the stack uses: the one named by
// Options.MotoEndpoint, one already answering on Options.MotoPort, or a new one the
// stack starts (and will stop).
func (s *stackRun) moto(ctx context.Context) (string, error) {
	if ep := strings.TrimRight(s.o.MotoEndpoint, "/"); ep != "" {
		if err := s.waitFor(ctx, min(10*time.Second, s.o.ReadyTimeout), func() bool { return motoAnswers(ctx, ep) }); err != nil {
			return "", fmt.Errorf("no moto_server answers at %s (--moto-endpoint): %w", ep, err)
		}
		s.con.Printf("using moto_server at %s", ep)
		return ep, nil
	}
	ep := "http://127.0.0.1:" + strconv.Itoa(s.o.MotoPort)
	if motoAnswers(ctx, ep) {
		s.con.Printf("reusing the moto_server already running at %s (left running on exit; its state is its own: --fresh does not reset it)", ep)
		return ep, nil
	}
	bin, err := exec.LookPath(s.o.MotoCommand)
	if err != nil {
		return "", fmt.Errorf("%s is not on PATH: install it with pip install 'moto[server]' or run make dev, which does", s.o.MotoCommand)
	}
	if err := portFree(s.o.MotoPort); err != nil {
		return "", fmt.Errorf("cannot start moto_server: %w, and what listens there is not moto; stop it or pass --moto-port", err)
	}
	if s.o.Fresh {
		if err := s.freshState(); err != nil {
			return "", err
		}
	}
	args := []string{"-H", "127.0.0.1", "-p", strconv.Itoa(s.o.MotoPort)}
	if py, pargs, ok, why := s.persistentMoto(ctx, s.o.MotoPort); ok {
		bin, args = py, pargs
		s.persistent = true
		s.con.Printf("starting moto_server at %s, its state kept in %s (sa dev --fresh starts empty)", ep, filepath.Join(s.o.Dir, MotoStateFile))
	} else {
		s.con.Printf("starting moto_server at %s; its state will NOT survive a restart: %s", ep, why)
	}
	s.startedMoto, err = s.start("moto", bin, args, s.inheritedEnv(), "")
	if err != nil {
		return "", err
	}
	s.noteURL("moto", ep)
	if err := s.waitFor(ctx, motoStartTimeout, func() bool { return motoAnswers(ctx, ep) }); err != nil {
		return "", fmt.Errorf("moto_server did not come up at %s: %w", ep, err)
	}
	return ep, nil
}

// errDied marks the error of a wait cut short by a child's unexpected exit.
var errDied = errors.New("a process of the stack died")

// waitFor polls ok until it is true, timeout passes, ctx ends, or a child dies
// unexpectedly, whose obituary is then the error.
func (s *stackRun) waitFor(ctx context.Context, timeout time.Duration, ok func() bool) error {
	return s.waitEvery(ctx, timeout, 100*time.Millisecond, ok)
}

// waitEvery is waitFor asking ok every interval.
func (s *stackRun) waitEvery(ctx context.Context, timeout, interval time.Duration, ok func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if ok() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.died:
			return s.deathError()
		case <-deadline.C:
			return fmt.Errorf("no answer within %s", timeout)
		case <-tick.C:
		}
	}
}
