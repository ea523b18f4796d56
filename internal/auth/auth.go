// Package auth verifies Amazon Cognito User Pool tokens (id and access tokens) for the
// HTTP services, and carries the caller's Identity in the request context.
//
// Trust decisions:
//
//   - Signatures are checked by github.com/lestrrat-go/jwx/v3; nothing here does crypto.
//   - Only RS256 is accepted, which is what Cognito signs with. The protected header's
//     `alg` is checked before any key is looked up, and the key is then used with RS256
//     explicitly, never with the algorithm the token names. So `none`, HS256/384/512
//     (including HMAC "signed" with the RSA public key as the secret), ES* and PS* are
//     refused. A `kid` is required; keys are looked up by it, never tried in turn.
//   - Keys come only from the configured JWKS URL (Config.JWKSURL). Header parameters
//     that point elsewhere (`jku`, `x5u`, `jwk`, `x5c`) are ignored. Only RSA public keys
//     of at least 2048 bits whose `use` is "sig" (or absent) and whose `alg` is RS256 (or
//     absent) are kept.
//   - Claims: `iss` must equal Config.Issuer exactly (with moto every pool shares one
//     key, so the issuer is what tells pools apart); `exp` is required and `nbf`/`iat` are
//     honoured, each with Config.Leeway of clock skew; `token_use` must be one of
//     Config.TokenUses; an id token's `aud` must hold an accepted app client id, an
//     access token's `client_id` must be one; `sub` is required.
//   - Every token problem is an *apperr.Error with code apperr.Unauthenticated and a
//     fixed, safe message. The token itself never appears in a message or a log line.
//
// Key cache: keys are fetched lazily, on the first Verify (or by Prefetch), never at
// construction, so a service is ready in milliseconds. They are kept with no TTL: a
// token with a kid the cache does not know triggers a refetch, at most once per
// Config.MinRefreshInterval, with concurrent refetches coalesced into one request. This
// follows Cognito's rotation model (a new key is published before it signs anything)
// without polling, and bounds what a flood of tokens with made-up kids can cost: one
// JWKS request per interval. A failed refetch keeps the keys already held. Only when no
// key has ever been loaded does Verify answer apperr.Unavailable (HTTP 503); in that
// state a failed fetch is retried no more than once a second.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// Token uses Cognito puts in the `token_use` claim that this package accepts.
const (
	TokenUseID     = "id"
	TokenUseAccess = "access"
)

// maxTokenBytes bounds the size of a token Verify will look at. Cognito tokens are a
// few KiB even with many groups.
const maxTokenBytes = 16 << 10

// Config says which tokens a Verifier accepts. Services embed it as a named field
// (`Auth auth.Config`) in their env config; zero values of MinRefreshInterval,
// JWKSTimeout and TokenUses, which only a config built in code can have, take the
// env defaults, while a zero Leeway means no leeway.
type Config struct {
	// Issuer is the user pool's issuer, https://cognito-idp.<region>.amazonaws.com/<poolId>;
	// a token's `iss` must equal it exactly.
	Issuer string `env:"COGNITO_ISSUER,required"`
	// JWKSURL is where the pool's signing keys are fetched; default Issuer +
	// "/.well-known/jwks.json". moto serves it at <moto>/<poolId>/.well-known/jwks.json
	// while its tokens keep the AWS-shaped issuer.
	JWKSURL string `env:"COGNITO_JWKS_URL"`
	// ClientIDs are the accepted app client ids.
	ClientIDs []string `env:"COGNITO_CLIENT_IDS,required" envSeparator:","`
	// TokenUses are the accepted `token_use` values, a subset of {id, access}.
	TokenUses []string `env:"COGNITO_TOKEN_USE" envDefault:"id,access" envSeparator:","`
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	Leeway time.Duration `env:"COGNITO_LEEWAY" envDefault:"5s"`
	// MinRefreshInterval is the least time between two JWKS fetches caused by tokens
	// with an unknown kid.
	MinRefreshInterval time.Duration `env:"COGNITO_JWKS_MIN_REFRESH" envDefault:"1m"`
	// JWKSTimeout bounds one JWKS fetch.
	JWKSTimeout time.Duration `env:"COGNITO_JWKS_TIMEOUT" envDefault:"3s"`
	// PoolFile, for local stacks only, names a JSON file (PoolFile) whose issuer,
	// JWKS URL and client ids replace the three above, and which the Verifier reads
	// again when it changes (pool.go). Unset in production, where the pool is fixed.
	PoolFile string `env:"COGNITO_POOL_FILE"`
}

