package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPatchJSON(t *testing.T) {
	title, notes, done := "T", "", true
	due := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		patch Patch
		want  string
	}{
		{name: "nothing", patch: Patch{}, want: `{}`},
		{name: "done", patch: Patch{Done: &done}, want: `{"done":true}`},
		{name: "title and empty notes", patch: Patch{Title: &title, Notes: &notes}, want: `{"notes":"","title":"T"}`},
		{name: "due", patch: Patch{DueAt: &due}, want: `{"dueAt":"2026-12-24T18:00:00Z"}`},
		{name: "clear due", patch: Patch{ClearDue: true}, want: `{"dueAt":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.patch)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(b)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
			if got, want := tt.patch.Empty(), tt.want == `{}`; got != want {
				t.Errorf("Empty = %v, want %v", got, want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    *Error
		wantMsg string
	}{
		{
			name: "envelope",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Request-Id", "from-header")
				w.WriteHeader(http.StatusPreconditionFailed)
				_, _ = w.Write([]byte(`{"error":{"code":"precondition_failed","message":"the to-do changed","requestId":"r-1"}}`))
			},
			want:    &Error{Status: 412, Code: "precondition_failed", Message: "the to-do changed", RequestID: "r-1"},
			wantMsg: "the to-do changed (request r-1)",
		},
		{
			name: "not an envelope",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-Request-Id", "r-2")
				http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
			},
			want: &Error{Status: 502, RequestID: "r-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c, err := New(srv.URL+"/", srv.Client(), func(context.Context) (string, error) { return "tok", nil })
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(context.Background(), "x")
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if tt.wantMsg == "" {
				// The message names the status and the URL.
				tt.want.Message = "502 Bad Gateway from GET " + srv.URL + "/v1/todos/x"
				tt.wantMsg = tt.want.Message + " (request r-2)"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMsg, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenError(t *testing.T) {
	called := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	defer srv.Close()
	sentinel := errors.New("session expired")
	c, err := New(srv.URL, srv.Client(), func(context.Context) (string, error) { return "", sentinel })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), 0, ""); !errors.Is(err, sentinel) {
		t.Errorf("List: err = %v, want the token error", err)
	}
	if called {
		t.Error("the API was called without a token")
	}
}

func TestNewRejectsRelativeURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8443", "/v1"} {
		if _, err := New(u, http.DefaultClient, nil); err == nil {
			t.Errorf("New(%q): err = nil, want an error", u)
		}
	}
}
