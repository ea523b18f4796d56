package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

// postsPaths are the CDN paths a post write makes stale: the list (every page and
// query) and every post.
var postsPaths = []string{"/v1/posts*"}

// purge invalidates the posts at the CDN after a write. A failure does not fail the
// write, which is done: readers then see it once the CDN's s-maxage has passed.
func (h *handlers) purge(c *gin.Context, b Backend) {
	if b.Purger == nil {
		return
	}
	if err := b.Purger.Purge(context.WithoutCancel(c.Request.Context()), postsPaths); err != nil {
		h.Log.WarnContext(c.Request.Context(), "could not invalidate the posts at the CDN; readers see the change after s-maxage", "err", err)
	}
}

func (h *handlers) listPosts(c *gin.Context) {
	limit, cursor, ok := h.page(c)
	if !ok {
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	page, err := b.Service.ListPosts(c.Request.Context(), limit, cursor)
	if err != nil {
		h.fail(c, err)
		return
	}
	items := make([]blog.Post, 0, len(page.Items))
	for _, p := range page.Items {
		items = append(items, p.Public())
	}
	h.public(c, gin.H{"items": items, "nextToken": nextToken(page.Cursor)})
}

func (h *handlers) getPost(c *gin.Context) {
	b, ok := h.backend(c)
	if !ok {
		return
	}
	p, err := b.Service.GetPost(c.Request.Context(), c.Param("slug"))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.public(c, p.Public())
}

type postRequest struct {
	Slug  *string  `json:"slug"`
	Title *string  `json:"title"`
	Body  *string  `json:"body"`
	Tags  []string `json:"tags"`
}

func (r postRequest) draft() blog.Draft {
	var d blog.Draft
	if r.Slug != nil {
		d.Slug = *r.Slug
	}
	if r.Title != nil {
		d.Title = *r.Title
	}
	if r.Body != nil {
		d.Body = *r.Body
	}
	d.Tags = r.Tags
	return d
}

func (h *handlers) createPost(c *gin.Context) {
	var req postRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	p, err := b.Service.CreatePost(c.Request.Context(), req.draft())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.purge(c, b)
	c.Header("Location", "/v1/posts/"+p.Slug)
	private(c, http.StatusCreated, p)
}

func (h *handlers) replacePost(c *gin.Context) {
	var req postRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	p, err := b.Service.ReplacePost(c.Request.Context(), c.Param("slug"), req.draft())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.purge(c, b)
	private(c, http.StatusOK, p)
}

func (h *handlers) deletePost(c *gin.Context) {
	b, ok := h.backend(c)
	if !ok {
		return
	}
	if err := b.Service.DeletePost(c.Request.Context(), c.Param("slug")); err != nil {
		h.fail(c, err)
		return
	}
	h.purge(c, b)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}
