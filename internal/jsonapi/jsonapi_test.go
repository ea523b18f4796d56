package jsonapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
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
