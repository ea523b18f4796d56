// Package api is todo-api's HTTP layer (gin): it authenticates the caller, decodes and
// checks requests, calls the to-do service for the caller's own list, and maps errors
// to the contract's envelope in one place.
package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/etag"
	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/internal/pagetoken"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

// Deps are what the handlers need. Service is built in the background at start-up
// (AWS clients), so the server is ready at once; requests wait for it.
type Deps struct {
	Log      *slog.Logger
	Auth     *auth.Verifier
	Service  *awsconf.Pending[*todo.Service]
	Pages    *pagetoken.Sealer
	PageSize int
	MaxPage  int
	// Files serves the /v1/files routes; nil when FILES_BUCKET is not set (503).
	Files *awsconf.Pending[*files.Service]
	// FilePages seals the nextToken of file listings (a purpose of its own, so a to-do
	// token is no files token).
	FilePages *pagetoken.Sealer
}

// Handler returns the gin engine serving the to-do routes.
func Handler(d Deps) http.Handler {
	// gin's mode is process-wide; release mode only silences its route dump.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	h := &handlers{d}
	r.Use(jsonapi.Route, jsonapi.Recover(d.Log), jsonapi.RouteSpan())
	r.NoRoute(func(c *gin.Context) {
		h.fail(c, apperr.New(apperr.NotFound, "no route for %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		h.fail(c, apperr.New(apperr.MethodNotAllowed, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	v1 := r.Group("/v1", jsonapi.Middleware(auth.Middleware(d.Auth)))
	v1.GET("/todos", h.list)
	v1.POST("/todos", h.create)
	v1.GET("/todos/:id", h.get)
	v1.PATCH("/todos/:id", h.patch)
	v1.DELETE("/todos/:id", h.delete)
	v1.POST("/files/credentials", h.fileCredentials)
	v1.POST("/files/upload-url", h.uploadURL)
	v1.GET("/files/download-url", h.downloadURL)
	v1.GET("/files", h.listFiles)
	v1.DELETE("/me", h.deleteMe)
	return r
}

type handlers struct{ Deps }

// fail writes err as the error envelope and logs what the client does not see.
func (h *handlers) fail(c *gin.Context, err error) { jsonapi.Fail(c, h.Log, err) }

// owner is the caller auth.Middleware verified: the subject whose to-dos and files a
// request may touch.
func owner(c *gin.Context) string {
	id, ok := auth.FromContext(c.Request.Context())
	if !ok {
		panic("todo-api: a /v1 handler ran without auth.Middleware before it")
	}
	return id.Subject
}

func (h *handlers) service(c *gin.Context) (*todo.Service, bool) {
	s, err := h.Service.Get(c.Request.Context())
	if err != nil {
		h.fail(c, apperr.Wrap(err, apperr.Unavailable, "the service is starting or cannot reach AWS; retry shortly"))
		return nil, false
	}
	return s, true
}

func (h *handlers) list(c *gin.Context) {
	limit := h.PageSize
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.MaxPage {
			h.fail(c, apperr.Field("limit", "must be a whole number from 1 to %d", h.MaxPage))
			return
		}
		limit = n
	}
	sub := owner(c)
	cursor := ""
	if tok := c.Query("nextToken"); tok != "" {
		var err error
		if cursor, err = h.Pages.Open(sub, tok); err != nil {
			h.fail(c, apperr.Field("nextToken", "is invalid or expired; list again from the start"))
			return
		}
	}
	svc, ok := h.service(c)
	if !ok {
		return
	}
	page, err := svc.List(c.Request.Context(), sub, limit, cursor)
	if err != nil {
		h.fail(c, err)
		return
	}
	resp := listResponse{Items: page.Items}
	if page.Cursor != "" {
		t := h.Pages.Seal(sub, page.Cursor)
		resp.NextToken = &t
	}
	if resp.Items == nil {
		resp.Items = []todo.Todo{}
	}
	for _, u := range page.Unreadable {
		h.Log.ErrorContext(c.Request.Context(), "stored to-do is unreadable: left out of the list; fix or delete the item", "owner", sub, "id", u.ID, "err", u.Err)
		resp.Unreadable = append(resp.Unreadable, unreadableItem{ID: u.ID, Message: unreadableMessage})
	}
	private(c)
	jsonapi.Respond(c, h.Log, http.StatusOK, resp)
}

// listResponse is a page of GET /v1/todos. Unreadable names the stored to-dos of the
// page that cannot be shown (see todo.ErrUnreadable); it is absent when there are none.
type listResponse struct {
	Items      []todo.Todo      `json:"items"`
	NextToken  *string          `json:"nextToken"`
	Unreadable []unreadableItem `json:"unreadable,omitempty"`
}

type unreadableItem struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// unreadableMessage is what a client is told about a to-do it cannot be shown.
const unreadableMessage = "this to-do is stored in a form the service cannot read; it is left out of items and can be deleted"

type createRequest struct {
	Title *string `json:"title"`
	Notes *string `json:"notes"`
	Done  *bool   `json:"done"`
	DueAt *string `json:"dueAt"`
}

func (h *handlers) create(c *gin.Context) {
	var req createRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	if req.Title == nil {
		h.fail(c, apperr.Field("title", "is required"))
		return
	}
	d := todo.Draft{Title: *req.Title}
	if req.Notes != nil {
		d.Notes = *req.Notes
	}
	if req.Done != nil {
		d.Done = *req.Done
	}
	if req.DueAt != nil {
		due, err := parseDue(*req.DueAt)
		if err != nil {
			h.fail(c, err)
			return
		}
		d.DueAt = &due
	}
	svc, ok := h.service(c)
	if !ok {
		return
	}
	t, err := svc.Create(c.Request.Context(), owner(c), d)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Location", "/v1/todos/"+t.ID)
	h.writeTodo(c, http.StatusCreated, t)
}

func (h *handlers) get(c *gin.Context) {
	svc, ok := h.service(c)
	if !ok {
		return
	}
	t, err := svc.Get(c.Request.Context(), owner(c), c.Param("id"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if etag.NoneMatchHit(c.GetHeader("If-None-Match"), versionTag(t.Version)) {
		c.Header("ETag", versionTag(t.Version))
		private(c)
		c.Status(http.StatusNotModified)
		return
	}
	h.writeTodo(c, http.StatusOK, t)
}

// patchRequest tells absent members (unchanged) from null ones: null clears notes and
// the due date; a title and done always have a value.
type patchRequest struct {
	Title jsonapi.Optional[string] `json:"title"`
	Notes jsonapi.Optional[string] `json:"notes"`
	Done  jsonapi.Optional[bool]   `json:"done"`
	DueAt jsonapi.Optional[string] `json:"dueAt"`
}

func (h *handlers) patch(c *gin.Context) {
	ifMatch, err := parseIfMatch(c.GetHeader("If-Match"))
	if err != nil {
		h.fail(c, err)
		return
	}
	var req patchRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	p, err := req.patch()
	if err != nil {
		h.fail(c, err)
		return
	}
	if p.Empty() {
		h.fail(c, apperr.New(apperr.Invalid, "the patch changes nothing: send at least one of title, notes, done, dueAt"))
		return
	}
	svc, ok := h.service(c)
	if !ok {
		return
	}
	t, err := svc.Update(c.Request.Context(), owner(c), c.Param("id"), p, ifMatch)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.writeTodo(c, http.StatusOK, t)
}

// patch is the change req asks for.
func (req patchRequest) patch() (todo.Patch, error) {
	var p todo.Patch
	switch {
	case req.Title.Null:
		return p, apperr.Field("title", "must not be null: a to-do always has a title (leave title out to keep it)")
	case req.Title.Set:
		p.Title = &req.Title.V
	}
	if req.Notes.Set {
		p.Notes = &req.Notes.V // null: "", no notes
	}
	switch {
	case req.Done.Null:
		return p, apperr.Field("done", "must be true or false, not null")
	case req.Done.Set:
		p.Done = &req.Done.V
	}
	switch {
	case req.DueAt.Null:
		p.ClearDue = true
	case req.DueAt.Set:
		due, err := parseDue(req.DueAt.V)
		if err != nil {
			return p, err
		}
		p.DueAt = &due
	}
	return p, nil
}

func (h *handlers) delete(c *gin.Context) {
	ifMatch, err := parseIfMatch(c.GetHeader("If-Match"))
	if err != nil {
		h.fail(c, err)
		return
	}
	svc, ok := h.service(c)
	if !ok {
		return
	}
	if err := svc.Delete(c.Request.Context(), owner(c), c.Param("id"), ifMatch); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handlers) writeTodo(c *gin.Context, status int, t todo.Todo) {
	c.Header("ETag", versionTag(t.Version))
	private(c)
	jsonapi.Respond(c, h.Log, status, t)
}

// private marks a response as the caller's own: no shared cache may store it unless it
// keys it by the caller (the gateway does), and browsers revalidate.
func private(c *gin.Context) {
	c.Header("Cache-Control", "private, no-cache")
	c.Header("Vary", "Authorization")
}

// versionTag is a to-do's ETag: its version, quoted.
func versionTag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// parseIfMatch returns the version an If-Match header asks for: 0 when absent or "*".
// An ETag that is not one of ours can never match, so it gets 412.
func parseIfMatch(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return 0, nil
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v < 1 {
		return 0, apperr.New(apperr.PreconditionFailed, "If-Match %q does not match the to-do's ETag", h)
	}
	return v, nil
}

// parseDue reads a due date: an RFC 3339 date-time whose offset has an hour of 00 to
// 23 and a minute of 00 to 59 (Go's parser takes +24:00), and whose instant lies in
// the years 0000 to 9999 once converted to UTC (todo.ValidateDue).
func parseDue(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || !validOffset(s) {
		return time.Time{}, apperr.Field("dueAt", "must be an RFC 3339 date-time such as 2026-12-31T17:00:00Z")
	}
	return todo.ValidateDue(t)
}

// validOffset checks the numeric offset that ends an RFC 3339 date-time, if any:
// time-hour 00-23, time-minute 00-59.
func validOffset(s string) bool {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") || len(s) < 6 {
		return true
	}
	off := s[len(s)-6:]
	if off[0] != '+' && off[0] != '-' {
		return true
	}
	h, errH := strconv.Atoi(off[1:3])
	m, errM := strconv.Atoi(off[4:6])
	return errH == nil && errM == nil && off[3] == ':' && h <= 23 && m <= 59
}

// deleteMe deletes the caller's data: it closes the account's to-do list first (from
// then on lists are empty and writes are refused, for good), then deletes every
// object in the caller's folder and every to-do, and answers 204 only when all of it
// is gone. Any failure answers an error and leaves the rest for a retry, which starts
// over and finishes the job: the call is idempotent. The client then deletes the
// Cognito user; the gateway makes the caller's cached answers stale on the way back.
func (h *handlers) deleteMe(c *gin.Context) {
	ctx := c.Request.Context()
	sub := owner(c)
	svc, ok := h.service(c)
	if !ok {
		return
	}
	if err := svc.CloseAccount(ctx, sub); err != nil {
		h.fail(c, err)
		return
	}
	objects := 0
	if h.Files == nil {
		h.Log.WarnContext(ctx, "account deletion: FILES_BUCKET is not set, so no folder is deleted", "owner", sub)
	} else {
		fs, err := h.Files.Get(ctx)
		if err != nil {
			h.fail(c, apperr.Wrap(err, apperr.Unavailable, "the files service is starting or cannot reach AWS; retry shortly"))
			return
		}
		if objects, err = fs.Purge(ctx, sub); err != nil {
			h.fail(c, err)
			return
		}
	}
	todos, err := svc.Purge(ctx, sub)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Log.InfoContext(ctx, "account data deleted", "owner", sub, "todos", todos, "objects", objects)
	private(c)
	c.Status(http.StatusNoContent)
}
