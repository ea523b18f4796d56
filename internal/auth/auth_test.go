package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

func TestVerify(t *testing.T) {
	f := newFixture(t)
	other := newRSAKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	wantID := Identity{
		Subject:  testSubject,
		Username: "alice",
		Email:    "alice@example.com",
		Groups:   []string{"admins", "editors"},
		TokenUse: "id",
		ClientID: testClient,
		Expiry:   testNow.Add(time.Hour),
		Issuer:   testIssuer,
	}
	wantAccess := Identity{
		Subject:  testSubject,
		Username: "alice",
		Groups:   []string{"admins"},
		TokenUse: "access",
		ClientID: testClient,
		Expiry:   testNow.Add(time.Hour),
		Issuer:   testIssuer,
	}
	rs := func(claims map[string]any) func(t *testing.T) string {
		return func(t *testing.T) string { return sign(t, jwa.RS256(), f.key, "k1", claims) }
	}
	literal := func(s string) func(t *testing.T) string {
		return func(*testing.T) string { return s }
	}

	tests := []struct {
		name  string
		cfg   func(*Config)
		token func(t *testing.T) string
		want  Identity
		// wantCode is empty for success; wantMsg, when set, must appear in the message.
		wantCode apperr.Code
		wantMsg  string
	}{
		{name: "valid id token", token: rs(idClaims()), want: wantID},
		{name: "valid access token", token: rs(accessClaims()), want: wantAccess},
		{
			name:  "id token audience array with one accepted client",
			token: rs(with(idClaims(), map[string]any{"aud": []string{"someone-else", testClient2}})),
			want: func() Identity {
				id := wantID
				id.ClientID = testClient2
				return id
			}(),
		},
		{
			name:  "id token without groups or email",
			token: rs(with(idClaims(), map[string]any{"cognito:groups": nil, "email": nil})),
			want: func() Identity {
				id := wantID
				id.Groups, id.Email = nil, ""
				return id
			}(),
		},
		{
			name:     "expired",
			token:    rs(with(idClaims(), map[string]any{"exp": testNow.Add(-time.Minute).Unix()})),
			wantCode: apperr.Unauthenticated, wantMsg: "token has expired",
		},
		{
			name:  "expired within leeway is accepted",
			token: rs(with(idClaims(), map[string]any{"exp": testNow.Add(-3 * time.Second).Unix()})),
			want: func() Identity {
				id := wantID
				id.Expiry = testNow.Add(-3 * time.Second)
				return id
			}(),
		},
		{
			name:     "expired just past leeway",
			token:    rs(with(idClaims(), map[string]any{"exp": testNow.Add(-7 * time.Second).Unix()})),
			wantCode: apperr.Unauthenticated, wantMsg: "token has expired",
		},
		{
			name:     "expired with zero leeway",
			cfg:      func(c *Config) { c.Leeway = 0 },
			token:    rs(with(idClaims(), map[string]any{"exp": testNow.Add(-3 * time.Second).Unix()})),
			wantCode: apperr.Unauthenticated, wantMsg: "token has expired",
		},
		{
			name:     "nbf in the future",
			token:    rs(with(idClaims(), map[string]any{"nbf": testNow.Add(time.Minute).Unix()})),
			wantCode: apperr.Unauthenticated, wantMsg: "not valid yet",
		},
		{
			name:  "nbf in the future within leeway",
			token: rs(with(idClaims(), map[string]any{"nbf": testNow.Add(3 * time.Second).Unix()})),
			want:  wantID,
		},
		{
			name:     "iat in the future",
			token:    rs(with(idClaims(), map[string]any{"iat": testNow.Add(time.Minute).Unix()})),
			wantCode: apperr.Unauthenticated, wantMsg: "issued in the future",
		},
		{
			name:     "missing exp",
			token:    rs(with(idClaims(), map[string]any{"exp": nil})),
			wantCode: apperr.Unauthenticated, wantMsg: "no expiry",
		},
		{
			name:     "wrong issuer (another pool)",
			token:    rs(with(idClaims(), map[string]any{"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"})),
			wantCode: apperr.Unauthenticated, wantMsg: "issuer is not accepted",
		},
		{
			name:     "issuer with trailing slash",
			token:    rs(with(idClaims(), map[string]any{"iss": testIssuer + "/"})),
			wantCode: apperr.Unauthenticated, wantMsg: "issuer is not accepted",
		},
		{
			name:     "missing issuer",
			token:    rs(with(idClaims(), map[string]any{"iss": nil})),
			wantCode: apperr.Unauthenticated, wantMsg: "issuer is not accepted",
		},
		{
			name:     "id token for another client",
			token:    rs(with(idClaims(), map[string]any{"aud": "client-z"})),
			wantCode: apperr.Unauthenticated, wantMsg: "audience is not an accepted app client",
		},
		{
			name:     "id token without aud",
			token:    rs(with(idClaims(), map[string]any{"aud": nil})),
			wantCode: apperr.Unauthenticated, wantMsg: "audience",
		},
		{
			name:     "id token whose client is no longer accepted",
			cfg:      func(c *Config) { c.ClientIDs = []string{testClient2} },
			token:    rs(idClaims()),
			wantCode: apperr.Unauthenticated, wantMsg: "audience",
		},
		{
			name:     "access token for another client",
			token:    rs(with(accessClaims(), map[string]any{"client_id": "client-z"})),
			wantCode: apperr.Unauthenticated, wantMsg: "client_id is not an accepted app client",
		},
		{
			name:     "access token with aud but no client_id",
			token:    rs(with(accessClaims(), map[string]any{"client_id": nil, "aud": testClient})),
			wantCode: apperr.Unauthenticated, wantMsg: "client_id",
		},
		{
			name:     "access token with a non-string client_id",
			token:    rs(with(accessClaims(), map[string]any{"client_id": []string{testClient}})),
			wantCode: apperr.Unauthenticated, wantMsg: "client_id",
		},
		{
			name:     "token_use refresh",
			token:    rs(with(idClaims(), map[string]any{"token_use": "refresh"})),
			wantCode: apperr.Unauthenticated, wantMsg: "token_use is not accepted",
		},
		{
			name:     "token_use missing",
			token:    rs(with(idClaims(), map[string]any{"token_use": nil})),
			wantCode: apperr.Unauthenticated, wantMsg: "no token_use",
		},
		{
			name:     "access token where only id tokens are accepted",
			cfg:      func(c *Config) { c.TokenUses = []string{TokenUseID} },
			token:    rs(accessClaims()),
			wantCode: apperr.Unauthenticated, wantMsg: "token_use is not accepted here; accepted: id",
		},
		{
			name:     "missing sub",
			token:    rs(with(idClaims(), map[string]any{"sub": nil})),
			wantCode: apperr.Unauthenticated, wantMsg: "no subject",
		},
		{
			name:     "malformed groups",
			token:    rs(with(idClaims(), map[string]any{"cognito:groups": "admins"})),
			wantCode: apperr.Unauthenticated, wantMsg: "cognito:groups",
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "none", "kid": "k1", "typ": "JWT"}, idClaims(), nil)
			},
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name: "alg None (odd case)",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "None", "kid": "k1"}, idClaims(), nil)
			},
			wantCode: apperr.Unauthenticated,
		},
		{
			name: "no alg",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"kid": "k1"}, idClaims(), []byte("sig"))
			},
			wantCode: apperr.Unauthenticated,
		},
		{
			name: "HS256 signed by jwx with the RSA public key as secret",
			token: func(t *testing.T) string {
				return sign(t, jwa.HS256(), publicPEM, "k1", idClaims())
			},
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name: "HS256 with the RSA public key as secret, hand-made",
			token: func(t *testing.T) string {
				return hmacWithPublicKey(t, &f.key.PublicKey, "HS256", "k1", idClaims())
			},
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name: "HMAC with the public key as secret under an RS256 header",
			token: func(t *testing.T) string {
				return hmacWithPublicKey(t, &f.key.PublicKey, "RS256", "k1", idClaims())
			},
			wantCode: apperr.Unauthenticated, wantMsg: "signature is invalid",
		},
		{
			name:     "HS512",
			token:    func(t *testing.T) string { return sign(t, jwa.HS512(), make([]byte, 64), "k1", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name:     "ES256",
			token:    func(t *testing.T) string { return sign(t, jwa.ES256(), ecKey, "k1", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name:     "PS256 with the right RSA key",
			token:    func(t *testing.T) string { return sign(t, jwa.PS256(), f.key, "k1", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name:     "RS512 with the right RSA key",
			token:    func(t *testing.T) string { return sign(t, jwa.RS512(), f.key, "k1", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "algorithm is not allowed",
		},
		{
			name:     "missing kid",
			token:    func(t *testing.T) string { return sign(t, jwa.RS256(), f.key, "", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "no key id",
		},
		{
			name:     "unknown kid",
			token:    func(t *testing.T) string { return sign(t, jwa.RS256(), f.key, "k-unknown", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "unknown",
		},
		{
			name:     "signed by another key under the known kid",
			token:    func(t *testing.T) string { return sign(t, jwa.RS256(), other, "k1", idClaims()) },
			wantCode: apperr.Unauthenticated, wantMsg: "signature is invalid",
		},
		{
			name: "payload swapped after signing",
			token: func(t *testing.T) string {
				good := strings.Split(sign(t, jwa.RS256(), f.key, "k1", idClaims()), ".")
				evil := strings.Split(sign(t, jwa.RS256(), other, "k1", with(idClaims(), map[string]any{"sub": "someone-else"})), ".")
				return good[0] + "." + evil[1] + "." + good[2]
			},
			wantCode: apperr.Unauthenticated, wantMsg: "signature is invalid",
		},
		{
			name: "signature stripped",
			token: func(t *testing.T) string {
				parts := strings.Split(sign(t, jwa.RS256(), f.key, "k1", idClaims()), ".")
				return parts[0] + "." + parts[1] + "."
			},
			wantCode: apperr.Unauthenticated,
		},
		{
			name: "payload is not JSON",
			token: func(t *testing.T) string {
				return signRawPayload(t, f.key, "k1", []byte("not json"))
			},
			wantCode: apperr.Unauthenticated, wantMsg: "malformed token",
		},
		{name: "empty", token: literal(""), wantCode: apperr.Unauthenticated, wantMsg: "missing token"},
		{name: "garbage", token: literal("not-a-token"), wantCode: apperr.Unauthenticated, wantMsg: "malformed token"},
		{name: "three garbage parts", token: literal("a.b.c"), wantCode: apperr.Unauthenticated, wantMsg: "malformed token"},
		{name: "five parts (JWE shape)", token: literal("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), wantCode: apperr.Unauthenticated},
		{
			name:     "JSON serialization",
			token:    literal(`{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0","signature":"AA"}]}`),
			wantCode: apperr.Unauthenticated, wantMsg: "malformed token",
		},
		{name: "too large", token: literal(strings.Repeat("a", maxTokenBytes+1)), wantCode: apperr.Unauthenticated, wantMsg: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.verifier(t, tt.cfg)
			token := tt.token(t)
			got, err := v.Verify(context.Background(), token)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("identity (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", got)
			}
			if diff := cmp.Diff(Identity{}, got); diff != "" {
				t.Errorf("identity on error is not empty (-want +got):\n%s", diff)
			}
			e := apperr.As(err)
			if e == nil {
				t.Fatalf("error %v is not an *apperr.Error", err)
			}
			if e.Code != tt.wantCode {
				t.Errorf("code = %q, want %q (err: %v)", e.Code, tt.wantCode, err)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.wantMsg)
			}
			assertNoToken(t, err, token)
		})
	}
}

// assertNoToken fails when the error text (message or cause) quotes the token or any
// of its parts.
func assertNoToken(t *testing.T, err error, token string) {
	t.Helper()
	if token == "" {
		return
	}
	text := err.Error()
	if strings.Contains(text, token) {
		t.Errorf("error text contains the token: %q", text)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 && strings.Contains(text, part) {
			t.Errorf("error text contains a token segment %q: %q", part, text)
		}
	}
}

// signRawPayload signs arbitrary payload bytes with RS256.
func signRawPayload(t *testing.T, key *rsa.PrivateKey, kid string, payload []byte) string {
	t.Helper()
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return string(out)
}

func TestVerifyFetchesLazilyOnce(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	if got := f.jwks.hits.Load(); got != 0 {
		t.Fatalf("NewVerifier fetched the JWKS %d times; want 0", got)
	}
	for i := range 3 {
		if _, err := v.Verify(context.Background(), sign(t, jwa.RS256(), f.key, "k1", idClaims())); err != nil {
			t.Fatalf("Verify #%d: %v", i, err)
		}
	}
	if got := f.jwks.hits.Load(); got != 1 {
		t.Errorf("JWKS hits = %d, want 1", got)
	}
}

func TestPrefetch(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	if err := v.Prefetch(context.Background()); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(t, jwa.RS256(), f.key, "k1", accessClaims())); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := f.jwks.hits.Load(); got != 1 {
		t.Errorf("JWKS hits = %d, want 1 (prefetched keys reused)", got)
	}

	down := newFixture(t)
	down.jwks.set(nil)
	err := down.verifier(t, nil).Prefetch(context.Background())
	if got := apperr.CodeOf(err); got != apperr.Unavailable {
		t.Errorf("Prefetch against a broken JWKS: code %q (err %v), want %q", got, err, apperr.Unavailable)
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, jwa.RS256(), f.key, "k1", idClaims())); err != nil {
		t.Fatalf("Verify with k1: %v", err)
	}

	// The pool publishes a second key and, a while later, starts signing with it.
	k2 := newRSAKey(t)
	f.jwks.set(jwksDoc(t, map[string]*rsa.PublicKey{"k1": &f.key.PublicKey, "k2": &k2.PublicKey}))
	f.clock.Advance(f.cfg.MinRefreshInterval + time.Second)

	got, err := v.Verify(ctx, sign(t, jwa.RS256(), k2, "k2", idClaims()))
	if err != nil {
		t.Fatalf("Verify with rotated key k2: %v", err)
	}
	if got.Subject != testSubject {
		t.Errorf("subject = %q, want %q", got.Subject, testSubject)
	}
	if hits := f.jwks.hits.Load(); hits != 2 {
		t.Errorf("JWKS hits after rotation = %d, want 2 (exactly one refetch)", hits)
	}
	for _, tc := range []struct {
		kid string
		key *rsa.PrivateKey
	}{{"k1", f.key}, {"k2", k2}, {"k2", k2}} {
		if _, err := v.Verify(ctx, sign(t, jwa.RS256(), tc.key, tc.kid, idClaims())); err != nil {
			t.Errorf("Verify with %s after rotation: %v", tc.kid, err)
		}
	}
	if hits := f.jwks.hits.Load(); hits != 2 {
		t.Errorf("JWKS hits after reuse = %d, want 2", hits)
	}
}

func TestVerifyUnknownKidRateLimited(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	ctx := context.Background()
	if err := v.Prefetch(ctx); err != nil {
		t.Fatal(err)
	}
	attacker := newRSAKey(t)
	unknown := func(i int) string {
		return sign(t, jwa.RS256(), attacker, "made-up-"+string(rune('a'+i)), idClaims())
	}
	steps := []struct {
		name     string
		advance  time.Duration
		tokens   int
		wantHits int64
	}{
		{name: "within the interval of the first fetch", advance: 10 * time.Second, tokens: 10, wantHits: 1},
		{name: "interval passed: one refetch for many kids", advance: time.Minute, tokens: 10, wantHits: 2},
		{name: "half an interval later: none", advance: 30 * time.Second, tokens: 10, wantHits: 2},
		{name: "a full interval after the refetch: one more", advance: 31 * time.Second, tokens: 10, wantHits: 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f.clock.Advance(st.advance)
			for i := range st.tokens {
				_, err := v.Verify(ctx, unknown(i))
				if e := apperr.As(err); e == nil || e.Code != apperr.Unauthenticated || !strings.Contains(e.Message, "unknown") {
					t.Fatalf("Verify with an unknown kid: %v; want unauthenticated, unknown key", err)
				}
			}
			if got := f.jwks.hits.Load(); got != st.wantHits {
				t.Errorf("JWKS hits = %d, want %d", got, st.wantHits)
			}
		})
	}
	if _, err := v.Verify(ctx, sign(t, jwa.RS256(), f.key, "k1", idClaims())); err != nil {
		t.Errorf("a good token after the flood: %v", err)
	}
}

func TestVerifyCoalescesConcurrentFetches(t *testing.T) {
	f := newFixture(t)
	f.jwks.setDelay(100 * time.Millisecond)
	v := f.verifier(t, nil)
	token := sign(t, jwa.RS256(), f.key, "k1", idClaims())

	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), token) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Verify: %v", err)
	}
	if got := f.jwks.hits.Load(); got != 1 {
		t.Errorf("JWKS hits = %d, want 1", got)
	}
}

func TestVerifyJWKSUnavailable(t *testing.T) {
	tests := []struct {
		name      string
		breakJWKS func(f *fixture)
	}{
		{name: "500", breakJWKS: func(f *fixture) { f.jwks.set(nil) }},
		{name: "not JSON", breakJWKS: func(f *fixture) { f.jwks.set([]byte("<html>oops</html>")) }},
		{name: "no keys", breakJWKS: func(f *fixture) { f.jwks.set([]byte(`{"keys":[]}`)) }},
		{name: "connection refused", breakJWKS: func(f *fixture) { f.jwks.Close() }},
		{name: "too slow", breakJWKS: func(f *fixture) { f.jwks.setDelay(time.Second); f.cfg.JWKSTimeout = 100 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.breakJWKS(f)
			v := f.verifier(t, nil)
			token := sign(t, jwa.RS256(), f.key, "k1", idClaims())
			_, err := v.Verify(context.Background(), token)
			e := apperr.As(err)
			if e == nil || e.Code != apperr.Unavailable {
				t.Fatalf("Verify with nothing cached and the JWKS broken: %v; want %q", err, apperr.Unavailable)
			}
			if e.RetryAfter <= 0 {
				t.Errorf("RetryAfter = %s, want > 0", e.RetryAfter)
			}
			assertNoToken(t, err, token)
		})
	}
}

func TestVerifyJWKSRecoversFromColdFailure(t *testing.T) {
	f := newFixture(t)
	good := jwksDoc(t, map[string]*rsa.PublicKey{"k1": &f.key.PublicKey})
	f.jwks.set(nil)
	v := f.verifier(t, nil)
	ctx := context.Background()
	token := sign(t, jwa.RS256(), f.key, "k1", idClaims())

	for range 5 {
		if _, err := v.Verify(ctx, token); apperr.CodeOf(err) != apperr.Unavailable {
			t.Fatalf("Verify while down: %v, want unavailable", err)
		}
	}
	if got := f.jwks.hits.Load(); got != 1 {
		t.Errorf("JWKS hits while down within a second = %d, want 1", got)
	}
	f.jwks.set(good)
	f.clock.Advance(coldRetryInterval)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify after the JWKS came back: %v", err)
	}
	if got := f.jwks.hits.Load(); got != 2 {
		t.Errorf("JWKS hits = %d, want 2", got)
	}
}

func TestVerifyJWKSDownWithKeysCached(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, nil)
	ctx := context.Background()
	token := sign(t, jwa.RS256(), f.key, "k1", idClaims())
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	f.jwks.set(nil)
	f.clock.Advance(2 * f.cfg.MinRefreshInterval)
	// An unknown kid makes it refetch, which fails: the old keys stay.
	_, err := v.Verify(ctx, sign(t, jwa.RS256(), newRSAKey(t), "k9", idClaims()))
	if e := apperr.As(err); e == nil || e.Code != apperr.Unauthenticated {
		t.Fatalf("Verify with unknown kid while the JWKS is down: %v; want unauthenticated", err)
	}
	if got := f.jwks.hits.Load(); got != 2 {
		t.Errorf("JWKS hits = %d, want 2 (one failed refetch)", got)
	}
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("Verify with cached key while the JWKS is down: %v", err)
	}

	f.jwks.Close()
	f.clock.Advance(2 * f.cfg.MinRefreshInterval)
	_, _ = v.Verify(ctx, sign(t, jwa.RS256(), newRSAKey(t), "k9", idClaims()))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Errorf("Verify with cached key while the JWKS server is gone: %v", err)
	}
}

