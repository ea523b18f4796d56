// Package unsubscribe signs and verifies the tokens in MyBlog's unsubscribe links.
//
// The welcome mailer builds a link with Link (or Sign) and blog-api verifies the token
// with Verify; both hold the same key (env UNSUBSCRIBE_KEY, base64 of 32 bytes). A token
// is the normalised email address and an HMAC-SHA256 over it, both base64url-encoded and
// joined by a dot. Tokens do not expire: an unsubscribe link in an old email must keep
// working. They carry the address in the clear (it is the recipient's own address, sent
// to that recipient), so they authenticate the request rather than hide anything.
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// KeySize is the length of a key in bytes.
const KeySize = 32

// Path is blog-api's unsubscribe route; Param is its query parameter holding the token.
const (
	Path  = "/v1/subscribers/unsubscribe"
	Param = "token"
)

// domain separates these MACs from any other use of the key.
const domain = "myblog.unsubscribe.v1\x00"

// ErrInvalid is returned for a token that is malformed or whose signature does not match.
var ErrInvalid = errors.New("invalid unsubscribe token")

// Signer signs and verifies tokens with one key.
type Signer struct {
	key []byte
}

// New returns a Signer for key, which must be KeySize bytes.
func New(key []byte) (*Signer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("unsubscribe key must be %d bytes, got %d", KeySize, len(key))
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// ParseKey decodes a key given as standard or URL-safe base64, padded or not.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("unsubscribe key must decode to %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("unsubscribe key is not base64")
}

// NewFromBase64 is ParseKey followed by New.
func NewFromBase64(s string) (*Signer, error) {
	key, err := ParseKey(s)
	if err != nil {
		return nil, err
	}
	return New(key)
}

func (s *Signer) mac(email string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(domain))
	m.Write([]byte(email))
	return m.Sum(nil)
}

// Sign returns the token for email. Pass the address as stored (blog-api stores it
// trimmed and lower-cased); Verify gives back exactly what was signed.
func (s *Signer) Sign(email string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(email)) + "." + enc.EncodeToString(s.mac(email))
}

// Verify returns the email address token was signed for, or ErrInvalid.
func (s *Signer) Verify(token string) (string, error) {
	addr, sig, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok {
		return "", ErrInvalid
	}
	enc := base64.RawURLEncoding
	email, err := enc.DecodeString(addr)
	if err != nil || len(email) == 0 {
		return "", ErrInvalid
	}
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(string(email))) {
		return "", ErrInvalid
	}
	return string(email), nil
}

// Link returns the unsubscribe URL for email under base, the public origin of the blog
// (for example https://blog.example.com): base + Path + "?token=" + the token.
func (s *Signer) Link(base, email string) string {
	return strings.TrimRight(base, "/") + Path + "?" + url.Values{Param: {s.Sign(email)}}.Encode()
}
