package devstack

import (
	"context"
	_ "embed" // the moto launcher below
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// motoServerPy runs moto_server with its state kept in a file: loaded on start, saved
// on SIGTERM and every motoSaveEvery while requests change it.
//
//go:embed motoserver.py
var motoServerPy []byte

// MotoStateFile is the file under the stack's directory that keeps the state of the
// moto_server `sa dev` starts: users, tables, buckets, objects, queues, mail.
const MotoStateFile = "moto-state.pickle"

// motoSaveEvery is how often a moto that `sa dev` started saves its state while it
// changes: what a crash of moto can lose at most.
const motoSaveEvery = 10 * time.Second

// persistentMoto returns the command line of a moto_server that keeps its state in
// <Dir>/MotoStateFile, or ok false (with the reason) when the Python that runs it
// cannot import moto, in which case moto_server runs as it is and starts empty.
func (s *stackRun) persistentMoto(ctx context.Context, port int) (bin string, args []string, ok bool, why string) {
	py, err := exec.LookPath(s.o.MotoPython)
	if err != nil {
		return "", nil, false, s.o.MotoPython + " is not on PATH"
	}
	check := exec.CommandContext(ctx, py, "-c", "import moto.server, werkzeug.serving, cryptography")
	if out, err := check.CombinedOutput(); err != nil {
		return "", nil, false, fmt.Sprintf("%s cannot import moto (%v: %s)", py, err, lastLine(string(out)))
	}
	script := filepath.Join(s.o.Dir, "moto-server.py")
	if err := os.MkdirAll(s.o.Dir, 0o755); err != nil {
		return "", nil, false, err.Error()
	}
	if err := os.WriteFile(script, motoServerPy, 0o644); err != nil {
		return "", nil, false, err.Error()
	}
	state := filepath.Join(s.o.Dir, MotoStateFile)
	return py, []string{"-u", script, "127.0.0.1", strconv.Itoa(port), state, strconv.FormatFloat(motoSaveEvery.Seconds(), 'f', -1, 64)}, true, ""
}

// freshState moves a saved moto state aside (to <file>.old, replacing an older one), so
// the moto about to start begins empty.
func (s *stackRun) freshState() error {
	state := filepath.Join(s.o.Dir, MotoStateFile)
	err := os.Rename(state, state+".old")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--fresh: move the saved state aside: %w", err)
	}
	s.con.Printf("--fresh: moved moto's saved state aside to %s; moto starts empty", state+".old")
	return nil
}

// stateNote tells the operator what became of moto's state once it stopped.
func (s *stackRun) stateNote(c *child) {
	state := filepath.Join(s.o.Dir, MotoStateFile)
	if c.err != nil {
		s.con.Printf("!!! moto's state could not be saved (%v); what was saved last is in %s; see %s", c.err, state, filepath.Join(s.o.Dir, LogsDir, "moto.log"))
		return
	}
	s.con.Printf("saved moto's state to %s (the next make dev starts with it; sa dev --fresh starts empty)", state)
}
