// Package api is blog-api's HTTP layer (gin): public, cacheable reads of posts and
// photos; admin writes gated on a Cognito group; subscribe (double opt-in: the
// confirmation link's page and its POST) and unsubscribe. Errors are mapped to the
// contract's envelope in one place.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/emailaddr"
	"github.com/serverless-architect/serverless-architect/internal/etag"
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

// postsPaths are the CDN paths a post write makes stale: the list (every page and
// query) and every post.
var postsPaths = []string{"/v1/posts*"}

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

// page reads limit and nextToken. Page tokens are the store's cursor in base64url:
// the data is public, so there is nothing to seal, and equal pages keep equal URLs,
// which is what caches want. The store validates what the token holds.
func (h *handlers) page(c *gin.Context) (int, string, bool) {
	limit := h.PageSize
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.MaxPage {
			h.fail(c, apperr.Field("limit", "must be a whole number from 1 to %d", h.MaxPage))
			return 0, "", false
		}
		limit = n
	}
	cursor := ""
	if tok := c.Query("nextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !utf8.Valid(b) || len(b) > 200 {
			h.fail(c, apperr.Field("nextToken", "is invalid; list again from the start"))
			return 0, "", false
		}
		cursor = string(b)
	}
	return limit, cursor, true
}

func nextToken(cursor string) *string {
	if cursor == "" {
		return nil
	}
	t := base64.RawURLEncoding.EncodeToString([]byte(cursor))
	return &t
}

// public writes v as a publicly cacheable JSON response with a strong ETag over the
// exact bytes, answering a matching If-None-Match with 304.
func (h *handlers) public(c *gin.Context, v any) {
	h.cacheable(c, v, h.CacheControl)
}

