package blog

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ValidSlug reports whether s is a slug: lower-case ASCII letters and digits in groups
// joined by single hyphens, 1..MaxSlugBytes bytes.
func ValidSlug(s string) bool {
	if s == "" || len(s) > MaxSlugBytes || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	prevHyphen := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			prevHyphen = false
		case c == '-':
			if prevHyphen {
				return false
			}
			prevHyphen = true
		default:
			return false
		}
	}
	return true
}

// Slugify derives a slug from a title: accents dropped, lower-cased, every run of other
// characters turned into one hyphen, cut at a word boundary to fit MaxSlugBytes. It
// returns "" when nothing usable remains (a title in a non-Latin script).
func Slugify(title string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(title) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			hyphen = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(unicode.ToLower(r))
			hyphen = false
		default:
			if b.Len() > 0 && !hyphen {
				b.WriteByte('-')
				hyphen = true
			}
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if len(s) > MaxSlugBytes {
		s = s[:MaxSlugBytes]
		if i := strings.LastIndexByte(s, '-'); i > 0 {
			s = s[:i]
		}
		s = strings.TrimSuffix(s, "-")
	}
	return s
}
