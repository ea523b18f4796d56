package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Unmatched is the route label of a request no route took (a 404 or 405 of the
// router, a request refused before routing).
const Unmatched = "unmatched"

// routeSlot is where a router writes the route template of the request it serves.
type routeSlot struct{ route string }

type routeKey struct{}

// SetRoute names the route template ("/v1/posts/:slug", never the raw path: ids would
// make a series each) of the request whose context is ctx. Routers call it once they
// have matched (jsonapi.Routes for gin); outside Instrument it does nothing.
func SetRoute(ctx context.Context, route string) {
	if s, ok := ctx.Value(routeKey{}).(*routeSlot); ok {
		s.route = route
	}
}

// Instrument counts every request h answers and times it, by the route template h
// names with SetRoute (Unmatched when it names none), method and status code.
func (r *Registry) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		slot := &routeSlot{route: Unmatched}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			method := MethodLabel(req.Method)
			r.requests.WithLabelValues(slot.route, method, strconv.Itoa(sw.code)).Inc()
			r.duration.WithLabelValues(slot.route, method).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, req.WithContext(context.WithValue(req.Context(), routeKey{}, slot)))
	})
}

// MethodLabel is the method label of a request: its method when it is one of the nine
// registered methods, else OTHER, so a client sending made-up methods cannot make
// series.
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status code of the answer.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote && code >= 200 {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Flush passes a flush on where the writer below can (gin's writer asserts Flusher).
func (s *statusWriter) Flush() {
	s.wrote = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer below.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
