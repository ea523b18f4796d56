package auth

import (
	"context"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// otherPool is a second user pool, as a re-provisioned moto (or another AWS pool)
// makes: its own issuer, app client, JWKS URL and key, under the same kid.
type otherPool struct {
	issuer, client string
	key            *rsa.PrivateKey
	jwks           *jwksServer
}

func newOtherPool(t *testing.T, id string) otherPool {
	key := newRSAKey(t)
	return otherPool{
		issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_" + id,
		client: "client-" + id,
		key:    key,
		jwks:   newJWKSServer(t, jwksDoc(t, map[string]*rsa.PublicKey{"k1": &key.PublicKey})),
	}
}

func (p otherPool) file() PoolFile {
	return PoolFile{Issuer: p.issuer, JWKSURL: p.jwks.URL + "/jwks.json", ClientIDs: []string{p.client}}
}

func (p otherPool) token(t *testing.T) string {
	return sign(t, jwa.RS256(), p.key, "k1", with(idClaims(), map[string]any{"iss": p.issuer, "aud": p.client}))
}

func wantUnauthenticated(t *testing.T, what string, err error) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Code != apperr.Unauthenticated {
		t.Errorf("%s: err = %v, want Unauthenticated", what, err)
	}
}

// TestVerifierFollowsPoolFile: with COGNITO_POOL_FILE, a token of the pool the file
// names next is accepted once the file changed and the check interval passed, and
// the old pool's and any third pool's tokens are then refused; without the file
// setting (production) the new pool's tokens stay refused.
func TestVerifierFollowsPoolFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cognito-pool.json")
	first := PoolFile{Issuer: testIssuer, JWKSURL: f.cfg.JWKSURL, ClientIDs: f.cfg.ClientIDs}
	if err := WritePoolFile(path, first); err != nil {
		t.Fatal(err)
	}
	v := f.verifier(t, func(c *Config) { c.PoolFile = path })
	fixed := f.verifier(t, nil)
	oldToken := sign(t, jwa.RS256(), f.key, "k1", idClaims())
	oldID, err := v.Verify(ctx, oldToken)
	if err != nil {
		t.Fatalf("the file's pool: %v", err)
	}
	if !v.Trusts(oldID) {
		t.Error("Trusts: false for an identity of the pool trusted now")
	}

	next, third := newOtherPool(t, "Next"), newOtherPool(t, "Third")
	if _, err := v.Verify(ctx, next.token(t)); err == nil {
		t.Fatal("a pool the file does not name was accepted")
	}
	if err := WritePoolFile(path, next.file()); err != nil {
		t.Fatal(err)
	}
	// Within poolCheckInterval of the last look, the file is not read again.
	_, err = v.Verify(ctx, next.token(t))
	wantUnauthenticated(t, "before the check interval passed", err)

	f.clock.Advance(poolCheckInterval)
	id, err := v.Verify(ctx, next.token(t))
	if err != nil {
		t.Fatalf("the new pool's token after the file changed: %v", err)
	}
	if id.ClientID != next.client {
		t.Errorf("client = %q, want %q", id.ClientID, next.client)
	}
	if v.Trusts(oldID) || !v.Trusts(id) {
		t.Errorf("Trusts(old pool's identity) = %v, Trusts(new) = %v: a cached identity of the old pool must not be trusted", v.Trusts(oldID), v.Trusts(id))
	}
	if next.jwks.hits.Load() != 1 {
		t.Errorf("the new pool's JWKS was fetched %d times, want 1", next.jwks.hits.Load())
	}
	f.clock.Advance(poolCheckInterval)
	_, err = v.Verify(ctx, oldToken)
	wantUnauthenticated(t, "the old pool's token once the file names another", err)
	f.clock.Advance(poolCheckInterval)
	_, err = v.Verify(ctx, third.token(t))
	wantUnauthenticated(t, "a third pool's token", err)
	if third.jwks.hits.Load() != 0 {
		t.Errorf("a token made the verifier fetch keys from a pool the file does not name")
	}

	_, err = fixed.Verify(ctx, next.token(t))
	wantUnauthenticated(t, "without COGNITO_POOL_FILE, another pool's token", err)
}

// TestPoolFileBroken: a file that stops being a pool file keeps the pool trusted so
// far; at start, a broken file is a configuration error and a missing one leaves the
// environment's pool.
func TestPoolFileBroken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cognito-pool.json")
	v := f.verifier(t, func(c *Config) { c.PoolFile = path }) // no file yet: the env's pool
	token := sign(t, jwa.RS256(), f.key, "k1", idClaims())
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("the environment's pool with no file yet: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"issuer": "not a url"`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(poolCheckInterval)
	next := newOtherPool(t, "Next")
	_, err := v.Verify(ctx, next.token(t))
	wantUnauthenticated(t, "a broken file", err)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("the pool trusted before the file broke: %v", err)
	}

	cfg := f.cfg
	cfg.PoolFile = path
	if _, err := NewVerifier(cfg, nil); err == nil || !strings.Contains(err.Error(), "COGNITO_POOL_FILE") {
		t.Errorf("NewVerifier with a broken pool file: err = %v", err)
	}
	if err := WritePoolFile(path, PoolFile{Issuer: "https://example.com/x"}); err == nil {
		t.Error("WritePoolFile wrote a pool without client ids")
	}
}
