// Package peer keeps the response caches of the gateway's replicas coherent. Hits stay
// local; a write invalidates the writer's entries on the replica that carried it, and
// that replica sends the invalidation to every peer, in order, on a stream of signed
// messages (HMAC-SHA256 with a key shared by the replicas) that also carries a
// heartbeat. A replica serves from its cache only while it holds a lease from every
// peer: a message sent less than Window ago. A replica that has not heard from a peer
// within Window serves uncached until the stream catches up, so a write is seen
// everywhere within Window even when a peer cannot be reached.
//
// Restarts, joins and partitions are handled by three rules (services/gateway/README.md
// gives the whole argument):
//
//   - Every stream opens with a hello carrying the sender's log of recent
//     invalidations and how far back it is complete; a receiver that cannot prove the
//     log covers everything it may have missed (a sender that restarted, a log that
//     was cut) drops its whole cache (Flush) before it uses the stream.
//   - A sender whose queue for a peer overflows sends a flush instead of the items.
//   - A peer that leaves the membership without a clean goodbye is waited for until
//     Grace has passed since it was last heard from (it may still be finishing
//     requests), and then the cache is flushed.
//
// The membership comes from a Source: a fixed list (the local stack) or the
// EndpointSlices of the gateway's Service (package peer/kube).
package peer

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cache is what a Node applies its peers' invalidations to.
type Cache interface {
	// Invalidate makes the entries of it.Identity under it.Prefix that were fetched
	// before now stale.
	Invalidate(it Item)
	// Flush makes every entry fetched before now stale.
	Flush()
}

// Member is one replica the membership lists.
type Member struct {
	// Addr is its peer address, ip:port.
	Addr string
	// Ready is false for a replica that does not take requests yet (or any more).
	Ready bool
}

// Options configure a Node.
type Options struct {
	// Key is the shared key messages are signed with (at least 32 bytes).
	Key []byte
	// Window bounds how long a write may go unseen by a replica: a replica serves
	// hits only while every peer's last message was sent less than Window ago.
	Window time.Duration
	// Grace is how long a peer that left the membership without a goodbye is waited
	// for (since it was last heard from) before the cache is flushed and the peer
	// forgotten; at least the time a replica may still finish requests after it left
	// (drain delay + shutdown timeout).
	Grace time.Duration
	// IsSelf reports whether a member address is this replica's own.
	IsSelf func(addr string) bool
	// Cache receives the peers' invalidations.
	Cache Cache
	// Log receives the Node's messages.
	Log *slog.Logger
	// Client sends messages; one with sensible timeouts when nil.
	Client *http.Client
	// Registerer, when set, receives the Node's Prometheus series.
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// LogSize bounds the log of recent invalidations a hello carries (maxItems
	// when 0).
	LogSize int
	// QueueSize bounds the invalidations waiting for one peer before they collapse
	// into a flush (maxItems when 0).
	QueueSize int
}

// Node is this replica's side of the protocol: it sends this replica's invalidations
// to its peers, receives theirs, and says whether the cache may answer now.
type Node struct {
	o       Options
	epoch   string
	started time.Time
	client  *http.Client
	m       *metrics

	// until is the end of the shortest lease, Unix nanoseconds: hits are allowed
	// before it. live is 1 + the peers whose lease runs.
	until atomic.Int64
	live  atomic.Int64
	known atomic.Bool // a membership was received

	mu        sync.Mutex
	self      string
	members   map[string]bool // ready peers, self excluded
	peers     map[string]*peerState
	streams   map[string]*stream
	log       *list.List             // of *logEntry, least recently invalidated first
	logIndex  map[Item]*list.Element // each item's entry
	logSince  int64                  // the log is complete from here (sender clock)
	logCut    bool                   // entries were dropped: the log no longer reaches back to the start
	lastFlush time.Time
	closed    bool

	stop chan struct{}
	done chan struct{}
}

type logEntry struct {
	at   int64
	item Item
}

// peerState is what this replica knows about the stream a peer sends it.
type peerState struct {
	member   bool
	leftAt   time.Time // when it left the membership (zero while a member)
	lastRecv time.Time // when its last message arrived (zero: never)
	epoch    string
	stream   string
	next     uint64 // the next Seq expected
	lastSent int64  // Sent of the last message applied (sender clock)
	until    int64  // its lease ends, Unix nanoseconds
	bye      bool   // the stream ended cleanly
	retired  []string
	warned   bool // the operator was told the lease ran out
}

