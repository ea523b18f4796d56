//go:build !unix

package porttest

import "os"

// lockPort claims port p for this process alone: without flock, test binaries running
// side by side may still pick the same port (the tests that run them are Unix-only).
func lockPort(int) (*os.File, bool) { return nil, true }
