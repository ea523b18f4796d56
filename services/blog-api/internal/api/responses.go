package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/etag"
)

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
