package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// StatusFile is the file under the stack's directory where a running `sa dev` keeps
// the state of its processes (ProcessStatus without Ready); `sa status` reads it.
const StatusFile = "status.json"

// ProcessStatus is one process of a running stack, as `sa status --json` lists it.
type ProcessStatus struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	PID       int    `json:"pid"`
	Restarts  int    `json:"restarts"`
	Ready     bool   `json:"ready"`
	LastError string `json:"lastError"`
	// Reloads is how often sa dev --watch rebuilt the process and started it again
	// (not counted in Restarts), LastReload when last (RFC 3339; "" when never).
	Reloads    int    `json:"reloads"`
	LastReload string `json:"lastReload,omitempty"`
	// ScalesToZero is set for a process sa dev --scale-to-zero stops when idle and
	// starts on a request (PID 0 while it is stopped); ColdStarts is how often a
	// request started it, ColdStartMs how long the last start took, from starting the
	// process to its first 200 on /readyz.
	ScalesToZero bool  `json:"scalesToZero,omitempty"`
	ColdStarts   int   `json:"coldStarts,omitempty"`
	ColdStartMs  int64 `json:"coldStartMs,omitempty"`
}

// writeStatusLocked writes StatusFile from the processes' records; s.mu is held.
func (s *stackRun) writeStatusLocked() {
	pids := map[string]int{}
	for _, c := range s.children {
		if !c.exited() {
			pids[c.name] = c.PID()
		}
	}
	list := make([]ProcessStatus, 0, len(s.status))
	for name, sv := range s.status {
		p := ProcessStatus{Name: name, URL: sv.url, PID: pids[name], Restarts: sv.restarts, LastError: sv.lastError, Reloads: sv.reloads,
			ScalesToZero: sv.scales, ColdStarts: sv.coldStarts, ColdStartMs: sv.lastColdStart.Milliseconds()}
		if !sv.lastReload.IsZero() {
			p.LastReload = sv.lastReload.Format(time.RFC3339)
		}
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b ProcessStatus) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return
	}
	path := filepath.Join(s.o.Dir, StatusFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
		err = os.Rename(tmp, path)
		if err != nil {
			s.con.Printf("could not write %s: %v", path, err)
		}
	}
}

// Status reports the processes of the stack running from dir: what `sa dev` recorded,
// with each one's readiness probed now (GET /readyz over HTTPS trusting the stack's
// CA; moto's /moto-api/). It is an error when no stack runs there.
func Status(ctx context.Context, dir string) ([]ProcessStatus, error) {
	st, err := stack.Read(filepath.Join(dir, "stack.json"))
	if err != nil {
		return nil, fmt.Errorf("no local stack is running from %s (start it with make dev): %w", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s has no %s: the stack was started by an sa older than this one; restart it", dir, StatusFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	var list []ProcessStatus
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read %s: %w", StatusFile, err)
	}
	client, err := httpsClient(st.CAFile)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for i := range list {
		p := &list[i]
		wg.Go(func() {
			switch {
			case p.Name == "moto":
				p.Ready = p.URL != "" && motoAnswers(ctx, p.URL)
			case p.URL != "" && p.PID != 0:
				p.Ready = answersReady(ctx, client, p.URL)
			}
		})
	}
	wg.Wait()
	return list, nil
}

// answersReady reports whether GET url/readyz answers 200 within a second (or the
// client's own timeout, when shorter).
func answersReady(ctx context.Context, client *http.Client, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
