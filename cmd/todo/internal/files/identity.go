// Package files is the todo CLI's side of the user's own folder in the files bucket, in
// the three ways a client can reach it:
//
//   - the identity-pool flow, as the mobile app does it: GetId and
//     GetCredentialsForIdentity with the user-pool id token in Logins, then S3 directly
//     with those credentials (cached on disk until shortly before they expire);
//   - token vending: credentials from todo-api's POST /v1/files/credentials, then S3
//     directly;
//   - presigned URLs from todo-api, then plain HTTPS to S3.
package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/session"
)

// RefreshMargin is how long before their expiry cached credentials are replaced.
const RefreshMargin = 30 * time.Second

// Cached is the content of the credentials cache file.
type Cached struct {
	// Sub is the user-pool user the identity belongs to; another user's cache is ignored.
	Sub string `json:"sub"`
	// IdentityPoolID and IdentityID name the Cognito identity (GetId is called once:
	// the id is the user's folder, users/<IdentityID>/).
	IdentityPoolID string `json:"identityPoolId"`
	IdentityID     string `json:"identityId"`
	// The temporary credentials and their expiry.
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	SessionToken    string    `json:"sessionToken"`
	Expiration      time.Time `json:"expiration"`
}

// Cache is the credentials cache file, next to the session file, mode 0600.
type Cache struct {
	// Path is the file's location.
	Path string
}

// CachePath is the cache file beside the session file sessionPath.
func CachePath(sessionPath string) string {
	return filepath.Join(filepath.Dir(sessionPath), "identity.json")
}

// Load reads the cache; a missing file is an empty cache.
func (c Cache) Load() (Cached, error) {
	b, err := os.ReadFile(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Cached{}, nil
	}
	if err != nil {
		return Cached{}, fmt.Errorf("read credentials cache: %w", err)
	}
	var v Cached
	if err := json.Unmarshal(b, &v); err != nil {
		return Cached{}, nil // a damaged cache is rebuilt
	}
	return v, nil
}

// Save writes the cache atomically with mode 0600 in a 0700 directory.
func (c Cache) Save(v Cached) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials cache: %w", err)
	}
	if err := session.WritePrivate(c.Path, append(b, '\n')); err != nil {
		return fmt.Errorf("save credentials cache: %w", err)
	}
	return nil
}

// Delete removes the cache (on logout).
func (c Cache) Delete() error {
	if err := os.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete credentials cache: %w", err)
	}
	return nil
}

// IdentityAPI is the part of Cognito Identity the flow calls (unsigned calls).
type IdentityAPI interface {
	GetId(ctx context.Context, in *ci.GetIdInput, opts ...func(*ci.Options)) (*ci.GetIdOutput, error)
	GetCredentialsForIdentity(ctx context.Context, in *ci.GetCredentialsForIdentityInput, opts ...func(*ci.Options)) (*ci.GetCredentialsForIdentityOutput, error)
}

// Login is the signed-in user: a fresh id token and its sub.
type Login func(ctx context.Context) (idToken, sub string, err error)

// IdentityPool is an aws.CredentialsProvider for the identity-pool flow.
type IdentityPool struct {
	API IdentityAPI
	// PoolID is the identity pool; Provider the user pool's provider name
	// ("cognito-idp.<region>.amazonaws.com/<poolId>").
	PoolID, Provider string
	Login            Login
	Cache            Cache
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu sync.Mutex
}

var _ aws.CredentialsProvider = (*IdentityPool)(nil)

// Retrieve implements aws.CredentialsProvider: cached credentials while they are valid
// for more than RefreshMargin, else new ones (and the cache rewritten).
func (p *IdentityPool) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	token, sub, err := p.Login(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	c, err := p.Cache.Load()
	if err != nil {
		return aws.Credentials{}, err
	}
	if c.Sub != sub || c.IdentityPoolID != p.PoolID {
		c = Cached{Sub: sub, IdentityPoolID: p.PoolID}
	}
	if c.AccessKeyID != "" && c.Expiration.Sub(p.now()) > RefreshMargin {
		return c.credentials(), nil
	}
	logins := map[string]string{p.Provider: token}
	if c.IdentityID == "" {
		out, err := p.API.GetId(ctx, &ci.GetIdInput{IdentityPoolId: aws.String(p.PoolID), Logins: logins})
		if err != nil {
			return aws.Credentials{}, fmt.Errorf("cognito identity GetId: %w", err)
		}
		c.IdentityID = aws.ToString(out.IdentityId)
	}
	out, err := p.API.GetCredentialsForIdentity(ctx, &ci.GetCredentialsForIdentityInput{IdentityId: aws.String(c.IdentityID), Logins: logins})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("cognito identity GetCredentialsForIdentity: %w", err)
	}
	if out.Credentials == nil {
		return aws.Credentials{}, errors.New("cognito identity returned no credentials")
	}
	cr := out.Credentials
	c.AccessKeyID, c.SecretAccessKey, c.SessionToken = aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretKey), aws.ToString(cr.SessionToken)
	c.Expiration = aws.ToTime(cr.Expiration).UTC()
	if err := p.Cache.Save(c); err != nil {
		return aws.Credentials{}, err
	}
	return c.credentials(), nil
}

func (c Cached) credentials() aws.Credentials {
	return aws.Credentials{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Source: "CognitoIdentity", CanExpire: true, Expires: c.Expiration,
	}
}

func (p *IdentityPool) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}