// Defaults applied by NewVerifier to zero values of a Config built in code.
const (
	defaultMinRefreshInterval = time.Minute
	defaultJWKSTimeout        = 3 * time.Second
)

// Identity is the authenticated caller, as a verified token describes it.
type Identity struct {
	// Subject is the user's stable id, the `sub` claim.
	Subject string
	// Username is `cognito:username` (id tokens) or `username` (access tokens).
	Username string
	// Email is the `email` claim of an id token, when the app client may read it.
	Email string
	// Groups are the user's `cognito:groups`.
	Groups []string
	// TokenUse is "id" or "access".
	TokenUse string
	// ClientID is the app client the token was issued to: the accepted `aud` of an id
	// token, the `client_id` of an access token.
	ClientID string
	// Expiry is the token's `exp`.
	Expiry time.Time
	// Issuer is the user pool that issued the token, its `iss`.
	Issuer string
}

// InGroup reports whether the caller is a member of Cognito group g.
func (i Identity) InGroup(g string) bool {
	return slices.Contains(i.Groups, g)
}

// Verifier verifies Cognito tokens against one user pool. It is safe for concurrent use.
type Verifier struct {
	tokenUses []string
	leeway    time.Duration
	now       func() time.Time
	log       *slog.Logger
	// pool is the user pool trusted now: fixed, unless follow re-reads it from a file.
	pool   atomic.Pointer[trustedPool]
	follow *poolFollower
}

// trustedPool is one user pool's issuer, accepted app clients and signing keys.
type trustedPool struct {
	issuer    string
	clientIDs []string
	keys      *keyCache
}

// Option changes how NewVerifier builds a Verifier.
type Option func(*options)

type options struct {
	log *slog.Logger
	now func() time.Time
}

// WithLogger makes the Verifier (and its Middleware) log to l instead of slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// withClock makes the Verifier read the time from now; for tests.
func withClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// NewVerifier validates cfg and returns a Verifier for it. With a nil client, JWKS
// fetches use an http.Client whose timeout is cfg.JWKSTimeout; every fetch is bounded by
// JWKSTimeout either way. NewVerifier fetches nothing: keys are fetched on the first
// Verify, or by Prefetch.
func NewVerifier(cfg Config, client *http.Client, opts ...Option) (*Verifier, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.now == nil {
		o.now = time.Now
	}

	if cfg.PoolFile != "" {
		p, found, err := readPoolFile(cfg.PoolFile)
		if err != nil {
			return nil, fmt.Errorf("auth config: COGNITO_POOL_FILE: %w", err)
		}
		if found {
			cfg.Issuer, cfg.JWKSURL, cfg.ClientIDs = p.Issuer, p.JWKSURL, p.ClientIDs
		}
	}
	issuer, jwksURL, clientIDs, err := checkPool(cfg.Issuer, cfg.JWKSURL, cfg.ClientIDs)
	if err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}

	uses := cfg.TokenUses
	if len(uses) == 0 {
		uses = []string{TokenUseID, TokenUseAccess}
	}
	var tokenUses []string
	for _, u := range uses {
		u = strings.TrimSpace(u)
		if u != TokenUseID && u != TokenUseAccess {
			return nil, fmt.Errorf("auth config: COGNITO_TOKEN_USE: %q is not %q or %q", u, TokenUseID, TokenUseAccess)
		}
		tokenUses = append(tokenUses, u)
	}

	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth config: COGNITO_LEEWAY must not be negative, got %s", cfg.Leeway)
	}
	minRefresh := cfg.MinRefreshInterval
	if minRefresh == 0 {
		minRefresh = defaultMinRefreshInterval
	}
	if minRefresh < 0 {
		return nil, fmt.Errorf("auth config: COGNITO_JWKS_MIN_REFRESH must be positive, got %s", minRefresh)
	}
	timeout := cfg.JWKSTimeout
	if timeout == 0 {
		timeout = defaultJWKSTimeout
	}
	if timeout < 0 {
		return nil, fmt.Errorf("auth config: COGNITO_JWKS_TIMEOUT must be positive, got %s", timeout)
	}
	if client == nil {
		client = &http.Client{Timeout: timeout}
	}

	v := &Verifier{
		tokenUses: tokenUses,
		leeway:    cfg.Leeway,
		now:       o.now,
		log:       o.log,
	}
	v.pool.Store(&trustedPool{issuer: issuer, clientIDs: clientIDs, keys: &keyCache{
		url:         jwksURL,
		client:      client,
		timeout:     timeout,
		minInterval: minRefresh,
		now:         o.now,
		log:         o.log,
	}})
	if cfg.PoolFile != "" {
		v.follow = &poolFollower{path: cfg.PoolFile}
		v.follow.seen(o.now())
	}
	return v, nil
}

