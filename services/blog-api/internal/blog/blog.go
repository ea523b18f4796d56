// Package blog is MyBlog's domain: posts, subscribers and photos, the rules a write must
// satisfy (slugs, titles, tags, email addresses), and the stores they are kept in. It
// knows nothing of HTTP or DynamoDB.
package blog

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/contract"
	"github.com/serverless-architect/serverless-architect/internal/contract/photoitem"
	"github.com/serverless-architect/serverless-architect/internal/contract/subscriberitem"
)

// Limits on a post's fields.
const (
	MaxTitleRunes = 200
	MaxBodyBytes  = 64 << 10
	MaxSlugBytes  = 80
	MaxTags       = 10
	MaxTagBytes   = 32
)

// Post is one blog post. HTML is the sanitised rendering of Body.
type Post struct {
	Slug        string    `json:"slug"`
	Title       string    `json:"title"`
	Body        string    `json:"body,omitempty"`
	HTML        string    `json:"html"`
	Tags        []string  `json:"tags"`
	PublishedAt time.Time `json:"publishedAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Version starts at 1 and grows with every change.
	Version int64 `json:"-"`
}

// Public returns the post as the public sees it: without the Markdown source.
func (p Post) Public() Post {
	p.Body = ""
	if p.Tags == nil {
		p.Tags = []string{}
	}
	return p
}

// Draft is what an admin sends to create or replace a post.
type Draft struct {
	Slug  string
	Title string
	Body  string
	Tags  []string
}

// PostPage is one page of posts, newest first. Cursor is empty on the last page.
type PostPage struct {
	Items  []Post
	Cursor string
}

// Photo statuses. The thumbnailer moves a pending photo to one of the others, once:
// ready (thumbnails made), rejected (the upload is not an image it accepts: not an
// image, not of the declared type, too large, truncated, hostile; Reason says which) or
// failed (it could not be processed for good, such as deleted before it was).
const (
	PhotoPending  = photoitem.Pending
	PhotoReady    = photoitem.Ready
	PhotoRejected = photoitem.Rejected
	PhotoFailed   = photoitem.Failed
)

// Photo is an uploaded image and what became of it.
type Photo struct {
	ID           string
	Status       string
	ContentType  string
	Filename     string
	OriginalKey  string
	ThumbnailKey string
	// ThumbnailWebPKey is the WebP of the same thumbnail, when the thumbnailer found it
	// smaller than the JPEG ("" otherwise).
	ThumbnailWebPKey string
	Reason           string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// PhotoPage is one page of photos, newest first.
type PhotoPage struct {
	Items  []Photo
	Cursor string
}

// Subscription statuses. A subscribe request stores a pending subscriber, whose
// confirmation email the welcome mailer sends; only the POST of the link in it makes
// the subscriber confirmed, and only a confirmed subscriber gets the welcome email.
const (
	SubscriberPending   = subscriberitem.Pending
	SubscriberConfirmed = subscriberitem.Confirmed
)

// Subscriber is one address on the mailing list.
type Subscriber struct {
	Email  string
	Status string
	// Region names the region whose welcome mailer acts on this subscriber: the region
	// of the blog-api that took the latest subscribe request. A confirmation keeps it,
	// so the two regions' stream copies of any write never both send (the table is
	// global; each region's stream carries every write).
	Region       string
	SubscribedAt time.Time
	ConfirmedAt  time.Time
	// ExpiresAt ends a pending subscription (the table's TTL attribute); zero once
	// confirmed.
	ExpiresAt time.Time
}

// Confirmation is the outcome of confirming a subscription.
type Confirmation int

// Confirmation outcomes.
const (
	// Confirmed: this request confirmed a pending subscription.
	Confirmed Confirmation = iota
	// AlreadyConfirmed: the subscription had been confirmed before; nothing changed.
	AlreadyConfirmed
	// NotPending: there is no pending subscription to confirm (it expired, the address
	// unsubscribed, or it was never requested).
	NotPending
)

// PostStore keeps posts. Implementations return *apperr.Error values with code
// NotFound, Conflict (slug taken), PreconditionFailed (version changed) or Unavailable;
// anything else is internal.
type PostStore interface {
	// CreatePost stores p; Conflict if its slug exists.
	CreatePost(ctx context.Context, p Post) error
	// GetPost returns the post with slug.
	GetPost(ctx context.Context, slug string) (Post, error)
	// ListPosts returns up to limit posts, newest first, after cursor.
	ListPosts(ctx context.Context, limit int, cursor string) (PostPage, error)
	// ReplacePost writes p if the stored version is still prev.
	ReplacePost(ctx context.Context, p Post, prev int64) error
	// DeletePost removes the post with slug; NotFound if there is none.
	DeletePost(ctx context.Context, slug string) error
}

// SubscriberStore keeps the mailing list.
type SubscriberStore interface {
	// RequestSubscription stores s, a pending subscriber, unless the address is
	// confirmed already (a pending one is replaced: a new request, a new email);
	// written says whether it was stored.
	RequestSubscription(ctx context.Context, s Subscriber) (written bool, err error)
	// ConfirmSubscription confirms email's pending subscription unless it expired
	// before now, keeping its region.
	ConfirmSubscription(ctx context.Context, email string, now time.Time) (Confirmation, error)
	// RemoveSubscriber deletes the address; removing an absent one is not an error.
	RemoveSubscriber(ctx context.Context, email string) error
}

// Limiter counts events per key in fixed windows (rate limits shared by every
// replica). Implementations return *apperr.Error values with code Unavailable when
// they cannot count.
type Limiter interface {
	// Take counts one event for key in the current window of length window, unless
	// key already had limit events in it: then ok is false and wait is the time until
	// the next window.
	Take(ctx context.Context, key string, limit int, window time.Duration) (ok bool, wait time.Duration, err error)
}

// PhotoStore keeps photo records.
type PhotoStore interface {
	// CreatePhoto stores a new record; Conflict if the id exists.
	CreatePhoto(ctx context.Context, p Photo) error
	// GetPhoto returns the record with id.
	GetPhoto(ctx context.Context, id string) (Photo, error)
	// ListPhotos returns up to limit photos, newest first, after cursor.
	ListPhotos(ctx context.Context, limit int, cursor string) (PhotoPage, error)
}

// Store is everything blog-api keeps.
type Store interface {
	PostStore
	SubscriberStore
	PhotoStore
}

// CheckTitle trims a title and checks it: 1..MaxTitleRunes characters, no control
// characters.
func CheckTitle(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", apperr.Field("title", "is required")
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxTitleRunes {
		return "", apperr.Field("title", "must be at most %d characters", MaxTitleRunes)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", apperr.Field("title", "must not contain control characters")
	}
	return s, nil
}

// CheckTags normalises tags (trimmed, lower-case, duplicates dropped, order kept) and
// checks each is a slug of at most MaxTagBytes.
func CheckTags(tags []string) ([]string, error) {
	out := []string{}
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if !ValidSlug(t) || len(t) > MaxTagBytes {
			return nil, apperr.Field("tags", "each tag must be lower-case letters, digits and single hyphens, at most %d characters", MaxTagBytes)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, apperr.Field("tags", "at most %d tags", MaxTags)
	}
	return out, nil
}

// TimeLayout is how times are stored: RFC 3339 in UTC with fixed-width nanoseconds, so
// that stored times sort as strings.
const TimeLayout = contract.TimeLayout

// FormatTime renders t in TimeLayout.
func FormatTime(t time.Time) string { return contract.FormatTime(t) }

// PostCursor is the position after p in the newest-first list of posts.
func PostCursor(p Post) string { return FormatTime(p.PublishedAt) + "#" + p.Slug }

// ParsePostCursor splits a post cursor into its time and slug, or fails with a
// nextToken field error.
func ParsePostCursor(c string) (time.Time, string, error) {
	ts, slug, ok := strings.Cut(c, "#")
	t, err := time.Parse(TimeLayout, ts)
	if !ok || err != nil || !ValidSlug(slug) {
		return time.Time{}, "", apperr.Field("nextToken", "is invalid; list again from the start")
	}
	return t, slug, nil
}