// New returns a Node; Run starts its housekeeping and Handler receives its peers'
// messages. With no members it allows hits (a single replica).
func New(o Options) (*Node, error) {
	switch {
	case len(o.Key) < 32:
		return nil, fmt.Errorf("the peer key must be at least 32 bytes, got %d", len(o.Key))
	case o.Window <= 0:
		return nil, errors.New("the peer window must be positive")
	case o.Grace < o.Window:
		return nil, fmt.Errorf("the peer grace (%s) must be at least the window (%s)", o.Grace, o.Window)
	case o.Cache == nil || o.IsSelf == nil:
		return nil, errors.New("peer: Cache and IsSelf are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LogSize <= 0 || o.LogSize > maxItems {
		o.LogSize = maxItems
	}
	if o.QueueSize <= 0 {
		o.QueueSize = maxItems
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: o.Window / 2, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}}
	}
	var e [16]byte
	_, _ = rand.Read(e[:])
	now := o.Now()
	n := &Node{
		o: o, epoch: hex.EncodeToString(e[:]), started: now, client: client, m: newMetrics(o.Registerer),
		members: map[string]bool{}, peers: map[string]*peerState{}, streams: map[string]*stream{}, log: list.New(), logIndex: map[Item]*list.Element{},
		logSince: now.UnixNano(), lastFlush: now,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	n.until.Store(math.MaxInt64)
	n.live.Store(1)
	return n, nil
}

// Coherent reports whether the cache may answer now: every peer's lease runs.
func (n *Node) Coherent() bool { return n.o.Now().UnixNano() < n.until.Load() }

// Live is the number of replicas known to be up: this one and every peer whose lease
// runs (counted on every message and every quarter window). Throttling divides the
// configured limits by it.
func (n *Node) Live() int { return int(n.live.Load()) }

// Ready reports an error until the first membership arrived and named this replica:
// before that it cannot tell its peers about its writes.
func (n *Node) Ready(context.Context) error {
	if !n.known.Load() {
		return errors.New("waiting for the list of gateway replicas")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.self == "" {
		return errors.New("this replica is not in the list of gateway replicas yet")
	}
	return nil
}

// Publish sends the invalidations of a write to every peer. Call it after they were
// applied locally; it does not wait for the peers.
func (n *Node) Publish(items ...Item) {
	if len(items) == 0 {
		return
	}
	at := n.o.Now().UnixNano()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, it := range items {
		n.appendLog(at, it)
	}
	for _, s := range n.streams {
		s.enqueue(items)
	}
	n.m.published.Add(float64(len(items)))
}

// appendLog records it in the log; n.mu is held. An item already in the log moves to
// the newest end, so the log holds each item once, with its last time. When it is
// full the least recently invalidated item goes, and the log then starts after it.
func (n *Node) appendLog(at int64, it Item) {
	if e, ok := n.logIndex[it]; ok {
		e.Value.(*logEntry).at = at
		n.log.MoveToBack(e)
		return
	}
	if n.log.Len() >= n.o.LogSize {
		old := n.log.Remove(n.log.Front()).(*logEntry)
		delete(n.logIndex, old.item)
		n.logSince = old.at + 1
		n.logCut = true
	}
	n.logIndex[it] = n.log.PushBack(&logEntry{at: at, item: it})
}

// SetMembers replaces the membership: every replica of the gateway, this one
// included. Peers that are ready get a stream; peers that left are waited for (Grace)
// unless they said goodbye.
func (n *Node) SetMembers(ms []Member) {
	now := n.o.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	ready := map[string]bool{}
	for _, m := range ms {
		addr, err := NormalizeAddr(m.Addr)
		if err != nil {
			n.o.Log.Warn("ignoring a gateway replica with a bad address", "addr", m.Addr, "err", err)
			continue
		}
		if n.o.IsSelf(addr) {
			if n.self != addr {
				n.o.Log.Info("this replica's peer address", "addr", addr)
			}
			n.self = addr
			continue
		}
		if m.Ready {
			ready[addr] = true
		}
	}
	for addr := range ready {
		st := n.peers[addr]
		if st == nil {
			st = &peerState{}
			n.peers[addr] = st
			n.o.Log.Info("gateway replica joined", "peer", addr)
		}
		st.member, st.leftAt = true, time.Time{}
		if n.streams[addr] == nil && n.self != "" {
			n.streams[addr] = n.startStream(addr)
		}
	}
	for addr := range n.members {
		if ready[addr] {
			continue
		}
		if s := n.streams[addr]; s != nil {
			s.abort()
			delete(n.streams, addr)
		}
		if st := n.peers[addr]; st != nil {
			st.member, st.leftAt = false, now
			n.o.Log.Info("gateway replica left", "peer", addr, "saidGoodbye", st.bye)
		}
	}
	n.members = ready
	n.known.Store(true)
	n.recompute(now)
}

// Run does the Node's housekeeping until ctx ends or Close is called: leases that ran
// out, peers that left, gauges.
func (n *Node) Run(ctx context.Context) {
	defer close(n.done)
	t := time.NewTicker(n.heartbeat())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.stop:
			return
		case <-t.C:
			n.mu.Lock()
			n.sweep(n.o.Now())
			n.mu.Unlock()
		}
	}
}

