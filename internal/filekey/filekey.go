// Package filekey holds the rules for the keys users name in their own folder of the
// files bucket. todo-api applies them before it presigns a URL, and the todo CLI
// before it calls S3 directly with temporary credentials, so that one name means one
// object whichever way a file travels.
package filekey

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxBytes is S3's limit on a whole object key, folder included.
const MaxBytes = 1024

// UsersPrefix is the top-level folder under which each user has their own.
const UsersPrefix = "users/"

// Clean checks a key a user names inside their folder and returns it in Unicode NFC.
// It rejects an empty key; invalid UTF-8; control characters (C0, DEL, C1) and the
// Unicode line and paragraph separators; backslashes (a path separator on some
// clients); a leading "/" (absolute); empty segments ("a//b", a trailing "/"); "." and
// ".." segments; and keys over MaxBytes once normalised. Normalising first means that
// two spellings of "é" name one object and that no check can be bypassed by a
// decomposed form. The error says what is wrong, for the caller to attach to the key.
func Clean(key string) (string, error) {
	k, err := cleanPath(key)
	if err != nil {
		return "", err
	}
	if k == "" {
		return "", errors.New("is required")
	}
	if strings.HasSuffix(k, "/") {
		return "", errors.New("must name an object, not a folder (it ends in /)")
	}
	return k, nil
}

// CleanPrefix checks a listing prefix inside the user's folder: the rules of Clean,
// except that it may be empty (the whole folder) and may end in "/".
func CleanPrefix(prefix string) (string, error) {
	return cleanPath(prefix)
}

func cleanPath(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("must be valid UTF-8")
	}
	s = norm.NFC.String(s)
	if len(s) > MaxBytes {
		return "", fmt.Errorf("must be at most %d bytes", MaxBytes)
	}
	for _, r := range s {
		switch {
		case r == '\\':
			return "", errors.New("must not contain a backslash; use / between folders")
		case unicode.IsControl(r), r == '\u2028', r == '\u2029', r == utf8.RuneError:
			return "", errors.New("must not contain control characters")
		}
	}
	if strings.HasPrefix(s, "/") {
		return "", errors.New("must be relative to your folder (no leading /)")
	}
	if s == "" {
		return "", nil
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(s, "/"), "/") {
		switch seg {
		case "":
			return "", errors.New("must not contain empty segments (//)")
		case ".", "..":
			return "", errors.New("must not contain . or .. segments")
		}
	}
	return s, nil
}

// Join returns the full key of a cleaned key (or prefix) k inside folder, refusing one
// over MaxBytes: S3 would.
func Join(folder, k string) (string, error) {
	full := folder + k
	if len(full) > MaxBytes {
		return "", fmt.Errorf("is too long: with your folder it must be at most %d bytes", MaxBytes)
	}
	return full, nil
}

// Folder returns a user's folder, "users/<id>/". The id is the verified `sub` of the
// caller's token (or, in the identity-pool flow, the identity id): it must be
// non-empty and made only of letters, digits, '-', '_' and ':' so that it can neither
// climb out of users/ nor widen a policy (no '/', '*', '?', '$').
func Folder(id string) (string, error) {
	if id == "" || len(id) > 128 {
		return "", fmt.Errorf("user id %q is empty or longer than 128 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == ':') {
			return "", fmt.Errorf("user id %q holds characters other than letters, digits, '-', '_' and ':'", id)
		}
	}
	return UsersPrefix + id + "/", nil
}

// Inside reports whether the full key k lies inside folder (which ends in "/").
func Inside(folder, k string) bool {
	return strings.HasSuffix(folder, "/") && len(k) > len(folder) && strings.HasPrefix(k, folder)
}
