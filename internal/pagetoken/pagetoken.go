// Package pagetoken seals pagination cursors into opaque tokens a client can hand back
// but cannot read, forge or reuse for someone else.
//
// A token is AES-256-GCM over the cursor and its issue time, with the caller's identity
// and the token's purpose as additional authenticated data. A token issued to user A
// fails to open for user B, a modified token fails to open, and a token older than the
// configured age is refused. Every replica that serves the same API must share the key.
package pagetoken

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// KeySize is the length of a key in bytes.
const KeySize = 32

// ErrInvalid is returned for any token that does not open: tampered, issued to someone
// else, for another purpose, malformed or expired. The reason is deliberately not told.
var ErrInvalid = errors.New("invalid or expired page token")

// Sealer seals and opens tokens with one key.
type Sealer struct {
	aead    cipher.AEAD
	purpose string
	maxAge  time.Duration
	now     func() time.Time
}

// New returns a Sealer for tokens of one purpose (for example "todos.list"), valid for
// maxAge after issue.
func New(key []byte, purpose string, maxAge time.Duration) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("page token key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("page token key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("page token key: %w", err)
	}
	return &Sealer{aead: aead, purpose: purpose, maxAge: maxAge, now: time.Now}, nil
}

// ParseKey decodes a key given as standard or URL-safe base64.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("page token key must decode to %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("page token key is not base64")
}

// RandomKey returns a fresh random key.
func RandomKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	return k
}

func (s *Sealer) aad(subject string) []byte {
	return []byte(s.purpose + "\x00" + subject)
}

// Seal returns an opaque token for cursor, bound to subject.
func (s *Sealer) Seal(subject, cursor string) string {
	plain := make([]byte, 8, 8+len(cursor))
	binary.BigEndian.PutUint64(plain, uint64(s.now().Unix()))
	plain = append(plain, cursor...)
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, s.aad(subject)))
}

// Open returns the cursor sealed in token for subject, or ErrInvalid.
func (s *Sealer) Open(subject, token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead()+8 {
		return "", ErrInvalid
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], s.aad(subject))
	if err != nil {
		return "", ErrInvalid
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0)
	if s.maxAge > 0 && s.now().Sub(issued) > s.maxAge {
		return "", ErrInvalid
	}
	return string(plain[8:]), nil
}
