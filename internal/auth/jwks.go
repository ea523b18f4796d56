package auth

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/sync/singleflight"
)

const (
	// coldRetryInterval is the least time between two JWKS fetches while no key is
	// held (capped by MinRefreshInterval): short, because every request fails until a
	// fetch succeeds, but not zero, so an outage is not hammered by every request.
	coldRetryInterval = time.Second
	// maxJWKSBytes bounds a JWKS response; Cognito's is well under 2 KiB.
	maxJWKSBytes = 1 << 20
	// minRSABits is the smallest RSA modulus accepted; Cognito's keys are 2048 bits.
	minRSABits = 2048
)

// keyCache holds the RSA public keys of one JWKS URL, by kid. It fetches lazily, keeps
// keys with no TTL, refetches on an unknown kid at most once per minInterval, coalesces
// concurrent refetches and keeps the old keys when a refetch fails.
type keyCache struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger

	group singleflight.Group

	mu          sync.RWMutex
	keys        map[string]*rsa.PublicKey
	lastAttempt time.Time
	lastErr     error
}

// lookup returns the key for kid, whether it was found, and whether any key is held.
func (c *keyCache) lookup(kid string) (key *rsa.PublicKey, found, loaded bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	key, found = c.keys[kid]
	return key, found, len(c.keys) > 0
}

// loaded reports whether any key is held.
func (c *keyCache) loaded() bool {
	_, _, loaded := c.lookup("")
	return loaded
}

// key returns the key for kid, refetching the JWKS (within the rate limit) when kid is
// unknown. Errors are *apperr.Error: Unavailable when no key is held at all,
// Unauthenticated when keys are held but none has this kid.
func (c *keyCache) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok, _ := c.lookup(kid); ok {
		return k, nil
	}
	err := c.refresh(ctx)
	k, ok, loaded := c.lookup(kid)
	switch {
	case ok:
		return k, nil
	case !loaded:
		return nil, unavailable(err)
	default:
		return nil, unauthenticated("token signing key (kid) is unknown", err)
	}
}

// refresh fetches the JWKS unless the rate limit forbids it; concurrent calls share one
// fetch. The fetch is not cancelled when ctx is (others may be waiting for it; it is
// bounded by the timeout instead), but refresh returns early on ctx's end. The error is
// that of the fetch waited for or, when rate limited, of the last fetch.
func (c *keyCache) refresh(ctx context.Context) error {
	ch := c.group.DoChan("jwks", func() (any, error) {
		return nil, c.fetchIfDue(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("wait for jwks from %s: %w", c.url, ctx.Err())
	}
}

// fetchIfDue fetches the JWKS and installs its keys, unless the last attempt was too
// recent.
func (c *keyCache) fetchIfDue(ctx context.Context) error {
	c.mu.Lock()
	interval := c.minInterval
	if len(c.keys) == 0 {
		interval = min(interval, coldRetryInterval)
	}
	now := c.now()
	if !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < interval {
		last, lastErr := c.lastAttempt, c.lastErr
		c.mu.Unlock()
		if lastErr != nil {
			return fmt.Errorf("jwks refetch rate limited (last attempt %s ago failed): %w", now.Sub(last).Round(time.Millisecond), lastErr)
		}
		return fmt.Errorf("jwks refetch rate limited: last fetch %s ago, at most one per %s", now.Sub(last).Round(time.Millisecond), interval)
	}
	c.lastAttempt = now
	c.mu.Unlock()

	keys, err := c.fetch(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err != nil {
		c.log.WarnContext(ctx, "jwks fetch failed; keeping cached keys", "url", c.url, "cachedKeys", len(c.keys), "err", err)
		return err
	}
	c.keys = keys
	c.log.InfoContext(ctx, "jwks fetched", "url", c.url, "keys", len(keys))
	return nil
}

// fetch GETs and parses the JWKS.
func (c *keyCache) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks from %s: %w", c.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("fetch jwks from %s: status %s", c.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks from %s: %w", c.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks from %s is larger than %d bytes", c.url, maxJWKSBytes)
	}
	keys, err := parseKeys(body)
	if err != nil {
		return nil, fmt.Errorf("parse jwks from %s: %w", c.url, err)
	}
	return keys, nil
}

// parseKeys returns the RS256 signing keys of a JWKS document, by kid. Other keys
// (other types, encryption keys, keys for other algorithms, private keys, keys without
// a kid, small moduli) are skipped; a set with none left is an error.
func parseKeys(body []byte) (map[string]*rsa.PublicKey, error) {
	set, err := jwk.Parse(body, jwk.WithRejectDuplicateKID(true))
	if err != nil {
		return nil, err
	}
	keys := make(map[string]*rsa.PublicKey, set.Len())
	for i := range set.Len() {
		k, ok := set.Key(i)
		if !ok {
			continue
		}
		kid, _ := k.KeyID()
		if kid == "" || k.KeyType() != jwa.RSA() {
			continue
		}
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue
		}
		if alg, ok := k.Algorithm(); ok && alg.String() != jwa.RS256().String() {
			continue
		}
		if private, err := jwk.IsPrivateKey(k); err != nil || private {
			continue
		}
		var pub rsa.PublicKey
		if err := jwk.Export(k, &pub); err != nil || pub.N == nil || pub.N.BitLen() < minRSABits {
			continue
		}
		keys[kid] = &pub
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable key: want an RSA public key of at least 2048 bits with a kid, use \"sig\" (or none) and alg RS256 (or none)")
	}
	return keys, nil
}
