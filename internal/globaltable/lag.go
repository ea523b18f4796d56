package globaltable

import (
	"slices"
	"sync"
	"time"
)

// Lag is the replication lag measured in one direction.
type Lag struct {
	// Count is how many writes were copied.
	Count int
	// P50, P99 and Max are over the latest 1,000 copies.
	P50, P99, Max time.Duration
}

// lagStats keeps the latest lags per direction.
type lagStats struct {
	mu     sync.Mutex
	counts map[string]int
	recent map[string][]time.Duration
}

const lagWindow = 1000

func newLagStats() *lagStats {
	return &lagStats{counts: map[string]int{}, recent: map[string][]time.Duration{}}
}

func (s *lagStats) add(dir string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[dir]++
	r := append(s.recent[dir], d)
	if len(r) > lagWindow {
		r = r[len(r)-lagWindow:]
	}
	s.recent[dir] = r
}

func (s *lagStats) snapshot() map[string]Lag {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Lag, len(s.recent))
	for dir, r := range s.recent {
		sorted := slices.Clone(r)
		slices.Sort(sorted)
		at := func(q float64) time.Duration { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
		out[dir] = Lag{Count: s.counts[dir], P50: at(0.50), P99: at(0.99), Max: sorted[len(sorted)-1]}
	}
	return out
}