// checkPool validates one pool's settings (from the environment or a pool file) and
// returns them cleaned: the JWKS URL defaulted, blank client ids dropped.
func checkPool(issuer, jwksURL string, ids []string) (string, string, []string, error) {
	if err := checkURL(issuer); err != nil {
		return "", "", nil, fmt.Errorf("COGNITO_ISSUER: %w", err)
	}
	if strings.HasSuffix(issuer, "/") {
		return "", "", nil, fmt.Errorf("COGNITO_ISSUER %q must not end with a slash (Cognito's iss has none)", issuer)
	}
	if jwksURL == "" {
		jwksURL = issuer + "/.well-known/jwks.json"
	}
	if err := checkURL(jwksURL); err != nil {
		return "", "", nil, fmt.Errorf("COGNITO_JWKS_URL: %w", err)
	}
	var clientIDs []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			clientIDs = append(clientIDs, id)
		}
	}
	if len(clientIDs) == 0 {
		return "", "", nil, errors.New("COGNITO_CLIENT_IDS must name at least one app client id")
	}
	return issuer, jwksURL, clientIDs, nil
}

// checkURL accepts absolute http and https URLs with a host. Plain http is for tests and
// for moto; Cognito itself is always https.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("must be set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q must be an https (or, for tests, http) URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// Prefetch fetches the signing keys now, so that the first request does not wait for
// them. Services may call it in the background after start; it obeys the same rate
// limit as refetches on an unknown kid. It returns an apperr.Unavailable error when no
// keys could be loaded.
func (v *Verifier) Prefetch(ctx context.Context) error {
	keys := v.pool.Load().keys
	err := keys.refresh(ctx)
	if keys.loaded() {
		return nil
	}
	return unavailable(err)
}

