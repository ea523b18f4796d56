// Package photo is the thumbnailer's domain: on an S3 ObjectCreated event for an
// upload it makes the photo's thumbnails and records the outcome on the photo, ready or
// failed with a reason. It does so within a memory budget: each job reserves, before
// decoding, the bytes its decode will take (estimated from the image header), so
// concurrent events cannot exhaust memory however large their images are.
//
// Redelivery is harmless: thumbnails are deterministic (same key, same bytes) and the
// photo update is conditional (pending -> ready|failed only).
package photo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"golang.org/x/sync/semaphore"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
)

// Errors the adapters return.
var (
	// ErrNoPhoto: no photo is registered under the id.
	ErrNoPhoto = errors.New("no such photo")
	// ErrObjectGone: the object no longer exists.
	ErrObjectGone = errors.New("object not found")
	// ErrObjectChanged: the object was replaced between two reads.
	ErrObjectChanged = errors.New("object changed while being read")
)

// Objects reads uploads and writes thumbnails (S3).
type Objects interface {
	// Probe returns the first n bytes of the object (fewer when it is smaller), its
	// whole size and its ETag.
	Probe(ctx context.Context, bucket, key string, n int64) (head []byte, size int64, etag string, err error)
	// Get returns the whole object if its ETag is still etag (else ErrObjectChanged),
	// reading at most size bytes.
	Get(ctx context.Context, bucket, key, etag string, size int64) ([]byte, error)
	// Put writes an object.
	Put(ctx context.Context, bucket, key string, body []byte, contentType, cacheControl string) error
}

// Photos records outcomes on photo items (DynamoDB). Both methods change only a pending
// photo; on a photo already ready or failed they do nothing and return nil; on a
// missing one they return ErrNoPhoto.
type Photos interface {
	MarkReady(ctx context.Context, id, thumbnailKey string) error
	MarkFailed(ctx context.Context, id, reason string) error
}

// Options configure a Handler.
type Options struct {
	// Thumbnail are the widths, quality and limits.
	Thumbnail thumbnail.Options
	// MemoryBudget is the bytes all jobs in flight may reserve together.
	MemoryBudget int64
	// ProbeBytes is how much of an object is read to find its header.
	ProbeBytes int64
	// UploadsPrefix is where uploads are ("uploads/"); other keys are ignored.
	UploadsPrefix string
	// ThumbnailsPrefix is where thumbnails go ("thumbnails/").
	ThumbnailsPrefix string
	// CacheControl is the thumbnails' Cache-Control.
	CacheControl string
}

// Handler handles the thumbnailer's events.
type Handler struct {
	objects Objects
	photos  Photos
	o       Options
	budget  *semaphore.Weighted
	log     *slog.Logger
}

// New returns a Handler.
func New(objects Objects, photos Photos, o Options, log *slog.Logger) (*Handler, error) {
	if o.MemoryBudget < 1<<20 {
		return nil, fmt.Errorf("memory budget %d bytes is below 1 MiB", o.MemoryBudget)
	}
	if o.ProbeBytes < 64 {
		return nil, fmt.Errorf("probe size %d bytes is below 64", o.ProbeBytes)
	}
	if len(o.Thumbnail.Widths) == 0 || o.Thumbnail.Quality < 1 || o.Thumbnail.Quality > 100 {
		return nil, errors.New("thumbnail widths missing or quality not within 1..100")
	}
	return &Handler{objects: objects, photos: photos, o: o, budget: semaphore.NewWeighted(o.MemoryBudget), log: log}, nil
}

// ThumbnailKey is the key of the thumbnail of photo id at the i-th configured width:
// thumbnails/<id>.jpg for the first, thumbnails/<id>-<width>.jpg for the others.
func (h *Handler) ThumbnailKey(id string, i int) string {
	if i == 0 {
		return h.o.ThumbnailsPrefix + id + ".jpg"
	}
	return h.o.ThumbnailsPrefix + id + "-" + strconv.Itoa(h.o.Thumbnail.Widths[i]) + ".jpg"
}

// PhotoID is the id in an upload key: uploads/<id>.<ext> -> <id>. ok is false for a key
// outside prefix or with an empty or nested name.
func PhotoID(prefix, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	id := strings.TrimSuffix(rest, path.Ext(rest))
	return id, id != ""
}

