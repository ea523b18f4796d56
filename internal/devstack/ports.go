package devstack

import (
	"fmt"
	"math/rand/v2"
	"net"
)

// FreePortBase returns the first of n consecutive loopback ports that are free now,
// for a stack run beside another (Options.PortBase and the ports after it). The block
// is taken below Linux's ephemeral range (32768 and up), where no outgoing connection
// can take one of its ports between this check and the services' binds.
func FreePortBase(n int) (int, error) {
	for range 50 {
		base := 10000 + rand.IntN(22000)
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
