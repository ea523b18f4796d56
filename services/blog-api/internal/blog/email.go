package blog

import (
	"net/mail"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// MaxEmailBytes is the longest address accepted (RFC 5321's path limit less the brackets).
const MaxEmailBytes = 254

// NormaliseEmail checks an address and returns the form it is stored under: trimmed,
// lower-cased, a bare local@domain. Display names ("Ann <ann@example.com>"), addresses
// without a dotted domain, and anything net/mail cannot parse are refused.
func NormaliseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := apperr.Field("email", "must be an email address such as ann@example.com")
	if s == "" || len(s) > MaxEmailBytes || strings.ContainsAny(s, "<>\" \t\r\n") {
		return "", bad
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 {
		return "", bad
	}
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "[") {
		return "", bad
	}
	return strings.ToLower(s), nil
}
