package source

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// renewLeases is a Leases whose Renew answers err and counts its calls.
type renewLeases struct {
	Leases
	err   error
	calls int
}

func (l *renewLeases) Renew(context.Context, string, string) error { l.calls++; return l.err }
func (l *renewLeases) TTL() time.Duration                          { return 3 * time.Second }

func TestHoldLease(t *testing.T) {
	down := errors.New("dynamodb unreachable")
	for _, tc := range []struct {
		name      string
		left      time.Duration // of the 3s lease, as the worker sees it
		renewErr  error
		wantCalls int
		wantLost  bool
	}{
		{"a fresh lease is not asked about", 2 * time.Second, nil, 0, false},
		{"a short lease is renewed first", 500 * time.Millisecond, nil, 1, false},
		{"a lapsed lease that nobody took is renewed", -time.Minute, nil, 1, false},
		{"a lapsed lease another worker took: stop", -time.Minute, ErrLeaseLost, 1, true},
		{"renewal fails while the lease still runs: send", 500 * time.Millisecond, down, 1, false},
		{"renewal fails and the lease has lapsed: stop", -time.Second, down, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &renewLeases{err: tc.renewErr}
			p := &Poller{Leases: l}
			w := &worker{log: slog.New(slog.NewTextHandler(io.Discard, nil)), lease: &lease{until: time.Now().Add(tc.left)}}
			err := p.holdLease(context.Background(), w)
			if l.calls != tc.wantCalls || errors.Is(err, ErrLeaseLost) != tc.wantLost {
				t.Fatalf("holdLease = %v after %d renewals; want lost %v after %d", err, l.calls, tc.wantLost, tc.wantCalls)
			}
			if tc.renewErr == nil && tc.wantCalls == 1 && w.lease.left(time.Now()) < 2*time.Second {
				t.Errorf("after a renewal the lease runs %s more, want about the 3s TTL", w.lease.left(time.Now()))
			}
		})
	}
}
