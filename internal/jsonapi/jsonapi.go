// Package jsonapi is the plumbing the project's gin services share: strict decoding of
// JSON request bodies with field-level messages, the one place where an error becomes
// the contract's envelope (and is logged when the client does not see it), panic
// recovery into that envelope, the route template for the request metrics (Route), and
// the adapter that runs the shared net/http
// middlewares (auth.Middleware) in a gin chain.
package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logging"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
)

// Fail writes err as the error envelope, logs what the client does not see (internal
// errors in full, dependency failures as warnings) and aborts the gin chain. A body over
// the server's limit becomes 413; a dependency failure gets Retry-After: 1 unless it
// says otherwise.
func Fail(c *gin.Context, log *slog.Logger, err error) {
	ctx := c.Request.Context()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = apperr.New(apperr.TooLarge, "request body is over the limit of %d bytes", mbe.Limit)
	}
	switch apperr.CodeOf(err) {
	case apperr.Internal:
		log.ErrorContext(ctx, "request failed", "err", err)
	case apperr.Unavailable:
		log.WarnContext(ctx, "dependency unavailable", "err", err)
		if e := apperr.As(err); e != nil && e.RetryAfter == 0 {
			e.RetryAfter = time.Second
		}
	}
	apperr.Write(c.Writer, err, logging.RequestID(ctx))
	c.Abort()
}

// Respond writes v as the JSON body of a status answer. v is encoded before anything is
// sent, so a value that cannot be encoded (a time in the year 10000, say) becomes a
// logged 500 envelope: gin's c.JSON sets the status first and, when encoding fails,
// leaves a success with an empty body.
func Respond(c *gin.Context, log *slog.Logger, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Fail(c, log, fmt.Errorf("encode the %d answer: %w", status, err))
		return
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// Middleware runs a net/http middleware (auth.Middleware) as a gin handler: when it
// passes the request on, the gin chain continues with the request it passed (its
// context carries what the middleware added); when it answers itself, the chain ends.
func Middleware(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
		if !passed {
			c.Abort()
		}
	}
}

// Route names the route gin matched ("/v1/posts/:slug", gin's FullPath) as the request's
// route in the request metrics (metrics.SetRoute); requests no route matched keep
// metrics.Unmatched. Use it on the engine, so it runs for every request.
func Route(c *gin.Context) {
	if p := c.FullPath(); p != "" {
		metrics.SetRoute(c.Request.Context(), p)
	}
	c.Next()
}

// Engine is a gin engine as every gin service sets one up: release mode (gin's mode is
// process-wide; it only silences the route dump), 405 for a known path with another
// method, request contexts that reach the gin context's values, the route on the
// request for metrics (Route) and for its span's name (RouteSpan), Recover, and the
// envelope (404 or 405) for what no route serves.
func Engine(log *slog.Logger) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(Route, Recover(log), RouteSpan())
	r.NoRoute(func(c *gin.Context) {
		Fail(c, log, apperr.New(apperr.NotFound, "no route for %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		Fail(c, log, apperr.New(apperr.MethodNotAllowed, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	return r
}

// Recover turns a panic in a handler into a logged 500 envelope.
func Recover(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				Fail(c, log, fmt.Errorf("panic: %v", v))
			}
		}()
		c.Next()
	}
}

// RouteSpan names the request's server span after the gin route that matched
// ("GET /v1/todos/:id", http.route set; telemetry.Route), so traces group requests by
// route rather than by path.
func RouteSpan() gin.HandlerFunc {
	return func(c *gin.Context) {
		telemetry.Route(c.Request, c.FullPath())
	}
}

// Decode reads a JSON request body into v: application/json only, valid UTF-8, exactly
// one value, no unknown fields, with a message that names the field at fault.
func Decode(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.UnsupportedMedia, "send the body as application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.New(apperr.TooLarge, "request body is over the limit of %d bytes", mbe.Limit)
		}
		return apperr.Wrap(err, apperr.Invalid, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.New(apperr.Invalid, "the request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return apperr.New(apperr.Invalid, "the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return apperr.New(apperr.Invalid, "the request body has data after the JSON object")
	}
	return nil
}

// Optional is a member of a JSON object that may be absent, null or a value, three
// cases a pointer cannot tell apart and a PATCH body needs. A value of the wrong type
// fails Decode with the member's name, as any field does.
type Optional[T any] struct {
	Set  bool // the member was present, as a value or as null
	Null bool // the member was null
	V    T
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apperr.New(apperr.Invalid, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apperr.New(apperr.Invalid, "the body must be a JSON object")
		}
		return apperr.Field(typ.Field, "must be a %s, not %s", kind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.Invalid, "malformed JSON: the body ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Field(name, "is not a known field")
	default:
		return apperr.New(apperr.Invalid, "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func kind(k string) string {
	switch k {
	case "ptr", "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "float64":
		return "number"
	case "slice":
		return "list"
	case "map", "struct":
		return "object"
	}
	return k
}
