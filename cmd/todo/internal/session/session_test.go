package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// idToken returns a signed JWT with the claims an id token has. The signature does not
// matter to the CLI (it reads the claims; the API verifies them).
func idToken(t *testing.T, sub, email string, exp time.Time) string {
	t.Helper()
	b := jwt.NewBuilder().Subject(sub).Claim("token_use", "id")
	if email != "" {
		b = b.Claim("email", email)
	}
	if !exp.IsZero() {
		b = b.Expiration(exp)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatalf("build token: %v", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), []byte("test key, not a secret")))
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return string(signed)
}

func TestDefaultPath(t *testing.T) {
	got, err := DefaultPath(func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return "/cfg"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/cfg/serverless-architect/todo/session.json"; got != want {
		t.Errorf("DefaultPath = %q, want %q", got, want)
	}
}

func TestStoreModes(t *testing.T) {
	tests := []struct {
		name string
		// prepare makes the directory and file exist beforehand, with loose modes.
		prepare bool
	}{
		{name: "new directory and file"},
		{name: "existing loose directory and file", prepare: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "serverless-architect", "todo")
			st := Store{Path: filepath.Join(dir, "session.json")}
			if tt.prepare {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(st.Path, []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := &Session{
				Email: "a@example.com", Sub: "sub-1", ClientID: "client-1",
				IDToken: "id", AccessToken: "access", RefreshToken: "refresh",
				Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
			}
			if err := st.Save(want); err != nil {
				t.Fatalf("Save: %v", err)
			}
			fi, err := os.Stat(st.Path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("file mode = %o, want 600", got)
			}
			di, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := di.Mode().Perm(); got != 0o700 {
				t.Errorf("directory mode = %o, want 700", got)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only session.json (temporary files left?)", len(entries))
			}
			got, err := st.Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
			if err := st.Delete(); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := st.Load(); !errors.Is(err, ErrNotLoggedIn) {
				t.Errorf("Load after Delete: err = %v, want ErrNotLoggedIn", err)
			}
			if err := st.Delete(); err != nil {
				t.Errorf("second Delete: %v, want nil", err)
			}
		})
	}
}

func TestLoadCorrupt(t *testing.T) {
	st := Store{Path: filepath.Join(t.TempDir(), "session.json")}
	if err := os.WriteFile(st.Path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(); err == nil || errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Load of a corrupt file: err = %v, want a parse error", err)
	}
}

