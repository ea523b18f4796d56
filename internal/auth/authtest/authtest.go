// Package authtest is a stand-in Cognito user pool for tests of services that verify
// tokens: it holds an RSA key, serves its JWKS over HTTP, and mints tokens shaped like
// Cognito's. The services under test use the real auth.Verifier against it.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/serverless-architect/serverless-architect/internal/auth"
)

// Pool is a fake user pool.
type Pool struct {
	Issuer   string
	ClientID string
	JWKSURL  string
	key      *rsa.PrivateKey
}

// NewPool starts a JWKS server for a fresh key; it stops when the test ends.
func NewPool(t testing.TB) *Pool {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Import(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, "test-kid")
	_ = pub.Set(jwk.AlgorithmKey, jwa.RS256())
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	doc, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return &Pool{
		Issuer:   "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_authtest",
		ClientID: "authtest-client",
		JWKSURL:  srv.URL + "/.well-known/jwks.json",
		key:      key,
	}
}

// Config returns a verifier configuration that accepts this pool's tokens.
func (p *Pool) Config() auth.Config {
	return auth.Config{Issuer: p.Issuer, JWKSURL: p.JWKSURL, ClientIDs: []string{p.ClientID}, TokenUses: []string{"id", "access"}, Leeway: 5 * time.Second}
}

// IDToken mints an id token for sub, valid for an hour. extra claims are added or
// override the defaults (e.g. "cognito:groups": []string{"admins"}, "exp": ...).
func (p *Pool) IDToken(t testing.TB, sub string, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": p.Issuer, "sub": sub, "aud": p.ClientID, "token_use": "id",
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"cognito:username": sub, "email": sub + "@example.com",
	}
	for k, v := range extra {
		claims[k] = v
	}
	return p.Sign(t, claims)
}

// Sign signs arbitrary claims with the pool's key (RS256, kid "test-kid").
func (p *Pool) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, "test-kid")
	_ = h.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), p.key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
