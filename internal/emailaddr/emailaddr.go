// Package emailaddr is MyBlog's one rule for subscriber email addresses, used by
// blog-api (what it stores and rate-limits) and by welcome-mailer (where it sends and
// what it counts as one subscriber), so the two can never disagree about an address.
//
// Normalise turns what a reader typed into the address the blog stores and sends to,
// or refuses it with a message a reader can act on. Mailbox folds the spellings that
// reach the same inbox (plus-tags everywhere; dots and googlemail.com at Gmail) into
// one key: the unit of the per-mailbox rate limit and of "one welcome email".
package emailaddr

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// Limits of an address, in bytes: RFC 5321's path limit less the angle brackets, and
// its limit on a local part.
const (
	MaxBytes      = 254
	MaxLocalBytes = 64
)

// field is the request field the errors name.
const field = "email"

// Normalise checks s and returns the address as it is stored and sent to: trimmed,
// lower-cased, a bare local@domain with a dotted host name, the domain in ASCII
// (an internationalised domain becomes its Punycode form, which SES requires).
// Refused, each with its own message (an *apperr.Error naming the field "email"):
// display names ("Ann <ann@example.com>"), quoted or commented local parts, IP
// literals, hosts without a dot, anything longer than MaxBytes, and local parts with
// characters outside ASCII, which SES cannot send to.
func Normalise(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", apperr.Field(field, "is required")
	}
	if !utf8.ValidString(s) || strings.ContainsAny(s, "<>\"() \t\r\n") {
		return "", notAnAddress()
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 {
		return "", notAnAddress()
	}
	local, domain := s[:at], s[at+1:]
	for _, r := range local {
		if r >= utf8.RuneSelf {
			return "", apperr.Field(field, "cannot be used: the part before the @ has a character outside ASCII (%q), and email to such addresses cannot be delivered; use another address", r)
		}
	}
	if len(local) > MaxLocalBytes {
		return "", apperr.Field(field, "must have at most %d characters before the @", MaxLocalBytes)
	}
	host, err := asciiDomain(domain)
	if err != nil {
		return "", err
	}
	addr := strings.ToLower(local) + "@" + host
	if len(addr) > MaxBytes {
		return "", apperr.Field(field, "must be at most %d characters", MaxBytes)
	}
	// net/mail is the arbiter of what a plain addr-spec is (dot-atoms, the allowed
	// punctuation): the address must parse as exactly itself.
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr {
		return "", notAnAddress()
	}
	return addr, nil
}

func notAnAddress() error {
	return apperr.Field(field, "must be an email address such as ann@example.com")
}

// asciiDomain checks the domain of an address and returns it lower-cased in ASCII.
func asciiDomain(d string) (string, error) {
	if strings.HasPrefix(d, "[") {
		return "", apperr.Field(field, "must name a mail domain, not an IP address")
	}
	host, err := idna.Lookup.ToASCII(strings.TrimSuffix(d, "."))
	if err != nil || host == "" {
		return "", notAnAddress()
	}
	host = strings.ToLower(host)
	if !strings.Contains(host, ".") || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return "", notAnAddress()
	}
	return host, nil
}

// gmailDomains are the domains that deliver to Gmail, which ignores dots in the local
// part; googlemail.com is the same mailbox as gmail.com.
var gmailDomains = map[string]bool{"gmail.com": true, "googlemail.com": true}

// Mailbox returns the key of the inbox a normalised address delivers to: the
// plus-tag is dropped from the local part (ann+news@ and ann@ reach Ann's inbox at
// every provider that supports subaddressing, and nobody else's anywhere), and at Gmail
// the dots too, with googlemail.com read as gmail.com. Dots elsewhere are kept: most
// providers treat a.b@ and ab@ as two people. It is a key, never an address to send to.
func Mailbox(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at+1:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	if gmailDomains[domain] {
		local = strings.ReplaceAll(local, ".", "")
		domain = "gmail.com"
	}
	return local + "@" + domain
}
