package jsonapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
)

func TestDecode(t *testing.T) {
	type body struct {
		Title *string `json:"title"`
		Done  *bool   `json:"done"`
	}
	cases := []struct {
		name, ctype, body string
		code              apperr.Code
		field             string
	}{
		{"ok", "application/json; charset=utf-8", `{"title":"x","done":true}`, "", ""},
		{"text/plain", "text/plain", `{"title":"x"}`, apperr.UnsupportedMedia, ""},
		{"no type", "", `{"title":"x"}`, apperr.UnsupportedMedia, ""},
		{"empty", "application/json", "  ", apperr.Invalid, ""},
		{"bad utf-8", "application/json", "{\"title\":\"\xff\"}", apperr.Invalid, ""},
		{"syntax", "application/json", `{"title":`, apperr.Invalid, ""},
		{"array", "application/json", `[1]`, apperr.Invalid, ""},
		{"unknown field", "application/json", `{"title":"x","owner":"bob"}`, apperr.Invalid, "owner"},
		{"wrong type", "application/json", `{"done":"yes"}`, apperr.Invalid, "done"},
		{"trailing", "application/json", `{"title":"x"}{}`, apperr.Invalid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			var v body
			err := Decode(r, &v)
			if c.code == "" {
				if err != nil {
					t.Fatalf("Decode = %v", err)
				}
				if v.Title == nil || *v.Title != "x" || v.Done == nil || !*v.Done {
					t.Errorf("decoded %+v", v)
				}
				return
			}
			e := apperr.As(err)
			if e == nil || e.Code != c.code || e.Field != c.field {
				t.Fatalf("Decode = %v, want code %s field %q", err, c.code, c.field)
			}
		})
	}
}

func TestDecodeOverLimit(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"title":"`+strings.Repeat("a", 100)+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Body = http.MaxBytesReader(w, r.Body, 10)
	var v map[string]any
	if e := apperr.As(Decode(r, &v)); e == nil || e.Code != apperr.TooLarge {
		t.Fatalf("Decode over the limit = %v, want %s", e, apperr.TooLarge)
	}
}

// TestRespond: a value that encodes is sent with its status; one that cannot be encoded
// (a time in the year 10000) is a 500 envelope, never the success status with an empty
// body that gin's c.JSON gives.
func TestRespond(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	var logs logtest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, tc := range []struct {
		name   string
		v      any
		status int
	}{
		{"encodable", map[string]any{"title": "x <y>"}, http.StatusCreated},
		{"year 10000", map[string]any{"dueAt": time.Date(10000, 1, 1, 4, 0, 0, 0, time.UTC)}, http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/v1/todos", nil)
			Respond(c, log, http.StatusCreated, tc.v)
			if w.Code != tc.status || w.Body.Len() == 0 {
				t.Fatalf("status %d, body %q; want %d with a body", w.Code, w.Body.String(), tc.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.status == http.StatusCreated {
				want, _ := json.Marshal(tc.v)
				if w.Body.String() != string(want) {
					t.Errorf("body %s, want %s", w.Body.String(), want)
				}
				return
			}
			var env apperr.Envelope
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Code != apperr.Internal {
				t.Errorf("body %s: want the internal error envelope (%v)", w.Body.String(), err)
			}
			if strings.Contains(w.Body.String(), "year") {
				t.Errorf("the encoding error leaked to the client: %s", w.Body.String())
			}
			if !strings.Contains(logs.String(), "year outside of range") {
				t.Errorf("the encoding error was not logged: %s", logs.String())
			}
		})
	}
}

// TestMiddleware runs a net/http middleware in a gin chain: what it adds to the context
// reaches the handlers after it, and an answer it writes itself ends the chain.
func TestMiddleware(t *testing.T) {
	type key struct{}
	gate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Pass") == "" {
				http.Error(w, "refused", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, r.Header.Get("X-Pass"))))
		})
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	var after int
	r.GET("/x", Middleware(gate), func(c *gin.Context) {
		after++
		v, _ := c.Request.Context().Value(key{}).(string)
		c.String(http.StatusOK, "hello "+v)
	})
	cases := []struct {
		pass       string
		wantStatus int
		wantBody   string
		wantAfter  int
	}{
		{"ann", http.StatusOK, "hello ann", 1},
		{"", http.StatusUnauthorized, "refused\n", 0},
	}
	for _, c := range cases {
		after = 0
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if c.pass != "" {
			req.Header.Set("X-Pass", c.pass)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != c.wantStatus || w.Body.String() != c.wantBody || after != c.wantAfter {
			t.Errorf("X-Pass %q: %d %q, handler ran %d times; want %d %q, %d", c.pass, w.Code, w.Body, after, c.wantStatus, c.wantBody, c.wantAfter)
		}
	}
}
