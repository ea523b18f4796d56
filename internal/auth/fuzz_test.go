package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// FuzzVerify feeds arbitrary strings to Verify. It must never panic, and every answer
// must be either an Unauthenticated *apperr.Error or, for a token the fixture's key
// really signed, exactly the identity that token carries: a mutation can only be
// accepted if it still verifies under the key. The keys are prefetched and refetches
// are rate limited for an hour, so no input reaches the JWKS server after the first.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	v := fx.verifier(f, func(c *Config) { c.MinRefreshInterval = time.Hour })
	if err := v.Prefetch(context.Background()); err != nil {
		f.Fatalf("Prefetch: %v", err)
	}

	goodID := sign(f, jwa.RS256(), fx.key, "k1", idClaims())
	goodAccess := sign(f, jwa.RS256(), fx.key, "k1", accessClaims())
	parts := strings.Split(goodID, ".")
	for _, seed := range []string{
		goodID,
		goodAccess,
		"",
		"not-a-token",
		"a.b.c",
		"....",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		rawToken(f, map[string]any{"alg": "none", "kid": "k1"}, idClaims(), nil),
		hmacWithPublicKey(f, &fx.key.PublicKey, "HS256", "k1", idClaims()),
		hmacWithPublicKey(f, &fx.key.PublicKey, "RS256", "k1", idClaims()),
		sign(f, jwa.RS256(), fx.key, "", idClaims()),
		sign(f, jwa.RS256(), fx.key, "k1", with(idClaims(), map[string]any{"exp": testNow.Unix() - 3600})),
		sign(f, jwa.RS256(), fx.key, "k1", with(idClaims(), map[string]any{"cognito:groups": map[string]any{"a": 1}})),
		`{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJSUzI1NiJ9","signature":"AA"}]}`,
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err != nil {
			if e := apperr.As(err); e == nil || e.Code != apperr.Unauthenticated {
				t.Fatalf("Verify(%q) = %v; want an Unauthenticated *apperr.Error", token, err)
			}
			if id.Subject != "" || id.TokenUse != "" {
				t.Fatalf("Verify(%q) returned an identity with its error: %+v", token, id)
			}
			return
		}
		// Accepted: only our key's signature can get here, and we signed only tokens
		// for testSubject that expire an hour after testNow.
		if id.Subject != testSubject || !id.Expiry.Equal(testNow.Add(time.Hour)) || (id.TokenUse != "id" && id.TokenUse != "access") {
			t.Fatalf("Verify(%q) accepted an identity nobody signed: %+v", token, id)
		}
	})
	if hits := fx.jwks.hits.Load(); hits > 1 {
		f.Errorf("fuzzing fetched the JWKS %d times, want 1", hits)
	}
}