// heartbeat is how often a stream with nothing to send says it is alive: four beats
// per window, so that three may be lost before a lease runs out.
func (n *Node) heartbeat() time.Duration { return n.o.Window / 4 }

// sweep forgets peers that left more than Grace ago (flushing unless they said
// goodbye), warns about leases that ran out, and recomputes the leases.
func (n *Node) sweep(now time.Time) {
	for addr, st := range n.peers {
		if st.member {
			if !st.bye && st.until <= now.UnixNano() && !st.warned && now.Sub(n.started) > n.o.Window {
				st.warned = true
				n.o.Log.Warn("no word from a gateway replica within the peer window: serving uncached until it is heard from again", "peer", addr, "window", n.o.Window.String(), "lastHeard", st.lastRecv)
			}
			continue
		}
		last := st.leftAt
		if st.lastRecv.After(last) {
			last = st.lastRecv
		}
		if now.Sub(last) < n.o.Grace {
			continue
		}
		delete(n.peers, addr)
		if !st.bye && !st.lastRecv.IsZero() {
			n.flushLocked(now, "gateway replica %s left without saying goodbye", addr)
		}
	}
	n.recompute(now)
}

// recompute sets the shortest lease and the live count from the peers' states.
func (n *Node) recompute(now time.Time) {
	until, live := int64(math.MaxInt64), int64(1)
	for _, st := range n.peers {
		if st.bye {
			continue
		}
		until = min(until, st.until)
		if st.until > now.UnixNano() {
			live++
		}
	}
	n.until.Store(until)
	n.live.Store(live)
	n.m.live.Set(float64(live))
	if until > now.UnixNano() {
		n.m.coherent.Set(1)
	} else {
		n.m.coherent.Set(0)
	}
}

// flushLocked drops the whole cache and says why.
func (n *Node) flushLocked(now time.Time, format string, args ...any) {
	n.o.Cache.Flush()
	n.lastFlush = now
	n.m.flushes.Inc()
	n.o.Log.Warn("response cache flushed: "+fmt.Sprintf(format, args...), "peerWindow", n.o.Window.String())
}

// Close says goodbye to every peer, after sending what is queued, waiting at most
// until ctx ends; then it stops the Node. Call it once the replica has stopped serving.
func (n *Node) Close(ctx context.Context) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	streams := make([]*stream, 0, len(n.streams))
	for _, s := range n.streams {
		streams = append(streams, s)
	}
	n.mu.Unlock()
	for _, s := range streams {
		s.finish()
	}
	for _, s := range streams {
		select {
		case <-s.done:
		case <-ctx.Done():
			s.abort()
		}
	}
	close(n.stop)
}

// IsLocal returns an IsSelf for a replica whose peer port is port: an address is its
// own when its port is port and its IP is one of this machine's (loopback included).
func IsLocal(port int) (func(addr string) bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list this machine's addresses: %w", err)
	}
	local := map[netip.Addr]bool{}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		}
	}
	return func(addr string) bool {
		ap, err := netip.ParseAddrPort(addr)
		return err == nil && int(ap.Port()) == port && (local[ap.Addr().Unmap()] || ap.Addr().IsLoopback())
	}, nil
}
