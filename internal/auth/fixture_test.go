package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const (
	testIssuer  = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
	testClient  = "client-a"
	testClient2 = "client-b"
	testSubject = "7d2c5a4e-0000-4000-8000-000000000001"
)

// testNow is the fixture's fake "now"; token times are relative to it.
var testNow = time.Unix(1_750_000_000, 0)

// fakeClock is a settable clock shared by the Verifier and the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// jwksServer serves a JWKS document that a test can swap, break and count hits on.
type jwksServer struct {
	*httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	doc   []byte // nil: answer 500
	delay time.Duration
}

func newJWKSServer(t testing.TB, doc []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{doc: doc}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		doc, delay := s.doc, s.delay
		s.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if doc == nil {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc = doc
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// fixture is one signing key ("k1") published by a JWKS server, and a Verifier
// (accepting testClient and testClient2) with a fake clock in front of it.
type fixture struct {
	key   *rsa.PrivateKey
	jwks  *jwksServer
	clock *fakeClock
	cfg   Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	key := newRSAKey(t)
	f := &fixture{
		key:   key,
		jwks:  newJWKSServer(t, jwksDoc(t, map[string]*rsa.PublicKey{"k1": &key.PublicKey})),
		clock: &fakeClock{t: testNow},
	}
	f.cfg = Config{
		Issuer:             testIssuer,
		JWKSURL:            f.jwks.URL + "/us-east-1_TestPool/.well-known/jwks.json",
		ClientIDs:          []string{testClient, testClient2},
		TokenUses:          []string{TokenUseID, TokenUseAccess},
		Leeway:             5 * time.Second,
		MinRefreshInterval: time.Minute,
		JWKSTimeout:        2 * time.Second,
	}
	return f
}

func (f *fixture) verifier(t testing.TB, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := f.cfg
	cfg.ClientIDs = append([]string(nil), f.cfg.ClientIDs...)
	cfg.TokenUses = append([]string(nil), f.cfg.TokenUses...)
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewVerifier(cfg, nil, withClock(f.clock.Now), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return k
}

// jwksDoc returns a JWKS document publishing keys as RS256 signing keys.
func jwksDoc(t testing.TB, keys map[string]*rsa.PublicKey) []byte {
	t.Helper()
	set := jwk.NewSet()
	for kid, pub := range keys {
		k, err := jwk.Import(pub)
		if err != nil {
			t.Fatalf("import key: %v", err)
		}
		for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256(), jwk.KeyUsageKey: "sig"} {
			if err := k.Set(name, v); err != nil {
				t.Fatalf("set %s: %v", name, err)
			}
		}
		if err := set.AddKey(k); err != nil {
			t.Fatalf("add key: %v", err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("marshal jwks: %v", err)
	}
	return b
}

// idClaims are the claims of a good Cognito id token at testNow.
func idClaims() map[string]any {
	return map[string]any{
		"iss":              testIssuer,
		"sub":              testSubject,
		"aud":              testClient,
		"token_use":        "id",
		"auth_time":        testNow.Unix(),
		"iat":              testNow.Unix(),
		"exp":              testNow.Add(time.Hour).Unix(),
		"jti":              "jti-1",
		"cognito:username": "alice",
		"email":            "alice@example.com",
		"email_verified":   true,
		"cognito:groups":   []string{"admins", "editors"},
	}
}

// accessClaims are the claims of a good Cognito access token at testNow.
func accessClaims() map[string]any {
	return map[string]any{
		"iss":            testIssuer,
		"sub":            testSubject,
		"client_id":      testClient,
		"token_use":      "access",
		"scope":          "aws.cognito.signin.user.admin",
		"auth_time":      testNow.Unix(),
		"iat":            testNow.Unix(),
		"exp":            testNow.Add(time.Hour).Unix(),
		"jti":            "jti-2",
		"username":       "alice",
		"cognito:groups": []string{"admins"},
	}
}

// with returns a copy of claims with set applied; a nil value deletes the claim.
func with(claims map[string]any, set map[string]any) map[string]any {
	out := make(map[string]any, len(claims))
	for k, v := range claims {
		out[k] = v
	}
	for k, v := range set {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// sign returns a compact JWS of claims signed by jwx with alg and key; kid goes in
// the protected header when not empty.
func sign(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshal claims: %v", err)
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.TypeKey, "JWT"); err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		if err := h.Set(jws.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return string(out)
}

// rawToken assembles a compact JWS by hand from a header, claims and a signature.
func rawToken(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

// hmacWithPublicKey forges the classic key-confusion token: HMAC-SHA256 whose secret is
// the PEM of the RSA public key, under header alg.
func hmacWithPublicKey(t testing.TB, pub *rsa.PublicKey, alg, kid string, claims map[string]any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	unsigned := rawToken(t, map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}, claims, nil)
	unsigned = unsigned[:len(unsigned)-1] // drop the trailing "." of the empty signature
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
