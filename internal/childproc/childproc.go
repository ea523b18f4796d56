// Package childproc starts child processes that never outlive the process that started
// them, on every system the project's tools run on.
//
// On Linux the kernel does it: Pdeathsig sends SIGKILL to a child whose parent died. On
// macOS and the other Unix systems, which have no such signal, a watchdog does it: a
// small /bin/sh process reads a pipe whose write end only the parent holds; when the
// parent dies for any reason (even SIGKILL) the kernel closes that end, the read sees
// end-of-file and the watchdog kills the child (its whole process group when it has
// one). An orderly end writes "done" to the pipe first, so the watchdog leaves quietly.
// On Windows, where only the client CLI runs, children are left to the system.
//
// Use: Prepare before cmd.Start, Watch right after it, and the returned Release once
// Wait has returned.
package childproc

import (
	"os"
	"os/exec"
)

// Release ends the guard of a child that has been waited for.
type Release func()

// Prepare sets cmd's process attributes: death with the parent where the kernel offers
// it, and, when group is true, a process group of the child's own, so that a Ctrl-C at
// the terminal reaches only the parent and Signal can reach the child's own children.
func Prepare(cmd *exec.Cmd, group bool) { prepare(cmd, group) }

// Watch guards a started child on systems where Prepare cannot: it starts the watchdog
// described in the package comment. Where the kernel does it, it does nothing. Call the
// returned Release after cmd.Wait has returned.
func Watch(cmd *exec.Cmd) (Release, error) { return watch(cmd) }

// Signal sends sig to the child with process id pid and, when it was started with its
// own process group, to everything in that group.
func Signal(pid int, group bool, sig os.Signal) error { return signal(pid, group, sig) }

// Terminate asks the child to stop: SIGTERM on Unix, a kill on Windows.
func Terminate(pid int, group bool) error { return signal(pid, group, terminate) }

// Kill ends the child (and its group) at once.
func Kill(pid int, group bool) error { return signal(pid, group, os.Kill) }

// Start starts cmd (prepared with Prepare) and its guard. If the guard cannot start,
// the child is killed and waited for, and the error returned.
func Start(cmd *exec.Cmd) (Release, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	release, err := watch(cmd)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return release, nil
}
