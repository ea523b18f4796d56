package api

import (
	"crypto/sha256"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
)

// identify verifies the request's bearer token, remembering tokens already verified
// until they expire (at most AUTH_CACHE_TTL), so that a hit costs a hash, not an RSA
// verification.
func (g *Gateway) identify(r *http.Request) (auth.Identity, error) {
	token, err := auth.BearerToken(r)
	if err != nil {
		return auth.Identity{}, err
	}
	k := sha256.Sum256([]byte(token))
	if id, ok := g.ids.GetIfPresent(k); ok && g.now().Before(id.Expiry) && g.verifier.Trusts(id) {
		return id, nil
	}
	id, err := g.verifier.Verify(r.Context(), token)
	if err != nil {
		return auth.Identity{}, err
	}
	g.ids.Set(k, id)
	return id, nil
}

// clientIP is the caller's address: the TCP peer, or with FORWARDED_HOPS = n the n-th
// address from the right of X-Forwarded-For.
func (g *Gateway) clientIP(r *http.Request) string {
	if g.hops > 0 {
		var addrs []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for a := range strings.SplitSeq(v, ",") {
				addrs = append(addrs, strings.TrimSpace(a))
			}
		}
		if len(addrs) >= g.hops {
			return addrs[len(addrs)-g.hops]
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isUnauthenticated reports whether err is a token problem (not the signing keys
// being unavailable, which is no fault of the caller).
func isUnauthenticated(err error) bool {
	e := apperr.As(err)
	return e != nil && e.Code == apperr.Unauthenticated
}

// addressKey is the key of a client address for per-address limits: the address, or
// for IPv6 its /64, which one client can fill with addresses at will.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
