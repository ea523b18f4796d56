package todo

import (
	"context"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// Service applies the domain rules on top of a Store: ids, versions, validation and
// retries of partial updates that race with another writer.
type Service struct {
	Store Store
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// NewService returns a Service over s.
func NewService(s Store) *Service {
	return &Service{Store: s, Now: time.Now}
}

// maxPatchAttempts bounds the read-modify-write loop of an unconditional patch.
const maxPatchAttempts = 3

// Create validates d and stores a new to-do for owner.
func (s *Service) Create(ctx context.Context, owner string, d Draft) (Todo, error) {
	now := s.Now()
	id, err := s.newID(now)
	if err != nil {
		return Todo{}, err
	}
	t, err := New(id, d, now)
	if err != nil {
		return Todo{}, err
	}
	if err := s.Store.Create(ctx, owner, t); err != nil {
		return Todo{}, fmt.Errorf("create todo: %w", err)
	}
	return t, nil
}

// Get returns owner's to-do id.
func (s *Service) Get(ctx context.Context, owner, id string) (Todo, error) {
	id, ok := canonicalID(id)
	if !ok {
		return Todo{}, apperr.New(apperr.NotFound, "no such to-do")
	}
	return s.Store.Get(ctx, owner, id)
}

// List returns one page of owner's to-dos.
func (s *Service) List(ctx context.Context, owner string, limit int, cursor string) (Page, error) {
	return s.Store.List(ctx, owner, limit, cursor)
}

// Update applies p to owner's to-do id. With ifMatch > 0 the change happens only if
// the stored version is ifMatch (else PreconditionFailed); without it, a change that
// races with another writer is retried on the fresh copy.
func (s *Service) Update(ctx context.Context, owner, id string, p Patch, ifMatch int64) (Todo, error) {
	id, ok := canonicalID(id)
	if !ok {
		return Todo{}, apperr.New(apperr.NotFound, "no such to-do")
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.Store.Get(ctx, owner, id)
		if err != nil {
			return Todo{}, err
		}
		if ifMatch > 0 && cur.Version != ifMatch {
			return Todo{}, apperr.New(apperr.PreconditionFailed, "the to-do is at version %d, not %d: fetch it again and reapply your change", cur.Version, ifMatch)
		}
		next, err := Apply(cur, p, s.Now())
		if err != nil {
			return Todo{}, err
		}
		err = s.Store.Replace(ctx, owner, next, cur.Version)
		if err == nil {
			return next, nil
		}
		if apperr.CodeOf(err) != apperr.PreconditionFailed || ifMatch > 0 || attempt == maxPatchAttempts {
			return Todo{}, fmt.Errorf("update todo %s: %w", id, err)
		}
	}
}

// Delete removes owner's to-do id; with ifMatch > 0 only at that version.
func (s *Service) Delete(ctx context.Context, owner, id string, ifMatch int64) error {
	id, ok := canonicalID(id)
	if !ok {
		return apperr.New(apperr.NotFound, "no such to-do")
	}
	return s.Store.Delete(ctx, owner, id, ifMatch)
}

// CloseAccount marks owner's list as deleted: from now on it lists empty and takes no
// write (see Store.Close). Deleting an account starts with it, so nothing of the
// account is served, and nothing is added, while its data is being removed.
func (s *Service) CloseAccount(ctx context.Context, owner string) error {
	if err := s.Store.Close(ctx, owner, s.Now()); err != nil {
		return fmt.Errorf("close account: %w", err)
	}
	return nil
}

// CheckOpen fails with Forbidden (ClosedMessage) when owner's account was closed:
// routes that hand out write access elsewhere (the files routes) call it first.
func (s *Service) CheckOpen(ctx context.Context, owner string) error {
	closed, err := s.Store.Closed(ctx, owner)
	if err != nil {
		return fmt.Errorf("check account: %w", err)
	}
	if closed {
		return apperr.New(apperr.Forbidden, ClosedMessage)
	}
	return nil
}

// Purge deletes every to-do of owner; it returns how many it deleted.
func (s *Service) Purge(ctx context.Context, owner string) (int, error) {
	n, err := s.Store.Purge(ctx, owner)
	if err != nil {
		return n, fmt.Errorf("purge todos: %w", err)
	}
	return n, nil
}

func (s *Service) newID(now time.Time) (string, error) {
	// DefaultEntropy is safe for concurrent use and monotonic within a millisecond.
	id, err := ulid.New(ulid.Timestamp(now), ulid.DefaultEntropy())
	if err != nil {
		return "", fmt.Errorf("make id: %w", err)
	}
	return id.String(), nil
}

// canonicalID returns id as the service stores it: ULIDs are case-insensitive, and
// stored in upper case.
func canonicalID(id string) (string, bool) {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// ValidID reports whether id has the shape of a to-do id (a ULID).
func ValidID(id string) bool {
	_, ok := canonicalID(id)
	return ok
}