// Handle is the cloudevent.Handler: S3 ObjectCreated events for uploads make
// thumbnails; every other event is acknowledged and ignored.
func (h *Handler) Handle(ctx context.Context, e cloudevents.Event) error {
	if !s3event.IsObjectCreated(e) {
		return nil
	}
	rec, key, err := s3event.FromEvent(e)
	if err != nil {
		return cloudevent.Permanent(err)
	}
	if !strings.HasPrefix(key, h.o.UploadsPrefix) {
		return nil
	}
	id, ok := PhotoID(h.o.UploadsPrefix, key)
	if !ok {
		return cloudevent.Permanent(fmt.Errorf("upload key %q does not name a photo (%s<id>.<ext>)", key, h.o.UploadsPrefix))
	}
	log := h.log.With("requestId", logging.RequestID(ctx), "photo", id, "key", key)
	return h.process(ctx, log, rec.S3.Bucket.Name, key, id)
}

// refusal is a reason to mark a photo failed.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

func (h *Handler) process(ctx context.Context, log *slog.Logger, bucket, key, id string) error {
	keys, err := h.thumbnails(ctx, bucket, key, id)
	var r *refusal
	switch {
	case errors.As(err, &r):
		log.Info("photo failed", "reason", r.reason)
		return h.record(h.photos.MarkFailed(ctx, id, r.reason), id)
	case err != nil:
		return err // retryable
	}
	log.Info("photo ready", "thumbnail", keys[0])
	return h.record(h.photos.MarkReady(ctx, id, keys[0]), id)
}

func (h *Handler) record(err error, id string) error {
	switch {
	case errors.Is(err, ErrNoPhoto):
		return cloudevent.Permanent(fmt.Errorf("photo %s: %w", id, err))
	case err != nil:
		return fmt.Errorf("record outcome of photo %s: %w", id, err)
	}
	return nil
}

// thumbnails makes and writes the thumbnails, returning their keys, a *refusal for an
// upload that will never make one, or another (retryable) error.
func (h *Handler) thumbnails(ctx context.Context, bucket, key, id string) ([]string, error) {
	lim := h.o.Thumbnail.Limits
	head, size, etag, err := h.objects.Probe(ctx, bucket, key, h.o.ProbeBytes)
	switch {
	case errors.Is(err, ErrObjectGone):
		return nil, refuse("the upload no longer exists")
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", key, err)
	case size > lim.MaxBytes:
		return nil, refuse("the file is %d bytes, over the limit of %d", size, lim.MaxBytes)
	}
	need := size
	hdr, err := thumbnail.Inspect(head, lim)
	switch {
	case errors.Is(err, thumbnail.ErrIncomplete) && size > int64(len(head)):
		// The header runs past the probe (huge metadata): reserve the file now and the
		// decode once the whole file is read.
	case errors.Is(err, thumbnail.ErrIncomplete):
		return nil, refuse("not an image: the file ends inside its header")
	case err != nil:
		return nil, refuse("%v", err)
	default:
		need += hdr.DecodeBytes
	}
	if need > h.o.MemoryBudget {
		return nil, refuse("processing needs %d MB, over the memory budget of %d MB", need>>20, h.o.MemoryBudget>>20)
	}
	if err := h.budget.Acquire(ctx, need); err != nil {
		return nil, fmt.Errorf("wait for memory: %w", err)
	}
	held := need
	defer func() { h.budget.Release(held) }()

	data := head
	if int64(len(head)) < size {
		if data, err = h.objects.Get(ctx, bucket, key, etag, size); err != nil {
			if errors.Is(err, ErrObjectGone) {
				return nil, refuse("the upload no longer exists")
			}
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
	}
	if hdr.DecodeBytes == 0 {
		if hdr, err = thumbnail.Inspect(data, lim); err != nil {
			return nil, refuse("%v", err)
		}
		if need+hdr.DecodeBytes > h.o.MemoryBudget {
			return nil, refuse("processing needs %d MB, over the memory budget of %d MB", (need+hdr.DecodeBytes)>>20, h.o.MemoryBudget>>20)
		}
		// Give back the file's share and wait for the whole: never hold part of the
		// budget while waiting for more, which could deadlock jobs against each other.
		h.budget.Release(held)
		held = 0
		if err := h.budget.Acquire(ctx, need+hdr.DecodeBytes); err != nil {
			return nil, fmt.Errorf("wait for memory: %w", err)
		}
		held = need + hdr.DecodeBytes
	}
	res, err := thumbnail.Make(data, h.o.Thumbnail)
	if errors.Is(err, thumbnail.ErrNotImage) || errors.Is(err, thumbnail.ErrTooLarge) {
		return nil, refuse("%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("make thumbnails of %s: %w", key, err)
	}
	keys := make([]string, len(res.Renditions))
	for i, r := range res.Renditions {
		keys[i] = h.ThumbnailKey(id, i)
		if err := h.objects.Put(ctx, bucket, keys[i], r.JPEG, "image/jpeg", h.o.CacheControl); err != nil {
			return nil, fmt.Errorf("write %s: %w", keys[i], err)
		}
	}
	return keys, nil
}
