// Package originverify proves that a request reached an origin through the project's
// CloudFront distribution. Headers CloudFront sets, such as CloudFront-Viewer-Address,
// can be sent by anyone who calls the origin directly (its Knative route is public), so
// an origin may only believe them on a request that also carries a secret only the
// distribution knows: `sa provision` keeps that secret in AWS Secrets Manager and sets it
// as an origin custom header of the distribution's API origin; the origin reads the same
// secret at start and compares in constant time.
//
// Rotation without a gap: put a new value in the secret (it becomes AWSCURRENT, the old
// one AWSPREVIOUS), run `sa provision` (the distribution sends the new value), then
// restart the origin; an origin accepts both the current and the previous value, so every
// step of the way each request CloudFront sends is still believed.
package originverify

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Header is the origin custom header the distribution adds to every request to the
// API origin. CloudFront refuses origin custom headers it sets itself, so the name is
// the project's own.
const Header = "X-Origin-Verify"

// minLen is the shortest value accepted: a guessable secret proves nothing.
const minLen = 32

// NewValue returns a fresh secret: 32 random bytes, base64url without padding (43
// characters, all allowed in a header value).
func NewValue() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random origin secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Getter is the one Secrets Manager call Load makes.
type Getter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secrets are the values an origin accepts. The zero value accepts nothing.
type Secrets struct {
	values [][]byte
}

// New returns Secrets accepting values (for tests and callers that hold the value
// already); values shorter than 32 characters are refused.
func New(values ...string) (Secrets, error) {
	var s Secrets
	for _, v := range values {
		if len(v) < minLen {
			return Secrets{}, fmt.Errorf("an origin secret must be at least %d characters (got %d)", minLen, len(v))
		}
		s.values = append(s.values, []byte(v))
	}
	return s, nil
}

// Load reads the secret id (a name or ARN) from Secrets Manager: its AWSCURRENT value,
// which must exist, and its AWSPREVIOUS value when there is one (a rotation in
// progress).
func Load(ctx context.Context, sm Getter, id string) (Secrets, error) {
	cur, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return Secrets{}, fmt.Errorf("read the origin secret %s from Secrets Manager (the role needs secretsmanager:GetSecretValue on it; "+
			"sa provision creates it): %w", id, err)
	}
	values := []string{aws.ToString(cur.SecretString)}
	prev, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String("AWSPREVIOUS")})
	var notFound *smtypes.ResourceNotFoundException
	switch {
	case err == nil && aws.ToString(prev.SecretString) != values[0]:
		values = append(values, aws.ToString(prev.SecretString))
	case err != nil && !errors.As(err, &notFound):
		return Secrets{}, fmt.Errorf("read the previous version of the origin secret %s: %w", id, err)
	}
	s, err := New(values...)
	if err != nil {
		return Secrets{}, fmt.Errorf("the origin secret %s: %w", id, err)
	}
	return s, nil
}

// Verify reports whether r carries one of the accepted values in Header. Every value
// is compared, in constant time, whatever the outcome.
func (s Secrets) Verify(r *http.Request) bool {
	got := []byte(r.Header.Get(Header))
	ok := 0
	for _, v := range s.values {
		ok |= subtle.ConstantTimeCompare(got, v)
	}
	return ok == 1
}

// Empty reports whether s accepts nothing.
func (s Secrets) Empty() bool { return len(s.values) == 0 }
