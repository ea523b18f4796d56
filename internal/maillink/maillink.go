// Package maillink signs and verifies the tokens in the links of MyBlog's emails: the
// confirmation link of a new subscription and the unsubscribe link of every email.
//
// The welcome mailer builds the links (ConfirmLink, UnsubscribeLink) and blog-api
// verifies their tokens (VerifyConfirm, VerifyUnsubscribe); both hold the same key (env
// UNSUBSCRIBE_KEY, base64 of 32 bytes). Each kind of token has its own MAC domain, so a
// token of one kind never passes for the other.
//
//   - An unsubscribe token is the normalised address and an HMAC-SHA256 over it, both
//     base64url-encoded and joined by a dot. It does not expire: an unsubscribe link
//     in an old email must keep working.
//   - A confirmation token adds its expiry (Unix seconds, the end of the pending
//     subscription) between the two, covered by the MAC: address.expiry.mac.
//
// Tokens carry the address in the clear (it is the recipient's own address, sent to
// that recipient), so they authenticate a request rather than hide anything.
package maillink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// KeySize is the length of a key in bytes.
const KeySize = 32

// blog-api's routes for the links; Param is their query parameter holding the token.
const (
	UnsubscribePath = "/v1/subscribers/unsubscribe"
	ConfirmPath     = "/v1/subscribers/confirm"
	Param           = "token"
)

// The MAC domains: they separate the kinds of token from each other and from any
// other use of the key.
const (
	unsubscribeDomain = "myblog.unsubscribe.v1\x00"
	confirmDomain     = "myblog.confirm.v1\x00"
)

var (
	// ErrInvalid is returned for a token that is malformed or whose signature does not
	// match.
	ErrInvalid = errors.New("invalid link token")
	// ErrExpired is returned for a genuine confirmation token past its expiry.
	ErrExpired = errors.New("expired link token")
)

// Signer signs and verifies tokens with one key.
type Signer struct {
	key []byte
}

// New returns a Signer for key, which must be KeySize bytes.
func New(key []byte) (*Signer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("link key must be %d bytes, got %d", KeySize, len(key))
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// ParseKey decodes a key given as standard or URL-safe base64, padded or not.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("link key must decode to %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("link key is not base64")
}

// NewFromBase64 is ParseKey followed by New.
func NewFromBase64(s string) (*Signer, error) {
	key, err := ParseKey(s)
	if err != nil {
		return nil, err
	}
	return New(key)
}

func (s *Signer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

var enc = base64.RawURLEncoding

// Unsubscribe returns the unsubscribe token for email. Pass the address as stored;
// VerifyUnsubscribe gives back exactly what was signed.
func (s *Signer) Unsubscribe(email string) string {
	return enc.EncodeToString([]byte(email)) + "." + enc.EncodeToString(s.mac(unsubscribeDomain, email))
}

// VerifyUnsubscribe returns the address an unsubscribe token was signed for, or
// ErrInvalid.
func (s *Signer) VerifyUnsubscribe(token string) (string, error) {
	addr, sig, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok {
		return "", ErrInvalid
	}
	email, err := enc.DecodeString(addr)
	if err != nil || len(email) == 0 {
		return "", ErrInvalid
	}
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(unsubscribeDomain, string(email))) {
		return "", ErrInvalid
	}
	return string(email), nil
}

// Confirm returns the confirmation token for email, valid until expires (to the
// second).
func (s *Signer) Confirm(email string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return enc.EncodeToString([]byte(email)) + "." + exp + "." + enc.EncodeToString(s.mac(confirmDomain, email, "\x00", exp))
}

// VerifyConfirm returns the address a confirmation token was signed for and its
// expiry; ErrInvalid for a token that is not one of ours, ErrExpired (with the address
// and expiry) for a genuine one that expired before now.
func (s *Signer) VerifyConfirm(token string, now time.Time) (string, time.Time, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		return "", time.Time{}, ErrInvalid
	}
	email, err := enc.DecodeString(parts[0])
	if err != nil || len(email) == 0 {
		return "", time.Time{}, ErrInvalid
	}
	secs, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || strconv.FormatInt(secs, 10) != parts[1] {
		return "", time.Time{}, ErrInvalid
	}
	got, err := enc.DecodeString(parts[2])
	if err != nil || !hmac.Equal(got, s.mac(confirmDomain, string(email), "\x00", parts[1])) {
		return "", time.Time{}, ErrInvalid
	}
	expires := time.Unix(secs, 0)
	if now.After(expires) {
		return string(email), expires, ErrExpired
	}
	return string(email), expires, nil
}

// UnsubscribeLink returns the unsubscribe URL for email under base, the public origin
// of the blog (for example https://blog.example.com).
func (s *Signer) UnsubscribeLink(base, email string) string {
	return link(base, UnsubscribePath, s.Unsubscribe(email))
}

// ConfirmLink returns the confirmation URL for email under base, valid until expires.
func (s *Signer) ConfirmLink(base, email string, expires time.Time) string {
	return link(base, ConfirmPath, s.Confirm(email, expires))
}

func link(base, path, token string) string {
	return strings.TrimRight(base, "/") + path + "?" + url.Values{Param: {token}}.Encode()
}
