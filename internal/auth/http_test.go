package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwa"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logging"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string // Authorization header values
		want    string
		wantErr string // a part of the message; empty for success
	}{
		{name: "bearer", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "lower-case scheme", headers: []string{"bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "upper-case scheme", headers: []string{"BEARER abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "extra spaces", headers: []string{"  Bearer    abc.def.ghi  "}, want: "abc.def.ghi"},
		{name: "missing", wantErr: "missing bearer token"},
		{name: "empty header", headers: []string{""}, wantErr: "Bearer <token>"},
		{name: "basic", headers: []string{"Basic dXNlcjpwYXNz"}, wantErr: "Bearer <token>"},
		{name: "scheme only", headers: []string{"Bearer"}, wantErr: "Bearer <token>"},
		{name: "scheme and space only", headers: []string{"Bearer   "}, wantErr: "Bearer <token>"},
		{name: "no space after scheme", headers: []string{"Bearerabc.def.ghi"}, wantErr: "Bearer <token>"},
		{name: "token without scheme", headers: []string{"abc.def.ghi"}, wantErr: "Bearer <token>"},
		{name: "two tokens", headers: []string{"Bearer abc def"}, wantErr: "Bearer <token>"},
		{name: "tab inside token", headers: []string{"Bearer abc\tdef"}, wantErr: "Bearer <token>"},
		{name: "two headers", headers: []string{"Bearer abc", "Bearer def"}, wantErr: "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerToken(r)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("BearerToken: %v", err)
				}
				if got != tt.want {
					t.Errorf("token = %q, want %q", got, tt.want)
				}
				return
			}
			e := apperr.As(err)
			if e == nil || e.Code != apperr.Unauthenticated {
				t.Fatalf("BearerToken: %v; want an unauthenticated *apperr.Error", err)
			}
			if !strings.Contains(e.Message, tt.wantErr) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantErr)
			}
			if got != "" {
				t.Errorf("token = %q on error", got)
			}
		})
	}
}

func TestIdentityContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext found an identity in an empty context")
	}
	want := Identity{Subject: "s", Groups: []string{"g"}}
	got, ok := FromContext(WithIdentity(context.Background(), want))
	if !ok {
		t.Fatal("FromContext found no identity")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t)
	good := sign(t, jwa.RS256(), f.key, "k1", idClaims())
	expired := sign(t, jwa.RS256(), f.key, "k1", with(idClaims(), map[string]any{"exp": testNow.Unix() - 3600}))

	// next echoes the identity it finds in the context.
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no identity", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": id.Subject, "admin": id.InGroup("admins")})
	})

	tests := []struct {
		name      string
		jwksDown  bool
		auth      string
		wantCode  int
		wantBody  map[string]any // for success
		wantErr   apperr.Code
		wantChall string // WWW-Authenticate; "" means absent
		wantRetry string // Retry-After; "" means absent
	}{
		{
			name: "valid token", auth: "Bearer " + good,
			wantCode: http.StatusOK, wantBody: map[string]any{"sub": testSubject, "admin": true},
		},
		{
			name: "lower-case scheme", auth: "bearer " + good,
			wantCode: http.StatusOK, wantBody: map[string]any{"sub": testSubject, "admin": true},
		},
		{
			name:     "no Authorization header",
			wantCode: http.StatusUnauthorized, wantErr: apperr.Unauthenticated, wantChall: `Bearer`,
		},
		{
			name: "malformed header", auth: "Token " + good,
			wantCode: http.StatusUnauthorized, wantErr: apperr.Unauthenticated,
			wantChall: `Bearer error="invalid_token", error_description="Authorization header must be 'Bearer <token>'"`,
		},
		{
			name: "expired token", auth: "Bearer " + expired,
			wantCode: http.StatusUnauthorized, wantErr: apperr.Unauthenticated,
			wantChall: `Bearer error="invalid_token", error_description="token has expired"`,
		},
		{
			name: "garbage token", auth: "Bearer garbage",
			wantCode: http.StatusUnauthorized, wantErr: apperr.Unauthenticated,
			wantChall: `Bearer error="invalid_token", error_description="malformed token"`,
		},
		{
			name: "signing keys unavailable", jwksDown: true, auth: "Bearer " + good,
			wantCode: http.StatusServiceUnavailable, wantErr: apperr.Unavailable, wantRetry: "1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.verifier(t, nil)
			if tt.jwksDown {
				down := newFixture(t)
				down.jwks.set(nil)
				v = down.verifier(t, nil)
			}
			h := Middleware(v)(next)

			r := httptest.NewRequest(http.MethodGet, "/v1/todos", nil)
			r = r.WithContext(logging.WithRequestID(r.Context(), "req-123"))
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChall {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChall)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if tt.wantErr == "" {
				var got map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatalf("decode body %q: %v", w.Body, err)
				}
				if diff := cmp.Diff(tt.wantBody, got); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			var env apperr.Envelope
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
				t.Fatalf("decode envelope %q: %v", w.Body, err)
			}
			if env.Error.Code != tt.wantErr || env.Error.RequestID != "req-123" || env.Error.Message == "" {
				t.Errorf("envelope = %+v, want code %q, request id req-123 and a message", env.Error, tt.wantErr)
			}
			if strings.Contains(w.Body.String(), good) || strings.Contains(w.Body.String(), expired) {
				t.Error("the response quotes the token")
			}
		})
	}
}
