package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testKey = bytes.Repeat([]byte("k"), 32)

// fakeCache records what a Node applied.
type fakeCache struct {
	mu      sync.Mutex
	items   []Item
	flushes int
}

func (c *fakeCache) Invalidate(it Item) {
	c.mu.Lock()
	c.items = append(c.items, it)
	c.mu.Unlock()
}

func (c *fakeCache) Flush() {
	c.mu.Lock()
	c.flushes++
	c.mu.Unlock()
}

func (c *fakeCache) has(it Item) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.items, it)
}

func (c *fakeCache) flushed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushes
}

// replica is a Node behind a real HTTP server on loopback, whose network can be cut.
type replica struct {
	addr  string
	node  *Node
	cache *fakeCache
	cut   atomic.Bool // refuse every connection's requests, as a partition would
	srv   *http.Server
	ln    net.Listener
}

func newReplica(t *testing.T, ln net.Listener, window, grace time.Duration) *replica {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	r := &replica{addr: ln.Addr().String(), cache: &fakeCache{}, ln: ln}
	n, err := New(Options{
		Key: testKey, Window: window, Grace: grace, Cache: r.cache,
		IsSelf: func(a string) bool { return a == r.addr },
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.node = n
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.cut.Load() {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		n.Handler().ServeHTTP(w, req)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	go n.Run(ctx)
	t.Cleanup(func() {
		cancel()
		r.stop()
	})
	return r
}

// stop ends the replica without a goodbye, as a crash would.
func (r *replica) stop() {
	r.node.mu.Lock()
	streams := make([]*stream, 0, len(r.node.streams))
	for _, s := range r.node.streams {
		streams = append(streams, s)
	}
	r.node.closed = true
	r.node.mu.Unlock()
	for _, s := range streams {
		s.abort()
		<-s.done
	}
	_ = r.srv.Close()
}

func members(rs ...*replica) []Member {
	var ms []Member
	for _, r := range rs {
		ms = append(ms, Member{Addr: r.addr, Ready: true})
	}
	return ms
}

// eventually waits for cond, failing the test with what after 10 s (a bound for a
// stuck test, not a speed check).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// pair starts two replicas that list each other and waits until a hears from b.
func pair(t *testing.T, window, grace time.Duration) (a, b *replica) {
	t.Helper()
	a, b = newReplica(t, nil, window, grace), newReplica(t, nil, window, grace)
	a.node.SetMembers(members(a, b))
	b.node.SetMembers(members(a, b))
	eventually(t, "coherent", func() bool { return a.node.Coherent() && b.node.Coherent() })
	return a, b
}

func TestFanOut(t *testing.T) {
	a := newReplica(t, nil, time.Second, 2*time.Second)
	b := newReplica(t, nil, time.Second, 2*time.Second)
	c := newReplica(t, nil, time.Second, 2*time.Second)
	all := members(a, b, c)
	for _, r := range []*replica{a, b, c} {
		if r.node.Coherent() != true {
			t.Fatal("a replica that knows no peers yet must allow hits (a single replica)")
		}
		r.node.SetMembers(all)
		if r.node.Coherent() {
			t.Fatal("a replica whose peers have not been heard from must not allow hits")
		}
		if err := r.node.Ready(context.Background()); err != nil {
			t.Fatalf("ready: %v", err)
		}
	}
	for _, r := range []*replica{a, b, c} {
		eventually(t, "every replica heard from every peer", r.node.Coherent)
		if got := r.node.Live(); got != 3 {
			t.Errorf("%s: live = %d, want 3", r.addr, got)
		}
	}
	it := Item{Identity: "alice", Prefix: "/v1/todos"}
	a.node.Publish(it)
	eventually(t, "b and c applied alice's invalidation", func() bool { return b.cache.has(it) && c.cache.has(it) })
	if a.cache.has(it) {
		t.Error("the writer applied its own invalidation from the network; it applies it locally before publishing")
	}
	for _, r := range []*replica{a, b, c} {
		if n := r.cache.flushed(); n != 0 {
			t.Errorf("%s flushed %d times; nothing was missed", r.addr, n)
		}
	}
}

func TestPartitionServesUncachedThenCatchesUp(t *testing.T) {
	const window = 300 * time.Millisecond
	a, b := pair(t, window, time.Minute)

	a.cut.Store(true) // b's messages no longer reach a
	it := Item{Identity: "bob", Prefix: "/v1/todos"}
	b.node.Publish(it)
	eventually(t, "a's lease from b ran out", func() bool { return !a.node.Coherent() })
	if a.cache.has(it) {
		t.Fatal("a applied an invalidation it cannot have received")
	}
	eventually(t, "a counts b out (live 1)", func() bool { return a.node.Live() == 1 })

	a.cut.Store(false)
	eventually(t, "a caught up with b", func() bool { return a.node.Coherent() && a.cache.has(it) })
	if n := a.cache.flushed(); n != 0 {
		t.Errorf("a flushed %d times; the stream delivered everything in order", n)
	}
}

func TestRestartedPeerFlushes(t *testing.T) {
	a, b := pair(t, time.Second, time.Minute)

	// b crashes and a new process takes its address: what the old one had not sent
	// is lost, so a must drop its cache before trusting b again.
	b.stop()
	b2 := newReplica(t, listenOn(t, b.addr), time.Second, time.Minute)
	b2.node.SetMembers(members(a, b2))
	eventually(t, "a heard from the new b", func() bool { return a.cache.flushed() == 1 && a.node.Coherent() })
}

func TestGoodbyeNeedsNoFlush(t *testing.T) {
	a, b := pair(t, time.Second, time.Minute)
	it := Item{Identity: "carol", Prefix: "/v1/todos"}
	b.node.Publish(it)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.node.Close(ctx)
	if !a.cache.has(it) {
		t.Error("b's last invalidation was not delivered before its goodbye")
	}
	// Still listed (the membership lags), but gone cleanly: a may answer from its cache.
	if !a.node.Coherent() {
		t.Error("a replica that said goodbye still holds up the others")
	}
	a.node.SetMembers(members(a))
	a.node.mu.Lock()
	a.node.sweep(time.Now().Add(2 * time.Minute))
	a.node.mu.Unlock()
	if n := a.cache.flushed(); n != 0 {
		t.Errorf("a flushed %d times after a clean goodbye", n)
	}
}

func TestCrashedPeerFlushesAfterGrace(t *testing.T) {
	a, b := pair(t, 200*time.Millisecond, 400*time.Millisecond)
	b.stop()
	a.node.SetMembers(members(a)) // b left the membership without a goodbye
	if n := a.cache.flushed(); n != 0 {
		t.Fatalf("flushed at once (%d); b may still be finishing requests", n)
	}
	eventually(t, "a's lease from b ran out", func() bool { return !a.node.Coherent() })
	eventually(t, "a gave b up and flushed", func() bool { return a.cache.flushed() == 1 && a.node.Coherent() })
}

func TestJoinReplaysTheLog(t *testing.T) {
	a := newReplica(t, nil, time.Second, time.Minute)
	a.node.SetMembers(members(a))
	it := Item{Identity: "dave", Prefix: "/v1/todos"}
	a.node.Publish(it) // before a knows c

	c := newReplica(t, nil, time.Second, time.Minute)
	c.node.SetMembers(members(a, c))
	a.node.SetMembers(members(a, c))
	eventually(t, "c got a's log", func() bool { return c.cache.has(it) && c.node.Coherent() })
	if n := c.cache.flushed(); n != 0 {
		t.Errorf("c flushed %d times; a's log was complete", n)
	}
}

func TestQueueOverflowSendsFlush(t *testing.T) {
	a, b := pair(t, 300*time.Millisecond, time.Minute)
	b.node.o.QueueSize = 4
	a.cut.Store(true)
	eventually(t, "b cannot reach a", func() bool { return !a.node.Coherent() })
	for i := range 10 {
		b.node.Publish(Item{Identity: string(rune('a' + i)), Prefix: "/v1/todos"})
	}
	a.cut.Store(false)
	eventually(t, "a flushed instead of the lost items", func() bool { return a.cache.flushed() == 1 && a.node.Coherent() })
}

func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old server's socket may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// post sends body to n's handler signed with key.
func post(n *Node, key, body []byte) int {
	req := httptest.NewRequest("POST", Path, bytes.NewReader(body))
	if key != nil {
		req.Header.Set(SignatureHeader, sign(key, body))
	}
	w := httptest.NewRecorder()
	n.Handler().ServeHTTP(w, req)
	return w.Code
}

func TestMessagesAreAuthenticated(t *testing.T) {
	now := time.Now()
	cache := &fakeCache{}
	n, err := New(Options{Key: testKey, Window: time.Second, Grace: time.Minute, Cache: cache,
		IsSelf: func(a string) bool { return a == "10.0.0.1:9465" }, Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n.SetMembers([]Member{{Addr: "10.0.0.1:9465", Ready: true}, {Addr: "10.0.0.2:9465", Ready: true}})
	msg := func(m message) []byte {
		b, _ := json.Marshal(m)
		return b
	}
	hello := message{From: "10.0.0.2:9465", To: "10.0.0.1:9465", Epoch: "e", Stream: "s", Sent: now.UnixNano(),
		Hello: &hello{Since: now.UnixNano(), Complete: true}, Items: []Item{{"mallory", "/v1/todos"}}}
	for _, tc := range []struct {
		name string
		key  []byte
		body []byte
		want int
	}{
		{"no signature", nil, msg(hello), 401},
		{"another key", bytes.Repeat([]byte("x"), 32), msg(hello), 401},
		{"for another replica", testKey, msg(func() message { m := hello; m.To = "10.0.0.3:9465"; return m }()), 421},
		{"sent too long ago", testKey, msg(func() message { m := hello; m.Sent = now.Add(-2 * time.Second).UnixNano(); return m }()), 400},
		{"from the future", testKey, msg(func() message { m := hello; m.Sent = now.Add(2 * time.Second).UnixNano(); return m }()), 400},
		{"not a hello on an unknown stream", testKey, msg(func() message { m := hello; m.Hello = nil; return m }()), 409},
		{"not json", testKey, []byte("{"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(n, tc.key, tc.body); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			if len(cache.items) != 0 {
				t.Errorf("applied %v", cache.items)
			}
		})
	}
	if got := post(n, testKey, msg(hello)); got != 200 {
		t.Fatalf("a good hello: %d", got)
	}
	if got := post(n, testKey, msg(hello)); got != 200 || len(cache.items) != 1 {
		t.Errorf("a replayed message: %d, %d items applied; want 200 and applied once", got, len(cache.items))
	}
	next := hello
	next.Hello, next.Seq, next.Items = nil, 2, nil
	if got := post(n, testKey, msg(next)); got != 409 {
		t.Errorf("a message after a gap: %d, want 409", got)
	}
}

func TestNeedFlush(t *testing.T) {
	start := time.Unix(1000, 0)
	n := &Node{o: Options{Window: time.Second}, lastFlush: start}
	at := func(d time.Duration) int64 { return start.Add(d).UnixNano() }
	for _, tc := range []struct {
		name string
		st   peerState
		msg  message
		want bool
	}{
		{"first contact, complete log", peerState{}, message{Epoch: "e1", Hello: &hello{Since: at(time.Hour), Complete: true}}, false},
		{"first contact, log from before this replica's start", peerState{}, message{Epoch: "e1", Hello: &hello{Since: at(-time.Hour)}}, false},
		{"first contact, cut log after this replica's start", peerState{}, message{Epoch: "e1", Hello: &hello{Since: at(time.Minute)}}, true},
		{"first contact, cut log within the clock allowance", peerState{}, message{Epoch: "e1", Hello: &hello{Since: at(time.Second / 2)}}, true},
		{"same process reopens, log covers the old stream", peerState{epoch: "e1", stream: "s1", lastSent: at(time.Minute)}, message{Epoch: "e1", Hello: &hello{Since: at(30 * time.Second)}}, false},
		{"same process reopens, log cut after the old stream", peerState{epoch: "e1", stream: "s1", lastSent: at(time.Minute)}, message{Epoch: "e1", Hello: &hello{Since: at(2 * time.Minute)}}, true},
		{"restarted process, old stream unclean", peerState{epoch: "e1", stream: "s1", lastSent: at(time.Minute)}, message{Epoch: "e2", Hello: &hello{Since: at(2 * time.Minute), Complete: true}}, true},
		{"restarted process after a goodbye", peerState{epoch: "e1", stream: "s1", lastSent: at(time.Minute), bye: true}, message{Epoch: "e2", Hello: &hello{Since: at(2 * time.Minute), Complete: true}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.needFlush(&tc.st, &tc.msg); got != tc.want {
				t.Errorf("needFlush = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNormalizeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:9465":        "127.0.0.1:9465",
		" 10.1.2.3:80 ":         "10.1.2.3:80",
		"[::ffff:10.1.2.3]:80":  "10.1.2.3:80",
		"[fd00::1]:9465":        "[fd00::1]:9465",
		"[FD00:0:0::1]:9465":    "[fd00::1]:9465",
		"localhost:9465":        "",
		"10.1.2.3":              "",
		"10.1.2.3:0":            "",
		"http://10.1.2.3:9465/": "",
	} {
		got, err := NormalizeAddr(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("NormalizeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestLogKeepsEachItemOnce(t *testing.T) {
	n, err := New(Options{Key: testKey, Window: time.Second, Grace: time.Minute, Cache: &fakeCache{}, IsSelf: func(string) bool { return false }, LogSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c, d := Item{"a", "/p"}, Item{"b", "/p"}, Item{"c", "/p"}, Item{"d", "/p"}
	for _, it := range []Item{a, b, a, a, c} {
		n.Publish(it)
	}
	for range 1000 {
		n.Publish(c)
	}
	items, h := n.logSnapshot()
	if !slices.Equal([]Item{b, a, c}, items) || !h.Complete {
		t.Fatalf("log %v (complete %v), want [b a c] complete: a repeated item is one entry", items, h.Complete)
	}
	n.Publish(d)
	items, h = n.logSnapshot()
	if !slices.Equal([]Item{a, c, d}, items) || h.Complete {
		t.Fatalf("log %v (complete %v), want [a c d] cut: b, the least recent, was dropped", items, h.Complete)
	}
}
