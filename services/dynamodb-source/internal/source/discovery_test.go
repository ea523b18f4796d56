package source

import (
	"testing"
	"time"
)

func TestNextDiscovery(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		retryAt time.Time
		want    time.Duration
	}{
		{"no foreign lease", time.Time{}, 30 * time.Second},
		{"a lease expiring soon", now.Add(2 * time.Second), 2*time.Second + 50*time.Millisecond},
		{"a lease expiring after the interval", now.Add(time.Minute), 30 * time.Second},
		{"a lease already expired", now.Add(-time.Second), 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextDiscovery(30*time.Second, tc.retryAt, now); got != tc.want {
				t.Errorf("NextDiscovery = %s, want %s", got, tc.want)
			}
		})
	}
}
