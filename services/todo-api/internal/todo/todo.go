// Package todo is the to-do domain: what a to-do is, the rules a create or a change must
// satisfy, and the Store a to-do list is kept in. It knows nothing of HTTP or DynamoDB.
//
// Every operation is scoped to an owner, the caller's Cognito `sub`. A Store never
// crosses owners: an id that belongs to someone else is simply not found.
package todo

import (
	"context"
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
	Items  []Todo
	Cursor string
}

// Store keeps to-dos. Implementations return *apperr.Error values with code NotFound
// (no such to-do for this owner), PreconditionFailed (version mismatch), Conflict (id
// taken) or Unavailable (the database cannot be reached); anything else is internal.
type Store interface {
	// Create stores a new to-do; it fails with Conflict if the id exists.
	Create(ctx context.Context, owner string, t Todo) error
	// Get returns one to-do.
	Get(ctx context.Context, owner, id string) (Todo, error)
	// List returns up to limit to-dos, newest first, starting after cursor.
	List(ctx context.Context, owner string, limit int, cursor string) (Page, error)
	// Replace writes t if the stored version is still prev.
	Replace(ctx context.Context, owner string, t Todo, prev int64) error
	// Delete removes a to-do; with version > 0 only if that is the stored version.
	Delete(ctx context.Context, owner, id string, version int64) error
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
	now = now.UTC().Truncate(time.Millisecond)
	return Todo{ID: id, Title: title, Notes: notes, Done: d.Done, DueAt: utc(d.DueAt), CreatedAt: now, UpdatedAt: now, Version: 1}, nil
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
		t.DueAt = utc(p.DueAt)
	}
	t.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	t.Version++
	return t, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
