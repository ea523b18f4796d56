package auth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logging"
)

// BearerToken returns the token of an "Authorization: Bearer <token>" header; the
// scheme is case-insensitive. A missing or malformed header is an *apperr.Error with
// code apperr.Unauthenticated.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", unauthenticated("missing bearer token", nil)
	case 1:
	default:
		return "", unauthenticated("more than one Authorization header", nil)
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated(`Authorization header must be "Bearer <token>"`, nil)
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", unauthenticated(`Authorization header must be "Bearer <token>"`, nil)
	}
	return token, nil
}

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the Identity Middleware stored in ctx, and whether there is one.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Middleware verifies the request's bearer token with v and calls next with the
// caller's Identity in the context (see FromContext). Otherwise it answers with the
// error envelope: 401 with a WWW-Authenticate: Bearer challenge for a missing or bad
// token, 503 when the signing keys cannot be fetched. It is the one authentication
// middleware of the HTTP services (the gin ones run it through jsonapi.Middleware).
func Middleware(v *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			token, err := BearerToken(r)
			if err == nil {
				var id Identity
				id, err = v.Verify(ctx, token)
				if err == nil {
					next.ServeHTTP(w, r.WithContext(WithIdentity(ctx, id)))
					return
				}
			}
			Refuse(w.Header(), r, v.log, err)
			apperr.Write(w, err, logging.RequestID(ctx))
		})
	}
}

// Refuse prepares the answer to a request whose authentication failed with err (from
// BearerToken or Verify) and logs why; the caller then writes err as the envelope. A
// token problem gets a WWW-Authenticate challenge in h: a bare "Bearer" when the request
// sent no credentials at all (RFC 6750 §3.1), else an invalid_token error with its
// reason. Anything else (the signing keys cannot be fetched) is logged as a warning.
func Refuse(h http.Header, r *http.Request, log *slog.Logger, err error) {
	ctx := r.Context()
	e := apperr.As(err)
	switch {
	case e == nil || e.Code != apperr.Unauthenticated:
		log.WarnContext(ctx, "cannot authenticate request", "err", err)
	case len(r.Header.Values("Authorization")) == 0:
		h.Set("WWW-Authenticate", `Bearer`)
		log.DebugContext(ctx, "request not authenticated", "reason", e.Message)
	default:
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+quoteSafe(e.Message)+`"`)
		log.InfoContext(ctx, "request not authenticated", "reason", e.Message, "err", e.Err)
	}
}

// quoteSafe makes s safe inside a quoted-string of a WWW-Authenticate header
// (RFC 6750 §3: error_description is printable ASCII without '"' and '\').
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}
