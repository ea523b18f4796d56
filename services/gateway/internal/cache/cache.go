// Package cache is the gateway's response cache: entries keyed by Key, bounded in count
// and bytes by github.com/maypok86/otter/v2 (W-TinyLFU eviction, per-entry TTL), with
// per-caller invalidation of a resource prefix and coalescing of concurrent identical
// misses.
//
// Invalidation works by watermarks rather than by finding entries: every entry records
// the sequence number taken when its upstream fetch began; a write by a caller under a
// prefix raises the watermark of the (caller, prefix) scope to a new sequence number;
// an entry whose number is not above its scope's watermark is stale. That costs O(1)
// per write, covers fetches that were in flight during the write, and needs no index of
// entries. Watermarks live in a fixed array indexed by a hash of the scope: two scopes
// that share a slot invalidate each other's entries too often, never too seldom.
package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// MaxBodyBytes is the largest response body the cache stores.
const MaxBodyBytes = 1 << 20

// EntryOverhead is the memory an entry costs besides its key, body and headers (the
// otter node, the Entry struct, header map buckets), counted in its size so that the
// byte bound covers what the process really holds.
const EntryOverhead = 768

// watermarkSlots is the size of the watermark array (8 bytes each).
const watermarkSlots = 1 << 16

// Entry is a stored response.
type Entry struct {
	// Status is the response status.
	Status int
	// Header holds the response headers to replay; callers must not modify it.
	Header http.Header
	// Body is the whole response body.
	Body []byte
	// Vary names the request headers the response varies by (canonical names), and
	// VaryValues the values they had in the request that fetched it.
	Vary       []string
	VaryValues []string
	// Encodings are compressed copies of Body (brotli, gzip), smallest first; empty
	// when the body is not compressed.
	Encodings []Encoded
	// Stored is when the entry was stored; Expires when it stops being served without
	// revalidation; Retain when the cache drops it (at or after Expires: a stale entry
	// with a validator is kept so it can be revalidated).
	Stored  time.Time
	Expires time.Time
	Retain  time.Time

	seq  uint64
	slot uint32
	size int64
}

// Encoded is a compressed copy of an entry's body.
type Encoded struct {
	// Coding is the Content-Encoding token ("br", "gzip").
	Coding string
	// Body is the compressed body.
	Body []byte
}

// Size is the number of bytes the entry is accounted for.
func (e *Entry) Size() int64 { return e.size }

// Scope is a (caller, resource prefix) pair whose entries a write invalidates, as a
// precomputed slot.
type Scope uint32

