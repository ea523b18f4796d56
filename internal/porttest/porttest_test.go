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
	// Handed out once: the same block, or one overlapping it, is not handed out again,
	// though nothing listens on it yet.
	if claimBlock(base, 16) || claimBlock(base+15, 1) || claimBlock(base-3, 4) {
		t.Errorf("a port of the block %d..%d was handed out twice", base, base+15)
	}
}

func TestBoundPortIsNotClaimed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	if claimBlock(p, 1) {
		t.Fatalf("port %d, which holds a listener, was claimed", p)
	}
	// A failed claim of a block leaves none of its ports claimed.
	if claimBlock(p-2, 3) {
		t.Fatalf("block %d..%d, whose last port holds a listener, was claimed", p-2, p)
	}
	mu.Lock()
	_, a := claimed[p-2]
	_, b := claimed[p-1]
	mu.Unlock()
	if a || b {
		t.Errorf("a failed claim kept ports %d (%v) and %d (%v)", p-2, a, p-1, b)
	}
}
