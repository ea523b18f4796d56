package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
)

// refuseClosed answers 403 for a deleted account (a token can outlive its account):
// the routes that hand out write access to the folder call it, so nothing is
// written there again.
func (h *handlers) refuseClosed(c *gin.Context) bool {
	svc, ok := h.service(c)
	if !ok {
		return true
	}
	if err := svc.CheckOpen(c.Request.Context(), owner(c)); err != nil {
		h.fail(c, err)
		return true
	}
	return false
}

// filesService returns the files service, or fails the request with 503 when files are
// not configured or their AWS clients cannot be built.
func (h *handlers) filesService(c *gin.Context) (*files.Service, bool) {
	if h.Files == nil {
		h.fail(c, apperr.New(apperr.Unavailable, "file storage is not configured on this server (FILES_BUCKET)"))
		return nil, false
	}
	s, err := h.Files.Get(c.Request.Context())
	if err != nil {
		h.fail(c, apperr.Wrap(err, apperr.Unavailable, "the service is starting or cannot reach AWS; retry shortly"))
		return nil, false
	}
	return s, true
}

// fileCredentials is POST /v1/files/credentials.
func (h *handlers) fileCredentials(c *gin.Context) {
	s, ok := h.filesService(c)
	if !ok || h.refuseClosed(c) {
		return
	}
	g, err := s.Credentials(c.Request.Context(), owner(c))
	if err != nil {
		h.fail(c, err)
		return
	}
	noStore(c)
	jsonapi.Respond(c, h.Log, http.StatusOK, g)
}

type uploadRequest struct {
	Key         *string `json:"key"`
	ContentType *string `json:"contentType"`
	Size        *int64  `json:"size"`
}

// uploadURL is POST /v1/files/upload-url.
func (h *handlers) uploadURL(c *gin.Context) {
	var req uploadRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	r := files.UploadRequest{}
	if req.Key != nil {
		r.Key = *req.Key
	}
	if req.ContentType != nil {
		r.ContentType = *req.ContentType
	}
	if req.Size != nil {
		r.Size = *req.Size
	}
	s, ok := h.filesService(c)
	if !ok || h.refuseClosed(c) {
		return
	}
	u, err := s.UploadURL(c.Request.Context(), owner(c), r)
	if err != nil {
		h.fail(c, err)
		return
	}
	noStore(c)
	jsonapi.Respond(c, h.Log, http.StatusOK, u)
}

// downloadURL is GET /v1/files/download-url?key=.
func (h *handlers) downloadURL(c *gin.Context) {
	s, ok := h.filesService(c)
	if !ok {
		return
	}
	d, err := s.DownloadURL(c.Request.Context(), owner(c), c.Query("key"))
	if err != nil {
		h.fail(c, err)
		return
	}
	noStore(c)
	jsonapi.Respond(c, h.Log, http.StatusOK, d)
}

// filesPage is what a files nextToken seals: the listing's prefix and the key the
// next page starts after, both relative to the caller's folder.
type filesPage struct {
	Prefix string `json:"p"`
	After  string `json:"a"`
}

// listFilesResponse is a page of GET /v1/files.
type listFilesResponse struct {
	Prefix    string            `json:"prefix"`
	Items     []files.ListedKey `json:"items"`
	NextToken *string           `json:"nextToken"`
}

// listFiles is GET /v1/files?prefix=&limit=&nextToken=.
func (h *handlers) listFiles(c *gin.Context) {
	sub := owner(c)
	q := files.ListQuery{Prefix: c.Query("prefix")}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			h.fail(c, apperr.Field("limit", "must be a whole number of at least 1"))
			return
		}
		q.Limit = n
	}
	if tok := c.Query("nextToken"); tok != "" {
		raw, err := h.FilePages.Open(sub, tok)
		var p filesPage
		if err == nil {
			err = json.Unmarshal([]byte(raw), &p)
		}
		if err != nil || p.Prefix != q.Prefix {
			h.fail(c, apperr.Field("nextToken", "is invalid, expired or for another prefix; list again from the start"))
			return
		}
		q.StartAfter = p.After
	}
	s, ok := h.filesService(c)
	if !ok {
		return
	}
	l, err := s.List(c.Request.Context(), sub, q)
	if err != nil {
		h.fail(c, err)
		return
	}
	resp := listFilesResponse{Prefix: l.Prefix, Items: l.Items}
	if l.Cursor != "" {
		raw, err := json.Marshal(filesPage{Prefix: q.Prefix, After: l.Cursor})
		if err != nil {
			h.fail(c, fmt.Errorf("seal the files page: %w", err))
			return
		}
		t := h.FilePages.Seal(sub, string(raw))
		resp.NextToken = &t
	}
	private(c)
	jsonapi.Respond(c, h.Log, http.StatusOK, resp)
}

// noStore marks an answer holding credentials or signed URLs: no cache may keep it.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Vary", "Authorization")
}
