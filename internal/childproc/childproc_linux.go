package childproc

import (
	"os/exec"
	"syscall"
)

func prepare(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
}

// watch has nothing to do: Pdeathsig kills the child with its parent.
func watch(*exec.Cmd) (Release, error) { return func() {}, nil }
