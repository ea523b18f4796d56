// Package todo is the to-do domain: what a to-do is, the rules a create or a change must
// satisfy, and the Store a to-do list is kept in. It knows nothing of HTTP or DynamoDB.
//
// Every operation is scoped to an owner, the caller's Cognito `sub`. A Store never
// crosses owners: an id that belongs to someone else is simply not found.
package todo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// Limits on a to-do's fields.
const (
	MaxTitleRunes = 200
	MaxNotesBytes = 4096
)

// Todo is one item of a user's list.
type Todo struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Notes     string     `json:"notes"`
	Done      bool       `json:"done"`
	DueAt     *time.Time `json:"dueAt,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	// Version starts at 1 and grows by one with every change; it is the ETag.
	Version int64 `json:"version"`
}

// Draft is what a client sends to create a to-do.
type Draft struct {
	Title string
	Notes string
	Done  bool
	DueAt *time.Time
}

// Patch is a partial change: nil fields stay as they are. ClearDue removes the due date.
type Patch struct {
	Title    *string
	Notes    *string
	Done     *bool
	DueAt    *time.Time
	ClearDue bool
}

// Empty reports whether p changes nothing.
func (p Patch) Empty() bool {
	return p.Title == nil && p.Notes == nil && p.Done == nil && p.DueAt == nil && !p.ClearDue
}

// Page is one page of a list, newest first. Cursor is empty on the last page.
type Page struct {
	Items []Todo
	// Unreadable are the stored to-dos of this page that could not be read (see
	// ErrUnreadable): they are left out of Items, and the page still counts them.
	Unreadable []Unreadable
	Cursor     string
}

// Unreadable is a stored to-do that cannot be shown: its id (from its key, which is
// always readable) and why.
type Unreadable struct {
	ID  string
	Err error
}

// ErrUnreadable is wrapped by a Store's errors for a stored to-do it cannot decode or
// that breaks the rules every shown to-do meets (CheckStored): data written by hand,
// by another program or by an older version with a bug. Such a to-do is an error for
// itself only; a list shows the others, and it can still be deleted.
var ErrUnreadable = errors.New("stored to-do is unreadable")

// Store keeps to-dos. Implementations return *apperr.Error values with code NotFound
// (no such to-do for this owner), PreconditionFailed (version mismatch), Conflict (id
// taken) or Unavailable (the database cannot be reached); anything else is internal.
type Store interface {
	// Create stores a new to-do; it fails with Conflict if the id holds another one (the
	// same to-do again, as a retry whose first try succeeded writes, is no error).
	Create(ctx context.Context, owner string, t Todo) error
	// Get returns one to-do; one that cannot be read is an error wrapping ErrUnreadable.
	Get(ctx context.Context, owner, id string) (Todo, error)
	// List returns up to limit stored to-dos, newest first, starting after cursor; those
	// that cannot be read are in Page.Unreadable instead of failing the list.
	List(ctx context.Context, owner string, limit int, cursor string) (Page, error)
	// Replace writes t if the stored version is still prev.
	Replace(ctx context.Context, owner string, t Todo, prev int64) error
	// Delete removes a to-do; with version > 0 only if that is the stored version.
	Delete(ctx context.Context, owner, id string, version int64) error
	// Close marks owner's list as deleted (the account is being deleted, or was): from
	// then on List answers an empty page and Create, Replace and Delete fail with
	// Forbidden (ClosedMessage), so a token that outlives its account writes nothing.
	// It is idempotent. The mark is kept for at least ClosedRetention after at.
	Close(ctx context.Context, owner string, at time.Time) error
	// Closed reports whether owner's account was closed (read strongly consistent).
	Closed(ctx context.Context, owner string) (bool, error)
	// Purge deletes every to-do of owner and returns how many it deleted. It is
	// idempotent: a second call deletes what is left, if anything.
	Purge(ctx context.Context, owner string) (int, error)
}

// ClosedMessage is the message of the Forbidden error a Store returns for a write to
// a closed (deleted) account.
const ClosedMessage = "this account was deleted; sign up again to use MyTodoList"

// ClosedRetention is how long a closed account's mark is kept at least: longer than
// any token of the account can live (Cognito id and access tokens live at most a
// day), so no token outlives it. Only the mark is kept, no data.
const ClosedRetention = 48 * time.Hour

// The instants a to-do can hold: those RFC 3339 can write in UTC, the years 0000 to
// 9999. Every time is stored and shown in UTC, so this is checked after conversion.
var (
	earliest = time.Date(0, time.January, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

// inRange reports whether t, in UTC, is an instant a to-do can hold.
func inRange(t time.Time) bool {
	u := t.UTC()
	return !u.Before(earliest) && !u.After(latest)
}

// ValidateDue checks a due date as it will be stored, in UTC, and returns it in UTC.
// 9999-12-31T23:00:00-05:00 is a valid RFC 3339 date-time whose UTC instant lies in
// the year 10000, which neither JSON nor the table can write back: it is refused.
func ValidateDue(t time.Time) (time.Time, error) {
	u := t.UTC()
	if !inRange(u) {
		return time.Time{}, apperr.Field("dueAt", "must lie between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z once converted to UTC (it is %s)", u.Format(time.RFC3339))
	}
	return u, nil
}

// CheckStored reports a stored to-do that cannot be shown as it is: an id that is not
// a ULID, a time outside the years 0000 to 9999 in UTC, or a version below 1. Stores
// call it on every to-do they read (with ErrUnreadable).
func CheckStored(t Todo) error {
	switch {
	case !ValidID(t.ID):
		return fmt.Errorf("id %q is not a ULID", t.ID)
	case !inRange(t.CreatedAt):
		return fmt.Errorf("createdAt %s is out of range", t.CreatedAt.UTC().Format(time.RFC3339Nano))
	case !inRange(t.UpdatedAt):
		return fmt.Errorf("updatedAt %s is out of range", t.UpdatedAt.UTC().Format(time.RFC3339Nano))
	case t.DueAt != nil && !inRange(*t.DueAt):
		return fmt.Errorf("dueAt %s is out of range", t.DueAt.UTC().Format(time.RFC3339Nano))
	case t.Version < 1:
		return fmt.Errorf("version %d is below 1", t.Version)
	}
	return nil
}

// ValidateTitle checks a title: 1 to 200 characters after trimming, no control characters.
func ValidateTitle(s string) (string, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "", apperr.Field("title", "must not be empty")
	case n > MaxTitleRunes:
		return "", apperr.Field("title", "must be at most %d characters (got %d)", MaxTitleRunes, n)
	case !utf8.ValidString(s):
		return "", apperr.Field("title", "must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", apperr.Field("title", "must not contain control characters")
		}
	}
	return s, nil
}

// ValidateNotes checks notes: at most 4 KiB of UTF-8; newlines and tabs allowed, other
// control characters not.
func ValidateNotes(s string) (string, error) {
	if len(s) > MaxNotesBytes {
		return "", apperr.Field("notes", "must be at most %d bytes (got %d)", MaxNotesBytes, len(s))
	}
	if !utf8.ValidString(s) {
		return "", apperr.Field("notes", "must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return "", apperr.Field("notes", "must not contain control characters other than newline and tab")
		}
	}
	return s, nil
}

// New builds a to-do from a draft, validating it.
func New(id string, d Draft, now time.Time) (Todo, error) {
	title, err := ValidateTitle(d.Title)
	if err != nil {
		return Todo{}, err
	}
	notes, err := ValidateNotes(d.Notes)
	if err != nil {
		return Todo{}, err
	}
	due, err := validateDue(d.DueAt)
	if err != nil {
		return Todo{}, err
	}
	now = now.UTC().Truncate(time.Millisecond)
	return Todo{ID: id, Title: title, Notes: notes, Done: d.Done, DueAt: due, CreatedAt: now, UpdatedAt: now, Version: 1}, nil
}

// Apply returns t changed by p, with a new version and update time.
func Apply(t Todo, p Patch, now time.Time) (Todo, error) {
	if p.Title != nil {
		title, err := ValidateTitle(*p.Title)
		if err != nil {
			return Todo{}, err
		}
		t.Title = title
	}
	if p.Notes != nil {
		notes, err := ValidateNotes(*p.Notes)
		if err != nil {
			return Todo{}, err
		}
		t.Notes = notes
	}
	if p.Done != nil {
		t.Done = *p.Done
	}
	if p.ClearDue {
		t.DueAt = nil
	} else if p.DueAt != nil {
		due, err := validateDue(p.DueAt)
		if err != nil {
			return Todo{}, err
		}
		t.DueAt = due
	}
	t.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	t.Version++
	return t, nil
}

// validateDue is ValidateDue for an optional due date.
func validateDue(t *time.Time) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	u, err := ValidateDue(*t)
	if err != nil {
		return nil, err
	}
	return &u, nil
}
