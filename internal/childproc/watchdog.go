//go:build unix

package childproc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// watchdogScript waits for a line on stdin; anything but "done" (end-of-file when the
// parent died) kills $1: a pid, or a process group when it is negative.
const watchdogScript = `read -r word; [ "$word" = done ] || kill -s KILL -- "$1" 2>/dev/null; exit 0`

// startWatchdog starts the watchdog of the child pid (and of its process group when
// group is true). It is used on Unix systems without Pdeathsig; Linux tests call it
// directly to prove it works.
func startWatchdog(pid int, group bool) (Release, error) {
	r, w, err := os.Pipe() // both ends close-on-exec: no other child inherits w
	if err != nil {
		return nil, fmt.Errorf("watchdog of pid %d: %w", pid, err)
	}
	target := strconv.Itoa(pid)
	if group {
		target = "-" + target
	}
	dog := exec.Command("/bin/sh", "-c", watchdogScript, "sa-watchdog", target)
	dog.Stdin = r
	// Its own group: a Ctrl-C at the terminal must not end it before the parent.
	dog.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := dog.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("watchdog of pid %d: start /bin/sh: %w", pid, err)
	}
	r.Close()
	return func() {
		_, _ = w.WriteString("done\n")
		w.Close()
		_ = dog.Wait()
	}, nil
}
