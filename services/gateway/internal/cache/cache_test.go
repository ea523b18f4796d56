package cache

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newStore(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	s := newStore(t, Options{MaxEntries: 10, MaxBytes: 4 << 20, Now: clk.now})
	sc := s.Scope("u", "/v1/todos")
	if !s.Put("k", sc, s.Begin(), 300*time.Second, &Entry{Status: 200, Body: []byte("x")}) {
		t.Fatal("not stored")
	}
	clk.add(299 * time.Second)
	if _, ok := s.Get("k"); !ok {
		t.Error("entry gone before its TTL")
	}
	clk.add(time.Second)
	if _, ok := s.Get("k"); ok {
		t.Error("entry served after its TTL")
	}
}

func TestTooLarge(t *testing.T) {
	s := newStore(t, Options{MaxEntries: 10, MaxBytes: 4 << 20})
	if s.Put("k", 0, s.Begin(), time.Minute, &Entry{Status: 200, Body: make([]byte, MaxBodyBytes+1)}) {
		t.Error("a body over 1 MiB was stored")
	}
	if !s.Put("k", 0, s.Begin(), time.Minute, &Entry{Status: 200, Body: make([]byte, MaxBodyBytes)}) {
		t.Error("a body of exactly 1 MiB was not stored")
	}
}

func TestInvalidate(t *testing.T) {
	s := newStore(t, Options{MaxEntries: 10, MaxBytes: 4 << 20})
	a, b := s.Scope("alice", "/v1/todos"), s.Scope("bob", "/v1/todos")
	s.Put("a", a, s.Begin(), time.Minute, &Entry{Status: 200})
	s.Put("b", b, s.Begin(), time.Minute, &Entry{Status: 200})

	// A fetch that began before alice's write must not be stored after it.
	inFlight := s.Begin()
	s.Invalidate(a)
	if _, ok := s.Get("a"); ok {
		t.Error("alice's entry survived her write")
	}
	if _, ok := s.Get("b"); !ok && a != b {
		t.Error("bob's entry was dropped by alice's write")
	}
	if s.Put("a2", a, inFlight, time.Minute, &Entry{Status: 200}) {
		t.Error("a response fetched during the write was stored")
	}
	if !s.Put("a3", a, s.Begin(), time.Minute, &Entry{Status: 200}) {
		t.Error("a response fetched after the write was not stored")
	}
}

func TestFlush(t *testing.T) {
	s := newStore(t, Options{MaxEntries: 10, MaxBytes: 4 << 20})
	a, b := s.Scope("alice", "/v1/todos"), s.Scope("bob", "/v1/todos")
	s.Put("a", a, s.Begin(), time.Minute, &Entry{Status: 200})
	s.Put("b", b, s.Begin(), time.Minute, &Entry{Status: 200})
	inFlight := s.Begin()
	s.Flush()
	for _, k := range []string{"a", "b"} {
		if _, ok := s.Get(k); ok {
			t.Errorf("entry %s survived a flush", k)
		}
	}
	if s.Put("b2", b, inFlight, time.Minute, &Entry{Status: 200}) {
		t.Error("a response fetched before the flush was stored")
	}
	if !s.Put("a2", a, s.Begin(), time.Minute, &Entry{Status: 200}) {
		t.Error("a response fetched after the flush was not stored")
	}
	if _, ok := s.Get("a2"); !ok {
		t.Error("an entry stored after the flush is not served")
	}
}

func TestBounds(t *testing.T) {
	for _, c := range []struct {
		name       string
		maxEntries int
		maxBytes   int64
		body       int
	}{
		{"by entries", 100, 64 << 20, 10},
		{"by bytes", 1_000_000, 2 << 20, 10_000},
	} {
		t.Run(c.name, func(t *testing.T) {
			var evicted atomic.Int64
			s := newStore(t, Options{MaxEntries: c.maxEntries, MaxBytes: c.maxBytes, OnEvict: func(string) { evicted.Add(1) }})
			for i := range 2000 {
				s.Put(fmt.Sprint(i), 0, s.Begin(), time.Minute, &Entry{Status: 200, Body: make([]byte, c.body)})
			}
			s.CleanUp()
			if n := s.Len(); n > c.maxEntries {
				t.Errorf("%d entries, the bound is %d", n, c.maxEntries)
			}
			if b := s.Bytes(); b > c.maxBytes {
				t.Errorf("%d bytes, the bound is %d", b, c.maxBytes)
			}
			deadline := time.Now().Add(2 * time.Second)
			for evicted.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if evicted.Load() == 0 {
				t.Error("no eviction was reported")
			}
		})
	}
}

// TestMemory fills a cache with 100,000 distinct keys and checks that the heap grows by
// no more than the configured size plus the stated overhead (EntryOverhead is inside
// the configured size; the fixed overhead is the watermark array and otter's tables).
func TestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 entries")
	}
	const maxBytes = 64 << 20
	const fixedOverhead = 8 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := newStore(t, Options{MaxEntries: 100_000, MaxBytes: maxBytes})
	body := make([]byte, 600)
	for i := range 100_000 {
		key, _ := Key("GET", fmt.Sprintf("/v1/todos/%d", i), "", nil, fmt.Sprintf("user-%d", i%1000))
		s.Put(key, 0, s.Begin(), time.Hour, &Entry{Status: 200, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: append([]byte(nil), body...)})
	}
	s.CleanUp()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("entries %d, accounted %d bytes, heap grew %d bytes (bound %d + %d)", s.Len(), s.Bytes(), grew, maxBytes, fixedOverhead)
	if s.Bytes() > maxBytes {
		t.Errorf("accounted %d bytes, over the bound %d", s.Bytes(), maxBytes)
	}
	if grew > maxBytes+fixedOverhead {
		t.Errorf("heap grew %d bytes, over %d + %d", grew, maxBytes, fixedOverhead)
	}
	runtime.KeepAlive(s)
}

func TestFlight(t *testing.T) {
	s := newStore(t, Options{MaxEntries: 10, MaxBytes: 4 << 20})
	f, leader := s.Join("k")
	if !leader {
		t.Fatal("first joiner does not lead")
	}
	var wg sync.WaitGroup
	got := make([]*Entry, 5)
	for i := range got {
		f2, lead := s.Join("k")
		if lead {
			t.Fatal("second joiner leads")
		}
		wg.Go(func() { got[i], _ = f2.Wait(context.Background()) })
	}
	e := &Entry{Status: 200}
	s.Land("k", f, e)
	wg.Wait()
	for i, g := range got {
		if g != e {
			t.Errorf("waiter %d got %v", i, g)
		}
	}
	if _, lead := s.Join("k"); !lead {
		t.Error("a landed flight is still joined")
	}
}