func TestNew(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	exp := now.Add(time.Hour)
	tests := []struct {
		name   string
		tokens func(t *testing.T) Tokens
		want   *Session
	}{
		{
			name: "claims from the id token",
			tokens: func(t *testing.T) Tokens {
				return Tokens{IDToken: idToken(t, "sub-1", "claim@example.com", exp), AccessToken: "acc", RefreshToken: "ref", ExpiresIn: 5 * time.Minute}
			},
			want: &Session{Email: "claim@example.com", Sub: "sub-1", ClientID: "c", AccessToken: "acc", RefreshToken: "ref", Expiry: exp},
		},
		{
			name: "no exp or email claim",
			tokens: func(t *testing.T) Tokens {
				return Tokens{IDToken: idToken(t, "sub-2", "", time.Time{}), AccessToken: "acc", RefreshToken: "ref", ExpiresIn: 5 * time.Minute}
			},
			want: &Session{Email: "typed@example.com", Sub: "sub-2", ClientID: "c", AccessToken: "acc", RefreshToken: "ref", Expiry: now.Add(5 * time.Minute)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.tokens(t)
			got, err := New(tok, "c", "typed@example.com", now)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			tt.want.IDToken = tok.IDToken
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("New (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := New(Tokens{IDToken: "garbage"}, "c", "e", now); err == nil {
		t.Error("New with a malformed id token: err = nil, want an error")
	}
}

// fakeRefresher answers refreshes with fixed tokens or an error and records its calls.
type fakeRefresher struct {
	tokens Tokens
	err    error
	calls  []string // clientID + " " + refreshToken
}

func (f *fakeRefresher) Refresh(_ context.Context, clientID, refreshToken string) (Tokens, error) {
	f.calls = append(f.calls, clientID+" "+refreshToken)
	return f.tokens, f.err
}

func TestKeeperFresh(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	newExp := now.Add(time.Hour)
	netErr := errors.New("dial tcp 127.0.0.1:4566: connection refused")
	tests := []struct {
		name string
		// left is how long the stored id token has left.
		left         time.Duration
		noRefreshTok bool
		refreshErr   error
		// newRefresh is the refresh token the refresh returns ("" keeps the old one).
		newRefresh  string
		wantRefresh bool
		wantErr     error // matched with errors.Is; nil means success
		wantRefTok  string
	}{
		{name: "valid for long: no refresh", left: 10 * time.Minute, wantRefTok: "ref-1"},
		{name: "61s left: no refresh", left: 61 * time.Second, wantRefTok: "ref-1"},
		{name: "59s left: refresh", left: 59 * time.Second, wantRefresh: true, wantRefTok: "ref-1"},
		{name: "expired: refresh", left: -time.Hour, wantRefresh: true, wantRefTok: "ref-1"},
		{name: "refresh rotates the refresh token", left: -time.Hour, newRefresh: "ref-2", wantRefresh: true, wantRefTok: "ref-2"},
		{name: "refresh token revoked", left: -time.Hour, refreshErr: ErrExpired, wantRefresh: true, wantErr: ErrExpired},
		{name: "Cognito unreachable", left: -time.Hour, refreshErr: netErr, wantRefresh: true, wantErr: netErr},
		{name: "no refresh token", left: -time.Hour, noRefreshTok: true, wantErr: ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Store{Path: filepath.Join(t.TempDir(), "todo", "session.json")}
			old := &Session{
				Email: "a@example.com", Sub: "sub-1", ClientID: "client-1",
				IDToken: "old-id", AccessToken: "old-access", RefreshToken: "ref-1",
				Expiry: now.Add(tt.left),
			}
			if tt.noRefreshTok {
				old.RefreshToken = ""
			}
			if err := st.Save(old); err != nil {
				t.Fatal(err)
			}
			newID := idToken(t, "sub-1", "a@example.com", newExp)
			fr := &fakeRefresher{
				tokens: Tokens{IDToken: newID, AccessToken: "new-access", RefreshToken: tt.newRefresh, ExpiresIn: time.Hour},
				err:    tt.refreshErr,
			}
			k := &Keeper{
				Store:     st,
				Now:       func() time.Time { return now },
				Refresher: func(context.Context) (Refresher, error) { return fr, nil },
			}
			got, err := k.Fresh(context.Background())

			var wantCalls []string
			if tt.wantRefresh {
				wantCalls = []string{"client-1 ref-1"}
			}
			if diff := cmp.Diff(wantCalls, fr.calls); diff != "" {
				t.Errorf("refresh calls (-want +got):\n%s", diff)
			}
			stored, loadErr := st.Load()
			if loadErr != nil {
				t.Fatal(loadErr)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Fresh: err = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(old, stored); diff != "" {
					t.Errorf("stored session changed after a failed refresh (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fresh: %v", err)
			}
			want := old
			if tt.wantRefresh {
				want = &Session{
					Email: "a@example.com", Sub: "sub-1", ClientID: "client-1",
					IDToken: newID, AccessToken: "new-access", RefreshToken: tt.wantRefTok,
					Expiry: newExp,
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Fresh (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, stored); diff != "" {
				t.Errorf("stored session (-want +got):\n%s", diff)
			}
			// A second call within the same run uses the refreshed session.
			if _, err := k.Fresh(context.Background()); err != nil {
				t.Fatalf("second Fresh: %v", err)
			}
			if len(fr.calls) != len(wantCalls) {
				t.Errorf("second Fresh refreshed again: %d calls, want %d", len(fr.calls), len(wantCalls))
			}
		})
	}
}

func TestKeeperNotLoggedIn(t *testing.T) {
	k := &Keeper{Store: Store{Path: filepath.Join(t.TempDir(), "session.json")}}
	if _, err := k.Token(context.Background()); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Token without a session: err = %v, want ErrNotLoggedIn", err)
	}
}
