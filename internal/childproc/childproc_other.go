//go:build unix && !linux

package childproc

import (
	"os/exec"
	"syscall"
)

func prepare(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group}
}

func watch(cmd *exec.Cmd) (Release, error) {
	return startWatchdog(cmd.Process.Pid, cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid)
}
