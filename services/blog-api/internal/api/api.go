// Package api is blog-api's HTTP layer (gin): public, cacheable reads of posts and
// photos; admin writes gated on a Cognito group; subscribe (double opt-in: the
// confirmation link's page and its POST) and unsubscribe. Errors are mapped to the
// contract's envelope in one place.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/internal/maillink"
	"github.com/serverless-architect/serverless-architect/internal/originverify"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

// Presigner makes upload URLs for keys of the media bucket.
type Presigner interface {
	// PresignUpload returns a URL a client may PUT one object of contentType to.
	PresignUpload(ctx context.Context, key, contentType string) (string, error)
}

// Backend is what the handlers call, built in the background at start-up.
type Backend struct {
	Service   *blog.Service
	Presigner Presigner
	// Purger, when set, tells the CDN that the posts changed.
	Purger Purger
	// Origin are the values of the distribution's origin-verify header: only a request
	// carrying one is believed about the client's address (Deps.ClientHeader).
	Origin originverify.Secrets
}

// Purger invalidates cached public answers at the CDN.
type Purger interface {
	Purge(ctx context.Context, paths []string) error
}

// Deps are what the handlers need.
type Deps struct {
	Log     *slog.Logger
	Auth    *auth.Verifier
	Backend *awsconf.Pending[Backend]
	// Links verifies the tokens of the confirmation and unsubscribe links.
	Links *maillink.Signer
	// ClientHeader names the request header holding the client's address as the CDN
	// saw it (CloudFront-Viewer-Address), believed only on a request that proves it came
	// through the distribution (Backend.Origin); empty, absent from a request or
	// unproven means the TCP peer's address.
	ClientHeader string
	// CacheControl is the Cache-Control of public reads.
	CacheControl string
	// MediaBaseURL prefixes media keys to make URLs.
	MediaBaseURL string
	AdminGroup   string
	PageSize     int
	MaxPage      int
}

// Handler returns the gin engine serving the blog routes.
func Handler(d Deps) http.Handler {
	r := jsonapi.Engine(d.Log)
	h := &handlers{d}
	admin := []gin.HandlerFunc{jsonapi.Middleware(auth.Middleware(d.Auth)), h.admin}
	v1 := r.Group("/v1")
	v1.GET("/posts", h.listPosts)
	v1.GET("/posts/:slug", h.getPost)
	v1.POST("/posts", append(admin, h.createPost)...)
	v1.PUT("/posts/:slug", append(admin, h.replacePost)...)
	v1.DELETE("/posts/:slug", append(admin, h.deletePost)...)
	v1.POST("/subscribers", h.subscribe)
	v1.GET("/subscribers/confirm", h.confirmPage)
	v1.POST("/subscribers/confirm", h.confirm)
	v1.GET("/subscribers/unsubscribe", h.unsubscribePage)
	v1.POST("/subscribers/unsubscribe", h.unsubscribe)
	v1.GET("/photos", h.listPhotos)
	v1.POST("/photos", append(admin, h.createPhoto)...)
	v1.GET("/photos/:id", h.getPhoto)
	return r
}

type handlers struct{ Deps }

// fail writes err as the error envelope and logs what the client does not see.
func (h *handlers) fail(c *gin.Context, err error) { jsonapi.Fail(c, h.Log, err) }

// admin lets through only a member of AdminGroup, after auth.Middleware (which answers
// 401 without a valid token): 403 without the group.
func (h *handlers) admin(c *gin.Context) {
	if id, ok := auth.FromContext(c.Request.Context()); !ok || !id.InGroup(h.AdminGroup) {
		h.fail(c, apperr.New(apperr.Forbidden, "only members of the %s group may do this", h.AdminGroup))
		return
	}
	c.Next()
}

func (h *handlers) backend(c *gin.Context) (Backend, bool) {
	b, err := h.Backend.Get(c.Request.Context())
	if err != nil {
		h.fail(c, apperr.Wrap(err, apperr.Unavailable, "the service is starting or cannot reach AWS; retry shortly"))
		return Backend{}, false
	}
	return b, true
}
