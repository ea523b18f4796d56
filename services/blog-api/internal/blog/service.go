package blog

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/emailaddr"
)

// Renderer turns Markdown into sanitised HTML.
type Renderer interface {
	Render(src string) (string, error)
}

// Service applies the domain rules on top of a Store.
type Service struct {
	Store  Store
	Render Renderer
	// Limiter counts subscribe requests for the rate limits in Subscribe; nil means
	// no limits.
	Limiter Limiter
	// Rules are the rules of subscribing.
	Rules SubscribeRules
	// Log receives what the callers are not told (requests dropped by a rate limit);
	// nil discards it.
	Log *slog.Logger
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// SubscribeRules are the rules of subscribing (blog-api's SUBSCRIBE_* settings).
type SubscribeRules struct {
	// Region is this install's region, recorded on each subscriber it writes (the
	// welcome mailer of that region acts on it).
	Region string
	// PendingTTL is how long a pending subscription waits for its confirmation.
	PendingTTL time.Duration
	// ClientLimit subscribe requests are taken per client address per ClientWindow;
	// more are refused with 429.
	ClientLimit  int
	ClientWindow time.Duration
	// MailboxLimit requests are taken per mailbox (emailaddr.Mailbox) per
	// MailboxWindow; more are answered as usual and dropped, so the answer says nothing
	// about an address.
	MailboxLimit  int
	MailboxWindow time.Duration
}

// DefaultSubscribeRules are the rules when nothing else is configured.
var DefaultSubscribeRules = SubscribeRules{
	PendingTTL:  48 * time.Hour,
	ClientLimit: 10, ClientWindow: 10 * time.Minute,
	MailboxLimit: 1, MailboxWindow: time.Hour,
}

// NewService returns a Service over s that renders with r, with the default rules and
// no rate limits.
func NewService(s Store, r Renderer) *Service {
	return &Service{Store: s, Render: r, Rules: DefaultSubscribeRules, Now: time.Now}
}

// check validates d and renders it into a post with slug.
func (s *Service) check(d Draft) (Post, error) {
	title, err := CheckTitle(d.Title)
	if err != nil {
		return Post{}, err
	}
	if strings.TrimSpace(d.Body) == "" {
		return Post{}, apperr.Field("body", "is required")
	}
	if len(d.Body) > MaxBodyBytes {
		return Post{}, apperr.Field("body", "must be at most %d bytes", MaxBodyBytes)
	}
	tags, err := CheckTags(d.Tags)
	if err != nil {
		return Post{}, err
	}
	html, err := s.Render.Render(d.Body)
	if err != nil {
		return Post{}, err
	}
	return Post{Title: title, Body: d.Body, HTML: html, Tags: tags}, nil
}

// CreatePost validates d and stores a new post, its slug d.Slug or derived from the
// title. A taken slug is Conflict.
func (s *Service) CreatePost(ctx context.Context, d Draft) (Post, error) {
	p, err := s.check(d)
	if err != nil {
		return Post{}, err
	}
	switch {
	case d.Slug != "":
		if !ValidSlug(d.Slug) {
			return Post{}, apperr.Field("slug", "must be lower-case letters, digits and single hyphens, at most %d characters", MaxSlugBytes)
		}
		p.Slug = d.Slug
	default:
		p.Slug = Slugify(p.Title)
		if p.Slug == "" {
			return Post{}, apperr.Field("slug", "cannot be derived from this title; send one")
		}
	}
	now := s.Now().UTC()
	p.PublishedAt, p.UpdatedAt, p.Version = now, now, 1
	if err := s.Store.CreatePost(ctx, p); err != nil {
		return Post{}, fmt.Errorf("create post %s: %w", p.Slug, err)
	}
	return p, nil
}

// GetPost returns the post with slug; an invalid slug is simply not found.
func (s *Service) GetPost(ctx context.Context, slug string) (Post, error) {
	if !ValidSlug(slug) {
		return Post{}, apperr.New(apperr.NotFound, "no such post")
	}
	return s.Store.GetPost(ctx, slug)
}

// ListPosts returns one page of posts, newest first.
func (s *Service) ListPosts(ctx context.Context, limit int, cursor string) (PostPage, error) {
	return s.Store.ListPosts(ctx, limit, cursor)
}

// ReplacePost replaces the title, body and tags of the post with slug, keeping its
// publication time. A slug in d must equal slug (posts are not renamed).
func (s *Service) ReplacePost(ctx context.Context, slug string, d Draft) (Post, error) {
	if d.Slug != "" && d.Slug != slug {
		return Post{}, apperr.Field("slug", "cannot be changed; create a new post instead")
	}
	p, err := s.check(d)
	if err != nil {
		return Post{}, err
	}
	old, err := s.GetPost(ctx, slug)
	if err != nil {
		return Post{}, err
	}
	p.Slug, p.PublishedAt, p.Version = slug, old.PublishedAt, old.Version+1
	p.UpdatedAt = s.Now().UTC()
	if err := s.Store.ReplacePost(ctx, p, old.Version); err != nil {
		return Post{}, fmt.Errorf("replace post %s: %w", slug, err)
	}
	return p, nil
}

// DeletePost removes the post with slug.
func (s *Service) DeletePost(ctx context.Context, slug string) error {
	if !ValidSlug(slug) {
		return apperr.New(apperr.NotFound, "no such post")
	}
	return s.Store.DeletePost(ctx, slug)
}

// Subscribe takes a subscribe request for email from client (the caller's network
// address, "" when unknown): it normalises the address, applies the rate limits, and
// stores a pending subscriber, whose confirmation email the welcome mailer sends. A
// client over its limit is refused (Throttled, with the wait); a mailbox over its
// limit, or an address already confirmed, is dropped in silence: the caller must
// answer the same in every case, so the answer tells nobody who is subscribed.
func (s *Service) Subscribe(ctx context.Context, email, client string) error {
	addr, err := emailaddr.Normalise(email)
	if err != nil {
		return err
	}
	r := s.Rules
	if s.Limiter != nil && client != "" && r.ClientLimit > 0 {
		ok, wait, err := s.Limiter.Take(ctx, "client#"+client, r.ClientLimit, r.ClientWindow)
		if err != nil {
			return err
		}
		if !ok {
			return &apperr.Error{Code: apperr.Throttled, RetryAfter: wait,
				Message: fmt.Sprintf("too many subscribe requests from your network (at most %d every %s); try again later", r.ClientLimit, r.ClientWindow)}
		}
	}
	if s.Limiter != nil && r.MailboxLimit > 0 {
		mailbox := emailaddr.Mailbox(addr)
		ok, _, err := s.Limiter.Take(ctx, "mailbox#"+mailbox, r.MailboxLimit, r.MailboxWindow)
		if err != nil {
			return err
		}
		if !ok {
			s.log().InfoContext(ctx, "subscribe request dropped: its mailbox was sent a confirmation email recently", "mailbox", mailbox)
			return nil
		}
	}
	now := s.Now().UTC()
	_, err = s.Store.RequestSubscription(ctx, Subscriber{
		Email: addr, Status: SubscriberPending, Region: r.Region, SubscribedAt: now, ExpiresAt: now.Add(r.PendingTTL),
	})
	return err
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Confirm confirms the subscription of email (as signed into a confirmation token).
func (s *Service) Confirm(ctx context.Context, email string) (Confirmation, error) {
	return s.Store.ConfirmSubscription(ctx, email, s.Now().UTC())
}

// Unsubscribe removes email (as signed into an unsubscribe token) from the list.
func (s *Service) Unsubscribe(ctx context.Context, email string) error {
	return s.Store.RemoveSubscriber(ctx, email)
}

// photoExt maps the image types accepted for upload to their file extensions. The
// declared type is not trusted: the thumbnailer sniffs the uploaded bytes and rejects
// a file that is not of this type (the original is served with it).
var photoExt = map[string]string{
	"image/jpeg": "jpg",
	"image/png":  "png",
	"image/gif":  "gif",
	"image/webp": "webp",
	"image/heic": "heic",
	"image/heif": "heif",
	"image/avif": "avif",
}

// MaxFilenameBytes bounds a photo's original file name.
const MaxFilenameBytes = 200

// CreatePhoto records a pending photo of contentType; its upload key is
// uploads/<id>.<ext>.
func (s *Service) CreatePhoto(ctx context.Context, contentType, filename string) (Photo, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	ext, ok := photoExt[strings.ToLower(mt)]
	if err != nil || !ok {
		return Photo{}, apperr.Field("contentType", "must be one of image/jpeg, image/png, image/gif, image/webp, image/heic, image/heif, image/avif")
	}
	filename = strings.TrimSpace(filename)
	if len(filename) > MaxFilenameBytes || strings.IndexFunc(filename, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return Photo{}, apperr.Field("filename", "must be at most %d bytes without control characters", MaxFilenameBytes)
	}
	now := s.Now().UTC()
	id, err := ulid.New(ulid.Timestamp(now), rand.Reader)
	if err != nil {
		return Photo{}, fmt.Errorf("photo id: %w", err)
	}
	p := Photo{
		ID: id.String(), Status: PhotoPending, ContentType: strings.ToLower(mt), Filename: filename,
		OriginalKey: "uploads/" + id.String() + "." + ext, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.CreatePhoto(ctx, p); err != nil {
		return Photo{}, fmt.Errorf("create photo: %w", err)
	}
	return p, nil
}

// ValidPhotoID reports whether id is a ULID as CreatePhoto makes them.
func ValidPhotoID(id string) bool {
	u, err := ulid.ParseStrict(id)
	return err == nil && u.String() == id
}

// GetPhoto returns the photo with id; an invalid id is simply not found.
func (s *Service) GetPhoto(ctx context.Context, id string) (Photo, error) {
	if !ValidPhotoID(id) {
		return Photo{}, apperr.New(apperr.NotFound, "no such photo")
	}
	return s.Store.GetPhoto(ctx, id)
}

// ListPhotos returns one page of photos, newest first.
func (s *Service) ListPhotos(ctx context.Context, limit int, cursor string) (PhotoPage, error) {
	return s.Store.ListPhotos(ctx, limit, cursor)
}
