package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Following a user pool (local stacks only). When the local stack's moto comes back
// without its state, provisioning makes a new user pool: a new issuer, new app client
// ids and (on AWS) new keys. `sa dev` writes them to a pool file (Config.PoolFile) and
// the services' Verifiers read it again when a token names an issuer other than the
// one trusted now, so new users' tokens are accepted without a restart.
//
// The token only prompts a look at the file; what is trusted is always the file's
// content, never the token's claim: a token from any other pool is refused as before.
// The file is looked at no more than once per poolCheckInterval, whatever the tokens
// say. In production COGNITO_POOL_FILE is unset and the pool is fixed configuration.

// poolCheckInterval is the least time between two looks at the pool file.
const poolCheckInterval = time.Second

// PoolFile is the content of a pool file: one user pool's settings, as
// COGNITO_ISSUER, COGNITO_JWKS_URL and COGNITO_CLIENT_IDS would give them.
type PoolFile struct {
	// Issuer is the pool's issuer (the tokens' iss).
	Issuer string `json:"issuer"`
	// JWKSURL is where the pool's signing keys are fetched; default Issuer +
	// "/.well-known/jwks.json".
	JWKSURL string `json:"jwksUrl,omitempty"`
	// ClientIDs are the accepted app client ids.
	ClientIDs []string `json:"clientIds"`
}

// WritePoolFile writes p to path atomically (a reader sees the old file or the new
// one, never a part), after checking it as NewVerifier would.
func WritePoolFile(path string, p PoolFile) error {
	if _, _, _, err := checkPool(p.Issuer, p.JWKSURL, p.ClientIDs); err != nil {
		return fmt.Errorf("pool file %s: %w", path, err)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write pool file: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write pool file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write pool file %s: %w", path, err)
	}
	return nil
}

// readPoolFile reads and checks the pool file at path; found is false when there is
// none yet.
func readPoolFile(path string) (p PoolFile, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return PoolFile{}, false, nil
	}
	if err != nil {
		return PoolFile{}, false, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return PoolFile{}, false, fmt.Errorf("%s is not a pool file (issuer, jwksUrl, clientIds): %w", path, err)
	}
	if p.Issuer, p.JWKSURL, p.ClientIDs, err = checkPool(p.Issuer, p.JWKSURL, p.ClientIDs); err != nil {
		return PoolFile{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return p, true, nil
}

// Trusts reports whether id was verified against the user pool trusted now: false
// once a followed pool file names another pool. A cache of verified identities (the
// gateway's) asks it on every hit.
func (v *Verifier) Trusts(id Identity) bool { return id.Issuer == v.pool.Load().issuer }

// poolFollower remembers which version of the pool file the Verifier trusts.
type poolFollower struct {
	path string

	mu        sync.Mutex
	lastCheck time.Time
	modTime   time.Time
	size      int64
}

// seen records the file's current version (at start, when NewVerifier read it).
func (f *poolFollower) seen(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCheck = now
	if fi, err := os.Stat(f.path); err == nil {
		f.modTime, f.size = fi.ModTime(), fi.Size()
	}
}

// trusted is the pool to verify raw against: the current one, after reading the pool
// file again if the Verifier follows one, raw's (unverified) iss is another issuer,
// and the file changed since it was last read.
func (v *Verifier) trusted(raw []byte) *trustedPool {
	cur := v.pool.Load()
	if v.follow == nil {
		return cur
	}
	tok, err := jwt.Parse(raw, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return cur
	}
	if iss, _ := tok.Issuer(); iss == cur.issuer {
		return cur
	}
	return v.reloadPool(cur)
}

// reloadPool reads the pool file if it changed and is due a look, and returns the pool
// trusted afterwards. A file that is unreadable or wrong keeps the current pool and is
// logged.
func (v *Verifier) reloadPool(cur *trustedPool) *trustedPool {
	f := v.follow
	f.mu.Lock()
	defer f.mu.Unlock()
	now := v.now()
	if now.Sub(f.lastCheck) < poolCheckInterval {
		return v.pool.Load()
	}
	f.lastCheck = now
	fi, err := os.Stat(f.path)
	if err != nil || fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return v.pool.Load()
	}
	p, found, err := readPoolFile(f.path)
	if err != nil || !found {
		v.log.Warn("the user pool file cannot be read; keeping the pool trusted so far", "file", f.path, "issuer", cur.issuer, "err", err)
		return v.pool.Load()
	}
	f.modTime, f.size = fi.ModTime(), fi.Size()
	if p.Issuer == cur.issuer && p.JWKSURL == cur.keys.url && slices.Equal(p.ClientIDs, cur.clientIDs) {
		return cur
	}
	old := cur.keys
	next := &trustedPool{issuer: p.Issuer, clientIDs: p.ClientIDs, keys: &keyCache{
		url: p.JWKSURL, client: old.client, timeout: old.timeout, minInterval: old.minInterval, now: old.now, log: old.log,
	}}
	v.pool.Store(next)
	v.log.Info("following the user pool in the pool file", "file", f.path, "issuer", p.Issuer, "was", cur.issuer)
	return next
}