// Verify checks token (the compact JWS, without "Bearer ") and returns the identity it
// carries. Every token problem is an *apperr.Error with code apperr.Unauthenticated;
// when no signing keys can be had, the code is apperr.Unavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, unauthenticated("missing token", nil)
	}
	if len(token) > maxTokenBytes {
		return Identity{}, unauthenticated("token is too large", nil)
	}
	raw := []byte(token)

	msg, err := jws.Parse(raw, jws.WithCompact())
	if err != nil {
		return Identity{}, unauthenticated("malformed token", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 || sigs[0].ProtectedHeaders() == nil {
		return Identity{}, unauthenticated("malformed token", nil)
	}
	hdr := sigs[0].ProtectedHeaders()
	if alg, ok := hdr.Algorithm(); !ok || alg != jwa.RS256() {
		return Identity{}, unauthenticated("token signing algorithm is not allowed; only RS256 is accepted", nil)
	}
	kid, ok := hdr.KeyID()
	if !ok || kid == "" {
		return Identity{}, unauthenticated("token has no key id (kid)", nil)
	}

	pool := v.trusted(raw)
	key, err := pool.keys.key(ctx, kid)
	if err != nil {
		return Identity{}, err
	}

	tok, err := jwt.Parse(raw, jwt.WithKey(jwa.RS256(), key), jwt.WithValidate(false))
	if err != nil {
		if errors.Is(err, jws.VerifyError()) {
			return Identity{}, unauthenticated("token signature is invalid", err)
		}
		return Identity{}, unauthenticated("malformed token", err)
	}
	return v.claims(tok, pool)
}

// claims checks the claims of a token whose signature is good and builds the Identity.
func (v *Verifier) claims(tok jwt.Token, pool *trustedPool) (Identity, error) {
	if iss, _ := tok.Issuer(); iss != pool.issuer {
		return Identity{}, unauthenticated("token issuer is not accepted", nil)
	}
	exp, ok := tok.Expiration()
	if !ok {
		return Identity{}, unauthenticated("token has no expiry (exp)", nil)
	}
	if err := jwt.Validate(tok, jwt.WithClock(jwt.ClockFunc(v.now)), jwt.WithAcceptableSkew(v.leeway)); err != nil {
		switch {
		case errors.Is(err, jwt.TokenExpiredError()):
			return Identity{}, unauthenticated("token has expired", err)
		case errors.Is(err, jwt.TokenNotYetValidError()):
			return Identity{}, unauthenticated("token is not valid yet", err)
		case errors.Is(err, jwt.InvalidIssuedAtError()):
			return Identity{}, unauthenticated("token was issued in the future", err)
		default:
			return Identity{}, unauthenticated("token claims are invalid", err)
		}
	}

	use, ok := stringClaim(tok, "token_use")
	if !ok {
		return Identity{}, unauthenticated("token has no token_use", nil)
	}
	if !slices.Contains(v.tokenUses, use) {
		return Identity{}, unauthenticated(fmt.Sprintf("token_use is not accepted here; accepted: %s", strings.Join(v.tokenUses, ", ")), nil)
	}

	id := Identity{TokenUse: use, Expiry: exp, Issuer: pool.issuer}
	switch use {
	case TokenUseID:
		aud, _ := tok.Audience()
		for _, a := range aud {
			if slices.Contains(pool.clientIDs, a) {
				id.ClientID = a
				break
			}
		}
		if id.ClientID == "" {
			return Identity{}, unauthenticated("token audience is not an accepted app client", nil)
		}
		id.Username, _ = stringClaim(tok, "cognito:username")
		id.Email, _ = stringClaim(tok, "email")
	case TokenUseAccess:
		cid, _ := stringClaim(tok, "client_id")
		if cid == "" || !slices.Contains(pool.clientIDs, cid) {
			return Identity{}, unauthenticated("token client_id is not an accepted app client", nil)
		}
		id.ClientID = cid
		id.Username, _ = stringClaim(tok, "username")
	}

	id.Subject, _ = tok.Subject()
	if id.Subject == "" {
		return Identity{}, unauthenticated("token has no subject (sub)", nil)
	}
	groups, err := stringsClaim(tok, "cognito:groups")
	if err != nil {
		return Identity{}, unauthenticated("token cognito:groups is malformed", err)
	}
	id.Groups = groups
	return id, nil
}

// stringClaim returns a private claim that must be a string.
func stringClaim(tok jwt.Token, name string) (string, bool) {
	var v any
	if err := tok.Get(name, &v); err != nil {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// stringsClaim returns a private claim that, when present, must be an array of strings.
func stringsClaim(tok jwt.Token, name string) ([]string, error) {
	if !tok.Has(name) {
		return nil, nil
	}
	var v any
	if err := tok.Get(name, &v); err != nil {
		return nil, fmt.Errorf("claim %s: %w", name, err)
	}
	switch v := v.(type) {
	case []string:
		return slices.Clone(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("claim %s: element is %T, not a string", name, e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("claim %s: %T is not an array of strings", name, v)
	}
}

func unauthenticated(msg string, cause error) *apperr.Error {
	return &apperr.Error{Code: apperr.Unauthenticated, Message: msg, Err: cause}
}

func unavailable(cause error) *apperr.Error {
	return &apperr.Error{
		Code:       apperr.Unavailable,
		Message:    "token signing keys are unavailable; try again later",
		RetryAfter: coldRetryInterval,
		Err:        cause,
	}
}
