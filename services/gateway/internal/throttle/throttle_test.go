package throttle

import (
	"sync"
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, err := New(Options{MaxKeys: 10, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lim := Limit{Rate: 2, Burst: 3}
	for i := range 3 {
		if _, _, ok := l.Take("alice", lim); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	_, wait, ok := l.Take("alice", lim)
	if ok {
		t.Fatal("request over the burst allowed")
	}
	if wait != 500*time.Millisecond {
		t.Errorf("wait = %s, want 500ms (one token at 2/s)", wait)
	}
	if _, _, ok := l.Take("bob", lim); !ok {
		t.Error("bob was refused for alice's burst")
	}
	mu.Lock()
	now = now.Add(wait)
	mu.Unlock()
	res, _, ok := l.Take("alice", lim)
	if !ok {
		t.Fatal("refused after waiting the time given")
	}
	res.Cancel()
	if _, _, ok := l.Take("alice", lim); !ok {
		t.Error("a cancelled token was not given back")
	}
}
