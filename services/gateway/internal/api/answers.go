package api

import (
	"net/http"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/logging"
)

func (g *Gateway) fail(x *exchange, err error) {
	x.answering()
	apperr.Write(x.w, err, logging.RequestID(x.r.Context()))
}

func (g *Gateway) throttled(x *exchange, limit string, wait time.Duration) {
	g.metrics.throttled.WithLabelValues(x.rt.Name, limit).Inc()
	g.fail(x, &apperr.Error{Code: apperr.Throttled, Message: "too many requests; retry after the time Retry-After gives", RetryAfter: max(wait, time.Second)})
}

// unauthorized answers as auth.Middleware does (auth.Refuse): 401 with a Bearer
// challenge, or 503 when the signing keys cannot be fetched.
func (g *Gateway) unauthorized(x *exchange, err error) {
	auth.Refuse(x.w.Header(), x.r, g.log, err)
	g.fail(x, err)
}

// statusWriter remembers the status for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