func (h *handlers) cacheable(c *gin.Context, v any, cacheControl string) {
	body, err := json.Marshal(v)
	if err != nil {
		h.fail(c, fmt.Errorf("encode response: %w", err))
		return
	}
	sum := sha256.Sum256(body)
	tag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	c.Header("ETag", tag)
	c.Header("Cache-Control", cacheControl)
	if etag.NoneMatchHit(c.GetHeader("If-None-Match"), tag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// private writes an answer no cache may keep (admin writes, anything per-caller).
func private(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, v)
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

type subscribeRequest struct {
	Email *string `json:"email"`
}

// subscribeAnswer is the answer to every accepted subscribe request, whatever the
// address's state: it tells nobody who is subscribed.
var subscribeAnswer = gin.H{"status": "accepted",
	"message": "If this address can be subscribed, a confirmation email is on its way: open the link in it to start the subscription."}

// subscribe takes a subscribe request: a pending subscriber, whose confirmation email
// the welcome mailer sends. The answer is 202 and the same whether the address was
// new, pending, confirmed or over its mailbox's limit; only an invalid address (400)
// and a client over its own limit (429) are told apart.
func (h *handlers) subscribe(c *gin.Context) {
	var req subscribeRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	if req.Email == nil {
		h.fail(c, apperr.Field("email", "is required"))
		return
	}
	if _, err := emailaddr.Normalise(*req.Email); err != nil {
		h.fail(c, err)
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	header := ""
	if b.Origin.Verify(c.Request) {
		header = h.ClientHeader
	}
	if err := b.Service.Subscribe(c.Request.Context(), *req.Email, ClientKey(c.Request, header)); err != nil {
		h.fail(c, err)
		return
	}
	private(c, http.StatusAccepted, subscribeAnswer)
}

// ClientKey is what a client's subscribe requests are counted under: its IP address,
// taken from header when the request carries it (CloudFront-Viewer-Address, which
// CloudFront sets from the connection it accepted, as "ip:port") and from the TCP peer
// otherwise; an IPv6 address counts as its /64, which one subscriber line usually
// holds whole. X-Forwarded-For is not used: CloudFront appends to whatever the client
// sent, and every proxy after it appends again. "" when no address can be read.
func ClientKey(r *http.Request, header string) string {
	var addr netip.Addr
	if header != "" {
		if v := strings.TrimSpace(r.Header.Get(header)); v != "" {
			addr = viewerAddress(v)
		}
	}
	if !addr.IsValid() {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			addr = ap.Addr()
		}
	}
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// viewerAddress reads CloudFront-Viewer-Address: "198.51.100.10:46532", an IPv6 address
// followed by ":port" without brackets, or either without a port.
func viewerAddress(v string) netip.Addr {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr()
	}
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if _, err := strconv.ParseUint(v[i+1:], 10, 16); err == nil {
			if a, err := netip.ParseAddr(v[:i]); err == nil {
				return a
			}
		}
	}
	a, _ := netip.ParseAddr(v)
	return a
}

// renderPage writes the small HTML pages of the confirmation and unsubscribe links.
// It is built with html.EscapeString rather than html/template on purpose: executing a
// template links reflect's method lookup, which stops the linker from dropping unused
// methods and nearly doubles the binary (and the image). Every value goes into element
// text or a double-quoted attribute, where EscapeString is the right escaping.
func renderPage(d pageData) []byte {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<title>`)
	b.WriteString(e(d.Title))
	b.WriteString(` · MyBlog</title>
<style>body{font:1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem}</style>
</head><body><main><h1>`)
	b.WriteString(e(d.Title))
	b.WriteString(`</h1><p>`)
	b.WriteString(e(d.Message))
	b.WriteString("</p>\n")
	if d.Token != "" {
		b.WriteString(`<form method="post" action="` + e(d.Action) + `"><input type="hidden" name="token" value="` + e(d.Token) + `"><button type="submit">` + e(d.Button) + `</button></form>` + "\n")
	}
	b.WriteString("<p><a href=\"/\">Back to the blog</a></p></main></body></html>\n")
	return []byte(b.String())
}

// pageData is what a link's page shows: a title and a message, and with a token a form
// that POSTs it to Action behind a button labelled Button.
type pageData struct {
	Title, Message, Token, Action, Button string
}

func (h *handlers) writePage(c *gin.Context, status int, d pageData) {
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(status, "text/html; charset=utf-8", renderPage(d))
}

// wantsHTML reports whether the client reads HTML (a browser posting a link's form)
// rather than JSON.
func wantsHTML(c *gin.Context) bool { return strings.Contains(c.GetHeader("Accept"), "text/html") }

// linkToken is the token of a link's request: in the query (the link itself, a
// one-click unsubscribe), or in the form its page posts.
func linkToken(c *gin.Context) string {
	if tok := c.Query(maillink.Param); tok != "" {
		return tok
	}
	return c.PostForm(maillink.Param)
}

// confirmPage is what the confirmation link opens: a page with a button that POSTs to
// the same URL. The GET changes nothing, so mail scanners that follow links confirm
// nobody.
func (h *handlers) confirmPage(c *gin.Context) {
	tok := c.Query(maillink.Param)
	email, _, err := h.Links.VerifyConfirm(tok, time.Now())
	switch {
	case errors.Is(err, maillink.ErrExpired):
		h.writePage(c, http.StatusBadRequest, pageData{Title: "Link expired", Message: "This confirmation link has expired. Subscribe again on the blog to get a new one."})
		return
	case err != nil:
		h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This confirmation link is damaged or not ours. Copy the whole link from the email and try again."})
		return
	}
	h.writePage(c, http.StatusOK, pageData{
		Title: "Confirm your subscription", Message: "Send MyBlog's new posts to " + email + "?",
		Token: tok, Action: maillink.ConfirmPath + "?" + url.Values{maillink.Param: {tok}}.Encode(), Button: "Confirm subscription",
	})
}

// confirm confirms the subscription signed into the token: the only request that does.
// It answers HTML to browsers and JSON otherwise; confirming twice is not an error.
func (h *handlers) confirm(c *gin.Context) {
	email, _, err := h.Links.VerifyConfirm(linkToken(c), time.Now())
	if err != nil {
		msg := "is not a valid confirmation token"
		if errors.Is(err, maillink.ErrExpired) {
			msg = "has expired; subscribe again to get a new link"
		}
		if wantsHTML(c) {
			h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This confirmation link " + msg + "."})
			return
		}
		h.fail(c, apperr.Field("token", "%s", msg))
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	outcome, err := b.Service.Confirm(c.Request.Context(), email)
	if err != nil {
		h.fail(c, err)
		return
	}
	if outcome == blog.NotPending {
		if wantsHTML(c) {
			h.writePage(c, http.StatusNotFound, pageData{Title: "Nothing to confirm", Message: "There is no subscription waiting for " + email + ": it expired or was cancelled. Subscribe again on the blog."})
			return
		}
		h.fail(c, apperr.New(apperr.NotFound, "there is no pending subscription for this address; subscribe again"))
		return
	}
	if wantsHTML(c) {
		msg := email + " is subscribed. A welcome email is on its way."
		if outcome == blog.AlreadyConfirmed {
			msg = email + " was already subscribed."
		}
		h.writePage(c, http.StatusOK, pageData{Title: "Subscribed", Message: msg})
		return
	}
	private(c, http.StatusOK, gin.H{"confirmed": true})
}

// unsubscribePage shows a confirmation form: a GET changes nothing, so mail scanners
// that follow links do not unsubscribe anyone.
func (h *handlers) unsubscribePage(c *gin.Context) {
	tok := c.Query(maillink.Param)
	email, err := h.Links.VerifyUnsubscribe(tok)
	if err != nil {
		h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This unsubscribe link is damaged or not ours. Copy the whole link from the email and try again."})
		return
	}
	h.writePage(c, http.StatusOK, pageData{
		Title: "Unsubscribe", Message: "Stop sending MyBlog emails to " + email + "?",
		Token: tok, Action: maillink.UnsubscribePath, Button: "Unsubscribe",
	})
}

// unsubscribe removes the address signed into the token. It takes the token from the
// query (one-click List-Unsubscribe-Post) or a form field, and answers HTML to
// browsers and JSON otherwise.
func (h *handlers) unsubscribe(c *gin.Context) {
	email, err := h.Links.VerifyUnsubscribe(linkToken(c))
	if err != nil {
		if wantsHTML(c) {
			h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This unsubscribe link is damaged or not ours."})
			return
		}
		h.fail(c, apperr.Field("token", "is not a valid unsubscribe token"))
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	if err := b.Service.Unsubscribe(c.Request.Context(), email); err != nil {
		h.fail(c, err)
		return
	}
	if wantsHTML(c) {
		h.writePage(c, http.StatusOK, pageData{Title: "Unsubscribed", Message: email + " will get no more emails from MyBlog."})
		return
	}
	private(c, http.StatusOK, gin.H{"unsubscribed": true})
}

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
