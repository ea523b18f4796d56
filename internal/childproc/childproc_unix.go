//go:build unix

package childproc

import (
	"os"
	"syscall"
)

// terminate is the signal that asks a child to stop.
var terminate os.Signal = syscall.SIGTERM

func signal(pid int, group bool, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		s = syscall.SIGKILL
	}
	if group {
		return syscall.Kill(-pid, s)
	}
	return syscall.Kill(pid, s)
}
