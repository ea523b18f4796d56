// Package porttest gives tests the loopback ports they start servers and child
// processes on. The ports are taken below Linux's ephemeral range (32768 and up): a
// port found free in the ephemeral range can be taken by any outgoing connection of a
// test running beside it before the child binds it, which fails the bind at random.
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// Block returns the first of n consecutive loopback ports that are free now.
func Block(t testing.TB, n int) int {
	t.Helper()
	base, err := Find(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// Free returns one loopback port that is free now.
func Free(t testing.TB) int {
	t.Helper()
	return Block(t, 1)
}

// Find is Block for code without a testing.TB.
func Find(n int) (int, error) {
	for range 50 {
		base := 10000 + rand.IntN(22000-n)
		if blockFree(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free loopback ports found between 10000 and 32000", n)
}

func blockFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
