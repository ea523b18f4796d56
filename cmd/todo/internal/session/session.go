// Package session keeps the signed-in user's Cognito tokens between runs of the todo CLI,
// the way the mobile app keeps them in its keychain: a JSON file readable only by its
// owner, refreshed with the refresh token shortly before the id token expires.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// ErrNotLoggedIn is returned when there is no session file.
var ErrNotLoggedIn = errors.New("not logged in: run todo login")

// ErrExpired is returned when the session can no longer be refreshed (the refresh token
// was revoked or has expired). Refreshers wrap it when Cognito rejects a refresh token.
var ErrExpired = errors.New("session expired: run todo login")

// RefreshMargin is how long before its expiry an id token is refreshed.
const RefreshMargin = 60 * time.Second

// Session is the content of the session file.
type Session struct {
	// Email is the signed-in user's email (the user name in the pool).
	Email string `json:"email"`
	// Sub is the user's id in the pool, the `sub` of the tokens.
	Sub string `json:"sub"`
	// ClientID is the app client that issued the tokens; refreshes go to it.
	ClientID string `json:"clientId"`
	// IDToken is the bearer token sent to the API.
	IDToken string `json:"idToken"`
	// AccessToken is the Cognito access token (used for GlobalSignOut).
	AccessToken string `json:"accessToken"`
	// RefreshToken gets new id and access tokens.
	RefreshToken string `json:"refreshToken"`
	// Expiry is when IDToken expires.
	Expiry time.Time `json:"expiry"`
}

// Tokens are what Cognito returns from a sign-in or a refresh.
type Tokens struct {
	IDToken      string
	AccessToken  string
	RefreshToken string // empty on a refresh: the old one stays valid
	ExpiresIn    time.Duration
}

// New builds a session from freshly issued tokens. Sub, email and expiry come from the
// id token's claims (read, not verified: the API verifies it); when the token has no
// exp, the expiry is now plus ExpiresIn.
func New(t Tokens, clientID, email string, now time.Time) (*Session, error) {
	s := &Session{ClientID: clientID, Email: email}
	if err := s.apply(t, now); err != nil {
		return nil, err
	}
	return s, nil
}

// apply stores t in s, keeping the old refresh token when t has none.
func (s *Session) apply(t Tokens, now time.Time) error {
	if t.IDToken == "" {
		return errors.New("cognito returned no id token")
	}
	tok, err := jwt.ParseInsecure([]byte(t.IDToken))
	if err != nil {
		return fmt.Errorf("read id token: %w", err)
	}
	if sub, ok := tok.Subject(); ok {
		s.Sub = sub
	}
	var email string
	if err := tok.Get("email", &email); err == nil && email != "" {
		s.Email = email
	}
	if exp, ok := tok.Expiration(); ok {
		s.Expiry = exp.UTC()
	} else {
		s.Expiry = now.Add(t.ExpiresIn).UTC()
	}
	s.IDToken = t.IDToken
	s.AccessToken = t.AccessToken
	if t.RefreshToken != "" {
		s.RefreshToken = t.RefreshToken
	}
	return nil
}

// Store is the session file.
type Store struct {
	// Path is the file's location.
	Path string
}

// DefaultPath returns $XDG_CONFIG_HOME/serverless-architect/todo/session.json, using
// os.UserConfigDir when getenv has no XDG_CONFIG_HOME.
func DefaultPath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find the session directory: %w", err)
		}
		dir = d
	}
	return filepath.Join(dir, "serverless-architect", "todo", "session.json"), nil
}

// Load reads the session, ErrNotLoggedIn when there is none.
func (s Store) Load() (*Session, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(b, &sess); err != nil {
		return nil, fmt.Errorf("read session %s: %w (run todo login)", s.Path, err)
	}
	return &sess, nil
}

// Save writes the session atomically with mode 0600 in a directory with mode 0700.
func (s Store) Save(sess *Session) error {
	b, err := json.MarshalIndent(sess, "", "  ")
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if err := WritePrivate(s.Path, append(b, '\n')); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// WritePrivate writes b to path atomically (a temporary file renamed over it), the
// file with mode 0600 in a directory with mode 0700: the session and everything kept
// beside it hold credentials.
func WritePrivate(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// MkdirAll leaves an existing directory alone: tighten it in case it was made by hand.
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	// CreateTemp makes the file 0600; Chmod says so explicitly.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Delete removes the session file. Deleting a missing file is not an error.
func (s Store) Delete() error {
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Refresher exchanges a refresh token for new tokens. When Cognito rejects the refresh
// token (revoked, expired), the error wraps ErrExpired.
type Refresher interface {
	Refresh(ctx context.Context, clientID, refreshToken string) (Tokens, error)
}

// Keeper hands out a session whose id token is valid for at least RefreshMargin,
// refreshing and saving it when needed.
type Keeper struct {
	Store Store
	// Refresher returns the refresher; it is called only when a refresh is due, so
	// commands that need none never build a Cognito client.
	Refresher func(ctx context.Context) (Refresher, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	cur *Session
}

// Current returns the session as stored, without refreshing it.
func (k *Keeper) Current() (*Session, error) {
	if k.cur != nil {
		return k.cur, nil
	}
	s, err := k.Store.Load()
	if err != nil {
		return nil, err
	}
	k.cur = s
	return s, nil
}

// Fresh returns the session, refreshed first when its id token expires within
// RefreshMargin.
func (k *Keeper) Fresh(ctx context.Context) (*Session, error) { return k.fresh(ctx, false) }

// Renew returns the session refreshed now, whatever its stored expiry says: for a
// token the API refused as expired (clock skew, or it expired on the way).
func (k *Keeper) Renew(ctx context.Context) (*Session, error) { return k.fresh(ctx, true) }

// RenewToken is Renew's id token, the API client's renewal (api.Client.WithRenew).
func (k *Keeper) RenewToken(ctx context.Context) (string, error) {
	s, err := k.Renew(ctx)
	if err != nil {
		return "", err
	}
	return s.IDToken, nil
}

func (k *Keeper) fresh(ctx context.Context, force bool) (*Session, error) {
	s, err := k.Current()
	if err != nil {
		return nil, err
	}
	now := k.now()
	if !force && s.Expiry.Sub(now) > RefreshMargin {
		return s, nil
	}
	if s.RefreshToken == "" {
		return nil, ErrExpired
	}
	r, err := k.Refresher(ctx)
	if err != nil {
		return nil, fmt.Errorf("refresh session: %w", err)
	}
	t, err := r.Refresh(ctx, s.ClientID, s.RefreshToken)
	if err != nil {
		if errors.Is(err, ErrExpired) {
			return nil, ErrExpired
		}
		return nil, fmt.Errorf("refresh session: %w", err)
	}
	next := *s
	if err := next.apply(t, now); err != nil {
		return nil, fmt.Errorf("refresh session: %w", err)
	}
	if err := k.Store.Save(&next); err != nil {
		return nil, err
	}
	k.cur = &next
	return &next, nil
}

// Token returns a valid id token, the API's bearer token.
func (k *Keeper) Token(ctx context.Context) (string, error) {
	s, err := k.Fresh(ctx)
	if err != nil {
		return "", err
	}
	return s.IDToken, nil
}

func (k *Keeper) now() time.Time {
	if k.Now == nil {
		return time.Now()
	}
	return k.Now()
}
