// Package throttle limits request rates the way API Gateway's usage plans do: token
// buckets (golang.org/x/time/rate) per route and per caller of a route. A refused
// request learns when to come back: the time until its bucket holds a token again.
//
// Limits are cluster-wide: with Options.Share reporting n live replicas, each replica
// enforces 1/n of every rate and burst (bursts rounded up), and buckets follow when n
// changes.
package throttle

import (
	"errors"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate tokens a second, at most Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// Limiter holds the buckets of every (key, limit) pair asked about. Buckets of callers
// not seen for IdleTTL are dropped, and at most MaxKeys are kept (the least useful go
// first); a dropped bucket comes back full. It is safe for concurrent use.
type Limiter struct {
	buckets *otter.Cache[string, *rate.Limiter]
	now     func() time.Time
	share   func() int
}

// Options configure a Limiter.
type Options struct {
	// MaxKeys bounds the number of buckets held.
	MaxKeys int
	// IdleTTL is how long an unused bucket is kept.
	IdleTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Share returns how many replicas share the limits (each enforces its part); 1
	// when nil.
	Share func() int
}

// New returns a Limiter.
func New(o Options) (*Limiter, error) {
	if o.MaxKeys < 1 {
		return nil, errors.New("throttle: the maximum number of callers must be at least 1")
	}
	if o.IdleTTL <= 0 {
		o.IdleTTL = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c, err := otter.New(&otter.Options[string, *rate.Limiter]{
		MaximumSize:      o.MaxKeys,
		ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](o.IdleTTL),
	})
	if err != nil {
		return nil, err
	}
	if o.Share == nil {
		o.Share = func() int { return 1 }
	}
	return &Limiter{buckets: c, now: o.Now, share: o.Share}, nil
}

// part is this replica's part of lim: 1/n of the rate and of the burst (rounded up,
// at least 1).
func (l *Limiter) part(lim Limit) Limit {
	n := l.share()
	if n <= 1 {
		return lim
	}
	return Limit{Rate: lim.Rate / float64(n), Burst: max((lim.Burst+n-1)/n, 1)}
}

// bucket returns key's bucket for lim, made (full) when missing, and set to lim when
// the share changed since.
func (l *Limiter) bucket(key string, lim Limit, now time.Time) *rate.Limiter {
	b, ok := l.buckets.GetIfPresent(key)
	if !ok {
		b, _ = l.buckets.SetIfAbsent(key, rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst))
	}
	if b.Limit() != rate.Limit(lim.Rate) || b.Burst() != lim.Burst {
		b.SetLimitAt(now, rate.Limit(lim.Rate))
		b.SetBurstAt(now, lim.Burst)
	}
	return b
}

// Reservation is a token taken from a bucket; Cancel gives it back.
type Reservation struct {
	r   *rate.Reservation
	now time.Time
}

// Cancel returns the token, for a request refused by a later check.
func (r Reservation) Cancel() {
	if r.r != nil {
		r.r.CancelAt(r.now)
	}
}

// Take takes a token from the bucket of key under limit l. When the bucket is empty it
// takes nothing and returns how long until a token will be there (at least a
// nanosecond), with ok false.
func (l *Limiter) Take(key string, lim Limit) (Reservation, time.Duration, bool) {
	now := l.now()
	b := l.bucket(key, l.part(lim), now)
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return Reservation{}, time.Second, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return Reservation{}, d, false
	}
	return Reservation{r: r, now: now}, 0, true
}

// Empty reports whether key's bucket under lim holds less than a token, and how long
// until it holds one, without taking anything: a check before work whose outcome
// decides whether a token is taken (Take). A key never taken from is full.
func (l *Limiter) Empty(key string, lim Limit) (time.Duration, bool) {
	b, ok := l.buckets.GetIfPresent(key)
	if !ok {
		return 0, false
	}
	now := l.now()
	lim = l.part(lim)
	if b.Limit() != rate.Limit(lim.Rate) || b.Burst() != lim.Burst {
		b = l.bucket(key, lim, now)
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	if lim.Rate <= 0 {
		return time.Hour, true
	}
	return max(time.Duration((1-tokens)/lim.Rate*float64(time.Second)), time.Nanosecond), true
}

// Close stops the Limiter's background goroutines.
func (l *Limiter) Close() { l.buckets.StopAllGoroutines() }
