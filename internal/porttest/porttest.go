// Package porttest gives tests the loopback ports they start servers and child
// processes on.
//
// A port found free is not yet taken: the child that will listen on it binds it
// later, and in between anything else may take it. Three things guard that gap:
//   - The ports are taken below Linux's ephemeral range (32768 and up), so no outgoing
//     connection of a test running beside this one is given it.
//   - A port is handed out once per process: two calls never return the same port,
//     even before the first one's child has bound it.
//   - A port is claimed across processes with a lock file (flock, released by the
//     kernel when the process ends, however it ends), so the test binaries go test
//     runs side by side never hand out the same port either.
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Block returns the first of n consecutive loopback ports that are free now and
// claimed for this process.
func Block(t testing.TB, n int) int {
	t.Helper()
	base, err := Find(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// Free returns one loopback port that is free now and claimed for this process.
func Free(t testing.TB) int {
	t.Helper()
	return Block(t, 1)
}

const (
	low  = 10000
	high = 32000 // below the ephemeral range
)

// Find is Block for code without a testing.TB.
func Find(n int) (int, error) {
	for range 200 {
		base := low + rand.IntN(high-low-n)
		if claimBlock(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free loopback ports found between %d and %d (%d of them are claimed by this process)", n, low, high, claimedCount())
}

var (
	mu sync.Mutex
	// claimed holds every port this process handed out, with its lock file open (and
	// locked) until the process ends. A nil file: the lock directory is unusable and
	// the claim holds within this process only.
	claimed = map[int]*os.File{}
)

func claimedCount() int {
	mu.Lock()
	defer mu.Unlock()
	return len(claimed)
}

// claimBlock claims ports base..base+n-1 if none is claimed by this or another process
// and each can be bound now; otherwise it claims none.
func claimBlock(base, n int) bool {
	mu.Lock()
	defer mu.Unlock()
	var got []int
	release := func() {
		for _, p := range got {
			if f := claimed[p]; f != nil {
				_ = f.Close() // closing the file drops its lock
			}
			delete(claimed, p)
		}
	}
	for p := base; p < base+n; p++ {
		if _, ok := claimed[p]; ok {
			release()
			return false
		}
		f, ok := lockPort(p)
		if !ok {
			release()
			return false
		}
		claimed[p] = f
		got = append(got, p)
		if !bindable(p) {
			release()
			return false
		}
	}
	return true
}

// lockDir holds one lock file per port; the files stay, the locks go with their process.
var lockDir = sync.OnceValue(func() string {
	dir := filepath.Join(os.TempDir(), "serverless-architect-porttest")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return ""
	}
	return dir
})

func bindable(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
