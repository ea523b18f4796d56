package porttest

import (
	"fmt"
	"net"
	"testing"
)

func TestBlock(t *testing.T) {
	base := Block(t, 16)
	if base < 10000 || base+16 > 32768 {
		t.Fatalf("block %d..%d is not below the ephemeral range", base, base+15)
	}
	for p := base; p < base+16; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d of the block is not free: %v", p, err)
		}
		l.Close()
	}
	// A block that holds a listener is not free.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+3))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if blockFree(base, 16) {
		t.Errorf("a block with port %d in use was reported free", base+3)
	}
}
