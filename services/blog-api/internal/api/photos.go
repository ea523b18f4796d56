package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

type photoRequest struct {
	ContentType *string `json:"contentType"`
	Filename    *string `json:"filename"`
}

// photoView is a photo as the API shows it.
type photoView struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	ContentType  string  `json:"contentType"`
	OriginalURL  string  `json:"originalUrl"`
	ThumbnailURL *string `json:"thumbnailUrl"`
	// ThumbnailWebPURL is the same thumbnail as WebP, when one was made (smaller).
	ThumbnailWebPURL *string   `json:"thumbnailWebpUrl,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	UploadURL        string    `json:"uploadUrl,omitempty"`
}

func (h *handlers) view(p blog.Photo) photoView {
	v := photoView{ID: p.ID, Status: p.Status, ContentType: p.ContentType, OriginalURL: h.mediaURL(p.OriginalKey), Reason: p.Reason, CreatedAt: p.CreatedAt}
	if p.Status == blog.PhotoReady && p.ThumbnailKey != "" {
		u := h.mediaURL(p.ThumbnailKey)
		v.ThumbnailURL = &u
		if p.ThumbnailWebPKey != "" {
			w := h.mediaURL(p.ThumbnailWebPKey)
			v.ThumbnailWebPURL = &w
		}
	}
	return v
}

func (h *handlers) mediaURL(key string) string {
	return strings.TrimRight(h.MediaBaseURL, "/") + "/" + key
}

func (h *handlers) createPhoto(c *gin.Context) {
	var req photoRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	if req.ContentType == nil {
		h.fail(c, apperr.Field("contentType", "is required"))
		return
	}
	filename := ""
	if req.Filename != nil {
		filename = *req.Filename
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	p, err := b.Service.CreatePhoto(c.Request.Context(), *req.ContentType, filename)
	if err != nil {
		h.fail(c, err)
		return
	}
	url, err := b.Presigner.PresignUpload(c.Request.Context(), p.OriginalKey, p.ContentType)
	if err != nil {
		h.fail(c, fmt.Errorf("presign upload of %s: %w", p.OriginalKey, err))
		return
	}
	v := h.view(p)
	v.UploadURL = url
	c.Header("Location", "/v1/photos/"+p.ID)
	private(c, http.StatusCreated, v)
}

func (h *handlers) getPhoto(c *gin.Context) {
	b, ok := h.backend(c)
	if !ok {
		return
	}
	p, err := b.Service.GetPhoto(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	// A pending photo changes soon: caches must revalidate.
	cc := h.CacheControl
	if p.Status == blog.PhotoPending {
		cc = "no-cache"
	}
	h.cacheable(c, h.view(p), cc)
}

func (h *handlers) listPhotos(c *gin.Context) {
	limit, cursor, ok := h.page(c)
	if !ok {
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	page, err := b.Service.ListPhotos(c.Request.Context(), limit, cursor)
	if err != nil {
		h.fail(c, err)
		return
	}
	items := make([]photoView, 0, len(page.Items))
	for _, p := range page.Items {
		items = append(items, h.view(p))
	}
	h.public(c, gin.H{"items": items, "nextToken": nextToken(page.Cursor)})
}
