package files

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// MaxKeyBytes is S3's limit on a whole object key, folder included.
const MaxKeyBytes = 1024

// UsersPrefix is the top-level folder under which each user has their own.
const UsersPrefix = "users/"

// CleanKey checks a key a user names inside their folder and returns it in Unicode
// NFC. It rejects, with a 400 naming field: an empty key; invalid UTF-8; control
// characters (C0, DEL, C1) and the Unicode line and paragraph separators; backslashes
// (a path separator on some clients); a leading "/" (absolute); empty segments ("a//b",
// a trailing "/"); "." and ".." segments; and keys that are over MaxKeyBytes once
// normalised. Normalising first means that two spellings of "é" name one object and
// that no check can be bypassed by a decomposed form.
func CleanKey(field, key string) (string, error) {
	k, err := cleanPath(field, key)
	if err != nil {
		return "", err
	}
	if k == "" {
		return "", apperr.Field(field, "is required")
	}
	if strings.HasSuffix(k, "/") {
		return "", apperr.Field(field, "must name an object, not a folder (it ends in /)")
	}
	return k, nil
}

// CleanPrefix checks a listing prefix inside the user's folder: the rules of CleanKey,
// except that it may be empty (the whole folder) and may end in "/".
func CleanPrefix(field, prefix string) (string, error) {
	p, err := cleanPath(field, prefix)
	if err != nil || p == "" {
		return p, err
	}
	return p, nil
}

func cleanPath(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", apperr.Field(field, "must be valid UTF-8")
	}
	s = norm.NFC.String(s)
	if len(s) > MaxKeyBytes {
		return "", apperr.Field(field, "must be at most %d bytes", MaxKeyBytes)
	}
	for _, r := range s {
		switch {
		case r == '\\':
			return "", apperr.Field(field, "must not contain a backslash; use / between folders")
		case unicode.IsControl(r), r == '\u2028', r == '\u2029', r == utf8.RuneError:
			return "", apperr.Field(field, "must not contain control characters")
		}
	}
	if strings.HasPrefix(s, "/") {
		return "", apperr.Field(field, "must be relative to your folder (no leading /)")
	}
	if s == "" {
		return "", nil
	}
	segs := strings.Split(strings.TrimSuffix(s, "/"), "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return "", apperr.Field(field, "must not contain empty segments (//)")
		case ".", "..":
			return "", apperr.Field(field, "must not contain . or .. segments")
		}
	}
	return s, nil
}

// FolderOf returns a user's folder, "users/<id>/". The id is the verified `sub` of the
// caller's token (or, in the identity-pool flow, the identity id): it must be
// non-empty and made only of letters, digits, '-', '_' and ':' so that it can neither
// climb out of users/ nor widen a policy (no '/', '*', '?', '$').
func FolderOf(id string) (string, error) {
	if id == "" || len(id) > 128 {
		return "", apperr.New(apperr.Unauthenticated, "the token names no usable subject")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == ':') {
			return "", apperr.New(apperr.Unauthenticated, "the token names no usable subject")
		}
	}
	return UsersPrefix + id + "/", nil
}

// Inside reports whether the full key k lies inside folder (which ends in "/").
func Inside(folder, k string) bool {
	return strings.HasSuffix(folder, "/") && len(k) > len(folder) && strings.HasPrefix(k, folder)
}
