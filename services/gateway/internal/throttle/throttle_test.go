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

func TestShare(t *testing.T) {
	now := time.Unix(1e9, 0)
	share := 1
	l, err := New(Options{MaxKeys: 10, Now: func() time.Time { return now }, Share: func() int { return share }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lim := Limit{Rate: 10, Burst: 10}
	takes := func(key string) int {
		n := 0
		for {
			if _, _, ok := l.Take(key, lim); !ok {
				return n
			}
			n++
		}
	}
	if got := takes("alone"); got != 10 {
		t.Errorf("one replica: burst %d, want 10", got)
	}
	share = 3
	if got := takes("three"); got != 4 {
		t.Errorf("three replicas: burst %d, want 4 (10/3 rounded up)", got)
	}
	now = now.Add(time.Second)
	if got := takes("three"); got != 3 {
		t.Errorf("three replicas, 1 s later at 10/3 tokens a second: %d, want 3", got)
	}
}

func TestEmpty(t *testing.T) {
	now := time.Unix(1e9, 0)
	l, err := New(Options{MaxKeys: 10, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lim := Limit{Rate: 1, Burst: 2}
	if _, empty := l.Empty("ip", lim); empty {
		t.Fatal("a key never taken from is empty")
	}
	for range 2 {
		if _, _, ok := l.Take("ip", lim); !ok {
			t.Fatal("refused within the burst")
		}
	}
	wait, empty := l.Empty("ip", lim)
	if !empty || wait != time.Second {
		t.Fatalf("after the burst: empty %v, wait %s; want true, 1s", empty, wait)
	}
	if _, empty := l.Empty("ip", lim); !empty {
		t.Fatal("Empty took a token")
	}
	now = now.Add(time.Second)
	if _, empty := l.Empty("ip", lim); empty {
		t.Error("still empty after a token came back")
	}
}