// Options configure a Store.
type Options struct {
	// MaxEntries bounds the number of entries.
	MaxEntries int
	// MaxBytes bounds the bytes of all entries (Entry.Size).
	MaxBytes int64
	// OnEvict, when set, is called for every entry the cache drops because it is full
	// (cause "size") or expired (cause "expired").
	OnEvict func(cause string)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Store is the response cache. It is safe for concurrent use.
type Store struct {
	c          *otter.Cache[string, *Entry]
	now        func() time.Time
	seed       maphash.Seed
	seq        atomic.Uint64
	floor      atomic.Uint64 // entries fetched before the last Flush are stale
	watermarks []atomic.Uint64
	bytes      atomic.Int64
	minWeight  uint32

	mu      sync.Mutex
	flights map[string]*Flight
}

// New returns an empty Store.
func New(o Options) (*Store, error) {
	if o.MaxEntries < 1 {
		return nil, errors.New("cache: the maximum number of entries must be at least 1")
	}
	if o.MaxBytes < MaxBodyBytes {
		return nil, errors.New("cache: the maximum size must be at least 1 MiB")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{
		now:        o.Now,
		seed:       maphash.MakeSeed(),
		watermarks: make([]atomic.Uint64, watermarkSlots),
		flights:    map[string]*Flight{},
	}
	// otter bounds either weight or count; weighing every entry at least
	// MaxBytes/MaxEntries makes the weight bound imply the count bound.
	s.minWeight = uint32(min(o.MaxBytes/int64(o.MaxEntries), 1<<31))
	c, err := otter.New(&otter.Options[string, *Entry]{
		MaximumWeight: uint64(o.MaxBytes),
		Weigher: func(_ string, e *Entry) uint32 {
			return max(uint32(e.size), s.minWeight)
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			return e.Value.Retain.Sub(e.Value.Stored)
		}),
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *Entry]) {
			s.bytes.Add(-e.Value.size)
		},
		OnDeletion: func(e otter.DeletionEvent[string, *Entry]) {
			if o.OnEvict == nil {
				return
			}
			switch e.Cause {
			case otter.CauseOverflow:
				o.OnEvict("size")
			case otter.CauseExpiration:
				o.OnEvict("expired")
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.c = c
	return s, nil
}

// Scope returns the invalidation scope of identity's entries under prefix.
func (s *Store) Scope(identity, prefix string) Scope {
	var h maphash.Hash
	h.SetSeed(s.seed)
	_, _ = h.WriteString(identity)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(prefix)
	return Scope(h.Sum64() % watermarkSlots)
}

// Begin is called before an upstream fetch whose response may be stored; the number
// it returns goes to Put.
func (s *Store) Begin() uint64 { return s.seq.Add(1) }

// Invalidate makes every entry of scope that was fetched before now stale.
func (s *Store) Invalidate(scope Scope) {
	n := s.seq.Add(1)
	w := &s.watermarks[scope]
	for {
		old := w.Load()
		if old >= n || w.CompareAndSwap(old, n) {
			return
		}
	}
}

// Flush makes every entry fetched before now stale, in O(1): a replica that may have
// missed a peer's invalidations drops everything it holds.
func (s *Store) Flush() {
	n := s.seq.Add(1)
	for {
		old := s.floor.Load()
		if old >= n || s.floor.CompareAndSwap(old, n) {
			return
		}
	}
}

// Get returns the fresh entry under key, if any.
func (s *Store) Get(key string) (*Entry, bool) {
	e, ok := s.c.GetIfPresent(key)
	if !ok || !s.Fresh(e) {
		return nil, false
	}
	return e, true
}

// Peek returns the entry under key, fresh or stale (for revalidation), if the cache
// still holds it.
func (s *Store) Peek(key string) (*Entry, bool) {
	return s.c.GetIfPresent(key)
}

// Fresh reports whether e may still be served: not expired, and fetched after the last
// invalidation of its scope and the last Flush.
func (s *Store) Fresh(e *Entry) bool {
	return e != nil && s.now().Before(e.Expires) && e.seq > s.watermarks[e.slot].Load() && e.seq > s.floor.Load()
}

// Put stores e under key for ttl, unless its scope was invalidated since begin (the
// value Begin returned before the fetch) or its body is too large. It returns whether
// the entry was stored.
func (s *Store) Put(key string, scope Scope, begin uint64, ttl time.Duration, e *Entry) bool {
	if ttl <= 0 {
		return false
	}
	return s.PutFor(key, scope, begin, ttl, ttl, e)
}

// PutFor is Put for a shared cache: e is served for fresh (0: revalidated on every
// request) and held for keep (at least fresh, above 0) so that it can be revalidated.
func (s *Store) PutFor(key string, scope Scope, begin uint64, fresh, keep time.Duration, e *Entry) bool {
	if len(e.Body) > MaxBodyBytes || fresh < 0 || keep <= 0 || keep < fresh {
		return false
	}
	e.seq, e.slot = begin, uint32(scope)
	e.Stored = s.now()
	e.Expires = e.Stored.Add(fresh)
	e.Retain = e.Stored.Add(keep)
	if e.seq <= s.watermarks[e.slot].Load() || e.seq <= s.floor.Load() {
		return false
	}
	size := int64(len(key)+len(e.Body)) + EntryOverhead
	for _, enc := range e.Encodings {
		size += int64(len(enc.Coding)+len(enc.Body)) + 32
	}
	for k, vs := range e.Header {
		size += int64(len(k))
		for _, v := range vs {
			size += int64(len(v)) + 16
		}
	}
	for i := range e.Vary {
		size += int64(len(e.Vary[i]) + len(e.VaryValues[i]))
	}
	e.size = size
	s.bytes.Add(size)
	s.c.Set(key, e)
	return true
}

// Drop removes the entry under key.
func (s *Store) Drop(key string) { s.c.Invalidate(key) }

// DropIf removes every entry whose key match accepts, and returns how many it removed.
// It walks the whole cache: for rare events (a CDN invalidation), never per request.
func (s *Store) DropIf(match func(key string) bool) int {
	var keys []string
	for k := range s.c.Keys() {
		if match(k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		s.c.Invalidate(k)
	}
	return len(keys)
}

// Len is the number of entries held (approximate while maintenance is pending).
func (s *Store) Len() int { return s.c.EstimatedSize() }

// Bytes is the size of the entries held (Entry.Size summed).
func (s *Store) Bytes() int64 { return s.bytes.Load() }

// CleanUp runs pending maintenance now (evictions, expirations); for tests and
// measurements.
func (s *Store) CleanUp() { s.c.CleanUp() }

// Close stops the cache's background goroutines.
func (s *Store) Close() { s.c.StopAllGoroutines() }

// Flight is an upstream fetch that concurrent identical misses wait for.
type Flight struct {
	done  chan struct{}
	entry *Entry
}

// Join returns the flight for key, and whether the caller leads it: the leader fetches
// and must call Land; the others Wait.
func (s *Store) Join(key string) (*Flight, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.flights[key]; ok {
		return f, false
	}
	f := &Flight{done: make(chan struct{})}
	s.flights[key] = f
	return f, true
}

// Land ends the flight for key with the entry the leader stored (nil when the response
// could not be stored: waiters then fetch for themselves).
func (s *Store) Land(key string, f *Flight, e *Entry) {
	s.mu.Lock()
	if s.flights[key] == f {
		delete(s.flights, key)
	}
	s.mu.Unlock()
	f.entry = e
	close(f.done)
}

// Wait waits for the flight to land and returns its entry, nil when there is none.
func (f *Flight) Wait(ctx context.Context) (*Entry, error) {
	select {
	case <-f.done:
		return f.entry, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
