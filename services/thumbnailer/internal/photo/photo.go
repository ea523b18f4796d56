// Package photo is the thumbnailer's domain: on an S3 ObjectCreated event for an
// upload it makes the photo's thumbnails and records the outcome on the photo: ready,
// rejected with a reason (the upload is not an image it accepts: not an image, of
// another type than declared, too large, truncated, hostile), or failed with a reason
// (the upload vanished). It does so within a memory budget: each job reserves, before
// decoding, the bytes its decode will take (estimated from the image header), so
// concurrent events cannot exhaust memory however large their images are; jobs that do
// not fit wait. When the last job of a burst ends, the memory is returned to the OS.
//
// Duplicates cost nothing: the photo's state is read before anything is downloaded (a
// photo no longer pending is acknowledged at once), thumbnails are only created, never
// replaced (a concurrent duplicate finds them written), and the photo update is
// conditional (pending -> ready|rejected|failed), so "photo ready" is logged once.
package photo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/contract/photoitem"
	"github.com/serverless-architect/serverless-architect/internal/logging"
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
	// ErrExists: an object is already there (a create-only write).
	ErrExists = errors.New("object already exists")
)

// Photo statuses, from the photo item's contract.
const (
	Pending  = photoitem.Pending
	Ready    = photoitem.Ready
	Rejected = photoitem.Rejected
	Failed   = photoitem.Failed
)

// Objects reads uploads and writes thumbnails (S3).
type Objects interface {
	// Probe returns the first n bytes of the object (fewer when it is smaller), its
	// whole size and its ETag.
	Probe(ctx context.Context, bucket, key string, n int64) (head []byte, size int64, etag string, err error)
	// Get returns the whole object if its ETag is still etag (else ErrObjectChanged),
	// reading at most size bytes.
	Get(ctx context.Context, bucket, key, etag string, size int64) ([]byte, error)
	// Create writes an object only where none is (If-None-Match: *); ErrExists when
	// one is.
	Create(ctx context.Context, bucket, key string, body []byte, contentType, cacheControl string) error
}

// Thumbnails are the keys of a photo's main thumbnail.
type Thumbnails struct {
	// JPEG is always written; WebP is "" when the WebP was not smaller.
	JPEG, WebP string
}

// Photos reads and records outcomes on photo items (DynamoDB). The Mark methods change
// only a pending photo and report whether they did; on a photo already finished they
// change nothing and return false. On a missing photo every method returns ErrNoPhoto.
type Photos interface {
	Status(ctx context.Context, id string) (string, error)
	MarkReady(ctx context.Context, id string, t Thumbnails) (bool, error)
	MarkRejected(ctx context.Context, id, reason string) (bool, error)
	MarkFailed(ctx context.Context, id, reason string) (bool, error)
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
	// Outcome, when set, is told how each upload event ended: outcome ready, rejected,
	// failed, duplicate or error (retried), and for rejected and failed a reason code
	// (Reason*): the metrics.
	Outcome func(outcome, reason string)
}

// Reason codes of rejected and failed photos, for Options.Outcome (the photo item
// keeps the full sentence).
const (
	ReasonTooLarge     = "too_large"
	ReasonNotImage     = "not_image"
	ReasonTypeMismatch = "type_mismatch"
	ReasonUploadGone   = "upload_gone"
)

// Handler handles the thumbnailer's events.
type Handler struct {
	objects Objects
	photos  Photos
	o       Options
	budget  *semaphore.Weighted
	log     *slog.Logger
	// inFlight counts jobs holding or waiting for part of the budget; reserved, the
	// bytes reserved since the count was last zero.
	inFlight, reserved atomic.Int64
	// freeOSMemory returns memory to the OS at the end of a burst.
	freeOSMemory func()
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
	return &Handler{objects: objects, photos: photos, o: o, budget: semaphore.NewWeighted(o.MemoryBudget), log: log, freeOSMemory: debug.FreeOSMemory}, nil
}

// ThumbnailKey is the key of the thumbnail of photo id at the i-th configured width in
// the format of extension ext ("jpg" or "webp"): thumbnails/<id>.<ext> for the first,
// thumbnails/<id>-<width>.<ext> for the others.
func (h *Handler) ThumbnailKey(id string, i int, ext string) string {
	if i == 0 {
		return h.o.ThumbnailsPrefix + id + "." + ext
	}
	return h.o.ThumbnailsPrefix + id + "-" + strconv.Itoa(h.o.Thumbnail.Widths[i]) + "." + ext
}

