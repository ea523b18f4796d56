package files

import (
	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/filekey"
)

// MaxKeyBytes is S3's limit on a whole object key, folder included.
const MaxKeyBytes = filekey.MaxBytes

// UsersPrefix is the top-level folder under which each user has their own.
const UsersPrefix = filekey.UsersPrefix

// CleanKey checks a key a user names inside their folder by filekey.Clean and returns
// it in Unicode NFC; what it rejects gets a 400 naming field.
func CleanKey(field, key string) (string, error) {
	k, err := filekey.Clean(key)
	if err != nil {
		return "", apperr.Field(field, "%s", err)
	}
	return k, nil
}

// CleanPrefix checks a listing prefix inside the user's folder by filekey.CleanPrefix.
func CleanPrefix(field, prefix string) (string, error) {
	p, err := filekey.CleanPrefix(prefix)
	if err != nil {
		return "", apperr.Field(field, "%s", err)
	}
	return p, nil
}

// FolderOf returns a user's folder, "users/<id>/" (filekey.Folder); an id that cannot
// name one makes the caller unauthenticated.
func FolderOf(id string) (string, error) {
	f, err := filekey.Folder(id)
	if err != nil {
		return "", apperr.New(apperr.Unauthenticated, "the token names no usable subject")
	}
	return f, nil
}

// Inside reports whether the full key k lies inside folder (which ends in "/").
func Inside(folder, k string) bool { return filekey.Inside(folder, k) }
