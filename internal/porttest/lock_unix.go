//go:build unix

package porttest

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockPort takes port p's lock file for this process. It reports false when another
// process holds it. When the lock directory cannot be used (a read-only TMPDIR), it
// claims the port for this process alone, with a nil file.
func lockPort(p int) (*os.File, bool) {
	dir := lockDir()
	if dir == "" {
		return nil, true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}