// declared maps an upload's extension (blog-api derives it from the declared content
// type) to that type and the formats its bytes may be. HEIF is the container of both
// HEIC and AVIF.
var declared = map[string]struct {
	contentType string
	formats     []thumbnail.Format
}{
	".jpg": {"image/jpeg", []thumbnail.Format{thumbnail.JPEG}}, ".png": {"image/png", []thumbnail.Format{thumbnail.PNG}},
	".gif": {"image/gif", []thumbnail.Format{thumbnail.GIF}}, ".webp": {"image/webp", []thumbnail.Format{thumbnail.WebP}},
	".heic": {"image/heic", []thumbnail.Format{thumbnail.HEIC}}, ".avif": {"image/avif", []thumbnail.Format{thumbnail.AVIF}},
	".heif": {"image/heif", []thumbnail.Format{thumbnail.HEIC, thumbnail.AVIF}},
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

// Upload makes the thumbnails of the object key just created in bucket, when key is
// an upload (under UploadsPrefix; other keys are ignored), and records the outcome on
// the photo. An error with code apperr.Invalid says the upload can never be processed
// (no photo is registered under its id, or the key names none): delivering it again
// is useless. Any other error is worth a retry.
func (h *Handler) Upload(ctx context.Context, bucket, key string) error {
	if !strings.HasPrefix(key, h.o.UploadsPrefix) {
		return nil
	}
	id, ok := PhotoID(h.o.UploadsPrefix, key)
	if !ok {
		return unprocessable(fmt.Errorf("upload key %q does not name a photo (%s<id>.<ext>)", key, h.o.UploadsPrefix))
	}
	log := h.log.With("requestId", logging.RequestID(ctx), "photo", id, "key", key)
	return h.process(ctx, log, bucket, key, id)
}

// unprocessable marks err as the end of the upload's road: no retry will help.
func unprocessable(err error) error {
	return apperr.Wrap(err, apperr.Invalid, "the upload cannot be processed")
}

// refusal is a reason to finish a photo without a thumbnail: rejected (the upload
// is not acceptable) or failed (it could not be processed, for good). code is the
// reason's Reason* code, reason the sentence the photo item keeps.
type refusal struct{ status, code, reason string }

func (r *refusal) Error() string { return r.reason }

func reject(code, format string, args ...any) error {
	return &refusal{Rejected, code, fmt.Sprintf(format, args...)}
}

// rejectImage rejects the upload for err, an error of thumbnail.Inspect or Make.
func rejectImage(err error) error {
	if errors.Is(err, thumbnail.ErrTooLarge) {
		return reject(ReasonTooLarge, "%v", err)
	}
	return reject(ReasonNotImage, "%v", err)
}

func fail(code, format string, args ...any) error {
	return &refusal{Failed, code, fmt.Sprintf(format, args...)}
}

func (h *Handler) outcome(outcome, reason string) {
	if h.o.Outcome != nil {
		h.o.Outcome(outcome, reason)
	}
}

func (h *Handler) process(ctx context.Context, log *slog.Logger, bucket, key, id string) error {
	status, err := h.photos.Status(ctx, id)
	switch {
	case errors.Is(err, ErrNoPhoto):
		return unprocessable(fmt.Errorf("photo %s: %w", id, err))
	case err != nil:
		return fmt.Errorf("read photo %s: %w", id, err)
	case status != Pending:
		log.Debug("duplicate delivery: the photo is already finished", "status", status)
		h.outcome("duplicate", "")
		return nil
	}
	thumbs, err := h.thumbnails(ctx, bucket, key, id)
	var r *refusal
	var done bool
	switch {
	case errors.As(err, &r) && r.status == Rejected:
		done, err = h.photos.MarkRejected(ctx, id, r.reason)
	case errors.As(err, &r):
		done, err = h.photos.MarkFailed(ctx, id, r.reason)
	case err != nil:
		h.outcome("error", "")
		return err // retryable
	default:
		done, err = h.photos.MarkReady(ctx, id, thumbs)
	}
	switch {
	case errors.Is(err, ErrNoPhoto):
		return unprocessable(fmt.Errorf("photo %s: %w", id, err))
	case err != nil:
		h.outcome("error", "")
		return fmt.Errorf("record outcome of photo %s: %w", id, err)
	case !done:
		log.Debug("duplicate delivery: another delivery finished the photo meanwhile")
		h.outcome("duplicate", "")
	case r != nil:
		log.Info("photo "+r.status, "reason", r.reason)
		h.outcome(r.status, r.code)
	default:
		log.Info("photo ready", "thumbnail", thumbs.JPEG, "webp", thumbs.WebP)
		h.outcome(Ready, "")
	}
	return nil
}

// reserve waits for n bytes of the budget and returns the function that gives them
// back; the last job of a burst then returns the memory to the OS.
func (h *Handler) reserve(ctx context.Context, n int64) (func(), error) {
	h.inFlight.Add(1) // waiting counts: the burst is not over while jobs queue
	if err := h.budget.Acquire(ctx, n); err != nil {
		h.inFlight.Add(-1)
		return nil, fmt.Errorf("wait for memory: %w", err)
	}
	h.reserved.Add(n)
	return func() {
		h.budget.Release(n)
		if h.inFlight.Add(-1) == 0 && h.reserved.Swap(0) >= burstBytes {
			h.freeOSMemory()
		}
	}, nil
}

// burstBytes is how much a burst must have reserved for its end to return memory to
// the OS (a collection and a scavenge: worth it only after large decodes).
const burstBytes = 32 << 20

// thumbnails makes and writes the thumbnails, returning their keys, a *refusal for an
// upload that will never make one, or another (retryable) error.
func (h *Handler) thumbnails(ctx context.Context, bucket, key, id string) (Thumbnails, error) {
	lim := h.o.Thumbnail.Limits
	head, size, etag, err := h.objects.Probe(ctx, bucket, key, h.o.ProbeBytes)
	switch {
	case errors.Is(err, ErrObjectGone):
		return Thumbnails{}, fail(ReasonUploadGone, "the upload no longer exists")
	case err != nil:
		return Thumbnails{}, fmt.Errorf("read %s: %w", key, err)
	case size > lim.MaxBytes:
		return Thumbnails{}, reject(ReasonTooLarge, "the file is %d bytes, over the limit of %d", size, lim.MaxBytes)
	}
	need := size
	hdr, err := thumbnail.Inspect(head, h.o.Thumbnail)
	switch {
	case errors.Is(err, thumbnail.ErrIncomplete) && size > int64(len(head)):
		// The header runs past the probe (huge metadata): reserve the file now and the
		// decode once the whole file is read.
	case errors.Is(err, thumbnail.ErrIncomplete):
		return Thumbnails{}, reject(ReasonNotImage, "not an image: the file ends inside its header")
	case err != nil:
		return Thumbnails{}, rejectImage(err)
	default:
		if err := checkDeclared(key, hdr.Format); err != nil {
			return Thumbnails{}, err
		}
		need += hdr.DecodeBytes
	}
	if need > h.o.MemoryBudget {
		return Thumbnails{}, reject(ReasonTooLarge, "processing needs %d MB, over the memory budget of %d MB", need>>20, h.o.MemoryBudget>>20)
	}
	release, err := h.reserve(ctx, need)
	if err != nil {
		return Thumbnails{}, err
	}
	defer func() { release() }()

	data := head
	if int64(len(head)) < size {
		if data, err = h.objects.Get(ctx, bucket, key, etag, size); err != nil {
			if errors.Is(err, ErrObjectGone) {
				return Thumbnails{}, fail(ReasonUploadGone, "the upload no longer exists")
			}
			return Thumbnails{}, fmt.Errorf("read %s: %w", key, err)
		}
	}
	if hdr.DecodeBytes == 0 {
		if hdr, err = thumbnail.Inspect(data, h.o.Thumbnail); err != nil {
			return Thumbnails{}, rejectImage(err)
		}
		if err := checkDeclared(key, hdr.Format); err != nil {
			return Thumbnails{}, err
		}
		if need+hdr.DecodeBytes > h.o.MemoryBudget {
			return Thumbnails{}, reject(ReasonTooLarge, "processing needs %d MB, over the memory budget of %d MB", (need+hdr.DecodeBytes)>>20, h.o.MemoryBudget>>20)
		}
		// Give back the file's share and wait for the whole: never hold part of the
		// budget while waiting for more, which could deadlock jobs against each other.
		release()
		release = func() {}
		if release, err = h.reserve(ctx, need+hdr.DecodeBytes); err != nil {
			release = func() {}
			return Thumbnails{}, err
		}
	}
	res, err := thumbnail.Make(data, h.o.Thumbnail)
	if errors.Is(err, thumbnail.ErrNotImage) || errors.Is(err, thumbnail.ErrTooLarge) {
		return Thumbnails{}, rejectImage(err)
	}
	if err != nil {
		return Thumbnails{}, fmt.Errorf("make thumbnails of %s: %w", key, err)
	}
	var thumbs Thumbnails
	// The main JPEG goes last: once it exists, every other file does too.
	for i := len(res.Renditions) - 1; i >= 0; i-- {
		r := res.Renditions[i]
		if r.WebP != nil {
			k := h.ThumbnailKey(id, i, "webp")
			if err := h.create(ctx, bucket, k, r.WebP, "image/webp"); err != nil {
				return Thumbnails{}, err
			}
			if i == 0 {
				thumbs.WebP = k
			}
		}
		k := h.ThumbnailKey(id, i, "jpg")
		if err := h.create(ctx, bucket, k, r.JPEG, "image/jpeg"); err != nil {
			return Thumbnails{}, err
		}
		thumbs.JPEG = k
	}
	return thumbs, nil
}

// create writes a thumbnail unless a delivery of the same event wrote it already
// (thumbnails are deterministic: it would be the same bytes).
func (h *Handler) create(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	err := h.objects.Create(ctx, bucket, key, body, contentType, h.o.CacheControl)
	if err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// checkDeclared rejects an upload whose bytes are not of the type it was declared as
// (its key's extension): the original is served with the declared type.
func checkDeclared(key string, f thumbnail.Format) error {
	d, ok := declared[strings.ToLower(path.Ext(key))]
	if !ok {
		return nil
	}
	for _, w := range d.formats {
		if w == f {
			return nil
		}
	}
	return reject(ReasonTypeMismatch, "the file is %s (%s), but was uploaded as %s", strings.ToUpper(string(f)), f.ContentType(), d.contentType)
}
