package childproc

import (
	"os"
	"os/exec"
)

// terminate: Windows has no SIGTERM for other processes; a stop is a kill.
var terminate = os.Kill

func prepare(*exec.Cmd, bool) {}

func watch(*exec.Cmd) (Release, error) { return func() {}, nil }

func signal(pid int, _ bool, _ os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