func TestVerifyContextCancelled(t *testing.T) {
	f := newFixture(t)
	f.jwks.setDelay(500 * time.Millisecond)
	v := f.verifier(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Verify(ctx, sign(t, jwa.RS256(), f.key, "k1", idClaims()))
	if apperr.CodeOf(err) != apperr.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify with a cancelled context: %v; want unavailable wrapping the deadline", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("Verify waited %s for a fetch its caller gave up on", d)
	}
}

func TestNewVerifier(t *testing.T) {
	base := Config{Issuer: testIssuer, ClientIDs: []string{testClient}}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
		wantURL string
	}{
		{name: "defaults", wantURL: testIssuer + "/.well-known/jwks.json"},
		{name: "explicit JWKS URL", edit: func(c *Config) { c.JWKSURL = "http://127.0.0.1:4566/p/.well-known/jwks.json" }, wantURL: "http://127.0.0.1:4566/p/.well-known/jwks.json"},
		{name: "http issuer for tests", edit: func(c *Config) { c.Issuer = "http://127.0.0.1:9/pool" }, wantURL: "http://127.0.0.1:9/pool/.well-known/jwks.json"},
		{name: "no issuer", edit: func(c *Config) { c.Issuer = "" }, wantErr: "COGNITO_ISSUER"},
		{name: "issuer not a URL", edit: func(c *Config) { c.Issuer = "cognito" }, wantErr: "COGNITO_ISSUER"},
		{name: "issuer ftp", edit: func(c *Config) { c.Issuer = "ftp://example.com/p" }, wantErr: "COGNITO_ISSUER"},
		{name: "issuer trailing slash", edit: func(c *Config) { c.Issuer = testIssuer + "/" }, wantErr: "slash"},
		{name: "bad JWKS URL", edit: func(c *Config) { c.JWKSURL = "file:///etc/jwks.json" }, wantErr: "COGNITO_JWKS_URL"},
		{name: "no client ids", edit: func(c *Config) { c.ClientIDs = nil }, wantErr: "COGNITO_CLIENT_IDS"},
		{name: "blank client ids", edit: func(c *Config) { c.ClientIDs = []string{" ", ""} }, wantErr: "COGNITO_CLIENT_IDS"},
		{name: "token use refresh", edit: func(c *Config) { c.TokenUses = []string{"id", "refresh"} }, wantErr: "COGNITO_TOKEN_USE"},
		{name: "negative leeway", edit: func(c *Config) { c.Leeway = -time.Second }, wantErr: "COGNITO_LEEWAY"},
		{name: "negative refresh", edit: func(c *Config) { c.MinRefreshInterval = -time.Second }, wantErr: "COGNITO_JWKS_MIN_REFRESH"},
		{name: "negative timeout", edit: func(c *Config) { c.JWKSTimeout = -time.Second }, wantErr: "COGNITO_JWKS_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.ClientIDs = append([]string(nil), base.ClientIDs...)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			v, err := NewVerifier(cfg, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewVerifier: %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			if v.pool.Load().keys.url != tt.wantURL {
				t.Errorf("JWKS URL = %q, want %q", v.pool.Load().keys.url, tt.wantURL)
			}
			if diff := cmp.Diff([]string{TokenUseID, TokenUseAccess}, v.tokenUses); diff != "" {
				t.Errorf("token uses (-want +got):\n%s", diff)
			}
			if v.pool.Load().keys.minInterval != defaultMinRefreshInterval || v.pool.Load().keys.timeout != defaultJWKSTimeout {
				t.Errorf("zero durations not defaulted: refresh %s, timeout %s", v.pool.Load().keys.minInterval, v.pool.Load().keys.timeout)
			}
			if v.pool.Load().keys.client.Timeout != defaultJWKSTimeout {
				t.Errorf("default client timeout = %s, want %s", v.pool.Load().keys.client.Timeout, defaultJWKSTimeout)
			}
		})
	}
}

func TestIdentityInGroup(t *testing.T) {
	id := Identity{Groups: []string{"admins", "editors"}}
	tests := []struct {
		group string
		want  bool
	}{
		{"admins", true},
		{"editors", true},
		{"Admins", false},
		{"", false},
		{"readers", false},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			if got := id.InGroup(tt.group); got != tt.want {
				t.Errorf("InGroup(%q) = %v, want %v", tt.group, got, tt.want)
			}
		})
	}
	if (Identity{}).InGroup("admins") {
		t.Error("an identity without groups is in admins")
	}
}
