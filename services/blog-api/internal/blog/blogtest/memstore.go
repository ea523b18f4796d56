// Package blogtest holds an in-memory blog.Store for tests of the layers above the store.
package blogtest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

// MemStore is a blog.Store in memory, with the same conditional-write semantics as the
// DynamoDB store. Its zero value is not usable; call NewMemStore.
type MemStore struct {
	mu          sync.Mutex
	posts       map[string]blog.Post
	photos      map[string]blog.Photo
	subscribers map[string]blog.Subscriber
}

var _ blog.Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{posts: map[string]blog.Post{}, photos: map[string]blog.Photo{}, subscribers: map[string]blog.Subscriber{}}
}

// CreatePost implements blog.PostStore.
func (m *MemStore) CreatePost(_ context.Context, p blog.Post) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.posts[p.Slug]; ok {
		return apperr.New(apperr.Conflict, "a post with slug %q exists", p.Slug)
	}
	m.posts[p.Slug] = p
	return nil
}

// GetPost implements blog.PostStore.
func (m *MemStore) GetPost(_ context.Context, slug string) (blog.Post, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.posts[slug]
	if !ok {
		return blog.Post{}, apperr.New(apperr.NotFound, "no such post")
	}
	return p, nil
}

// ListPosts implements blog.PostStore.
func (m *MemStore) ListPosts(_ context.Context, limit int, cursor string) (blog.PostPage, error) {
	if cursor != "" {
		if _, _, err := blog.ParsePostCursor(cursor); err != nil {
			return blog.PostPage{}, err
		}
	}
	m.mu.Lock()
	all := make([]blog.Post, 0, len(m.posts))
	for _, p := range m.posts {
		all = append(all, p)
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b blog.Post) int { return strings.Compare(blog.PostCursor(b), blog.PostCursor(a)) })
	var page blog.PostPage
	for _, p := range all {
		if cursor != "" && blog.PostCursor(p) >= cursor {
			continue
		}
		if len(page.Items) == limit {
			page.Cursor = blog.PostCursor(page.Items[limit-1])
			break
		}
		page.Items = append(page.Items, p)
	}
	return page, nil
}

// ReplacePost implements blog.PostStore.
func (m *MemStore) ReplacePost(_ context.Context, p blog.Post, prev int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.posts[p.Slug]
	if !ok {
		return apperr.New(apperr.NotFound, "no such post")
	}
	if old.Version != prev {
		return apperr.New(apperr.PreconditionFailed, "the post changed meanwhile")
	}
	m.posts[p.Slug] = p
	return nil
}

// DeletePost implements blog.PostStore.
func (m *MemStore) DeletePost(_ context.Context, slug string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.posts[slug]; !ok {
		return apperr.New(apperr.NotFound, "no such post")
	}
	delete(m.posts, slug)
	return nil
}

// RequestSubscription implements blog.SubscriberStore.
func (m *MemStore) RequestSubscription(_ context.Context, s blog.Subscriber) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.subscribers[s.Email]; ok && old.Status != blog.SubscriberPending {
		return false, nil
	}
	s.Status = blog.SubscriberPending
	m.subscribers[s.Email] = s
	return true, nil
}

// ConfirmSubscription implements blog.SubscriberStore.
func (m *MemStore) ConfirmSubscription(_ context.Context, email string, now time.Time) (blog.Confirmation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subscribers[email]
	switch {
	case !ok:
		return blog.NotPending, nil
	case s.Status != blog.SubscriberPending:
		return blog.AlreadyConfirmed, nil
	case !s.ExpiresAt.After(now):
		return blog.NotPending, nil
	}
	s.Status, s.ConfirmedAt, s.ExpiresAt = blog.SubscriberConfirmed, now, time.Time{}
	m.subscribers[email] = s
	return blog.Confirmed, nil
}

// RemoveSubscriber implements blog.SubscriberStore.
func (m *MemStore) RemoveSubscriber(_ context.Context, email string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.subscribers, email)
	return nil
}

// Subscriber returns the stored subscriber with email.
func (m *MemStore) Subscriber(email string) (blog.Subscriber, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subscribers[email]
	return s, ok
}

// Subscribers returns the stored addresses, sorted.
func (m *MemStore) Subscribers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for e := range m.subscribers {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// CreatePhoto implements blog.PhotoStore.
func (m *MemStore) CreatePhoto(_ context.Context, p blog.Photo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.photos[p.ID]; ok {
		return apperr.New(apperr.Conflict, "photo %s exists", p.ID)
	}
	m.photos[p.ID] = p
	return nil
}

// GetPhoto implements blog.PhotoStore.
func (m *MemStore) GetPhoto(_ context.Context, id string) (blog.Photo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.photos[id]
	if !ok {
		return blog.Photo{}, apperr.New(apperr.NotFound, "no such photo")
	}
	return p, nil
}

// SetPhoto overwrites a photo record, as the thumbnailer would.
func (m *MemStore) SetPhoto(p blog.Photo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.photos[p.ID] = p
}

// ListPhotos implements blog.PhotoStore.
func (m *MemStore) ListPhotos(_ context.Context, limit int, cursor string) (blog.PhotoPage, error) {
	if cursor != "" && !blog.ValidPhotoID(cursor) {
		return blog.PhotoPage{}, apperr.Field("nextToken", "is invalid; list again from the start")
	}
	m.mu.Lock()
	all := make([]blog.Photo, 0, len(m.photos))
	for _, p := range m.photos {
		all = append(all, p)
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b blog.Photo) int { return strings.Compare(b.ID, a.ID) })
	var page blog.PhotoPage
	for _, p := range all {
		if cursor != "" && p.ID >= cursor {
			continue
		}
		if len(page.Items) == limit {
			page.Cursor = page.Items[limit-1].ID
			break
		}
		page.Items = append(page.Items, p)
	}
	return page, nil
}

// Limiter is a blog.Limiter in memory, with the DynamoDB limiter's fixed windows. Its
// zero value is ready.
type Limiter struct {
	mu     sync.Mutex
	counts map[string]int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ blog.Limiter = (*Limiter)(nil)

// Take implements blog.Limiter.
func (l *Limiter) Take(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	start := now.Truncate(window)
	k := key + "#" + start.String()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	if l.counts[k] >= limit {
		return false, start.Add(window).Sub(now), nil
	}
	l.counts[k]++
	return true, 0, nil
}
