package apperr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		want       Body
		retryAfter string
	}{
		{"field", Field("title", "must not be empty"), 400, Body{Code: Invalid, Message: "must not be empty", Field: "title", RequestID: "r1"}, ""},
		{"wrapped", fmt.Errorf("ctx: %w", New(NotFound, "no such to-do")), 404, Body{Code: NotFound, Message: "no such to-do", RequestID: "r1"}, ""},
		{"internal hides text", errors.New("dynamodb: secret table arn:aws:..."), 500, Body{Code: Internal, Message: "internal error; quote the request id when reporting it", RequestID: "r1"}, ""},
		{"throttled", &Error{Code: Throttled, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, Body{Code: Throttled, Message: "slow down", RequestID: "r1"}, "2"},
		{"unavailable cause hidden", Wrap(errors.New("dial tcp 127.0.0.1:4566: connection refused"), Unavailable, "retry shortly"), 503, Body{Code: Unavailable, Message: "retry shortly", RequestID: "r1"}, "2"},
		{"unavailable with its own retry", &Error{Code: Unavailable, Message: "renewing", RetryAfter: 5 * time.Second}, 503, Body{Code: Unavailable, Message: "renewing", RequestID: "r1"}, "5"},
		{"bad gateway", New(BadGateway, "upstream failed"), 502, Body{Code: BadGateway, Message: "upstream failed", RequestID: "r1"}, ""},
		{"gateway timeout", New(GatewayTimeout, "upstream too slow"), 504, Body{Code: GatewayTimeout, Message: "upstream too slow", RequestID: "r1"}, "2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Write(w, c.err, "r1")
			if w.Code != c.status {
				t.Errorf("status = %d, want %d", w.Code, c.status)
			}
			var env Envelope
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, env.Error); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := w.Header().Get("Retry-After"); got != c.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, c.retryAfter)
			}
			if strings.Contains(w.Body.String(), "connection refused") || strings.Contains(w.Body.String(), "arn:aws") {
				t.Errorf("internal text leaked: %s", w.Body.String())
			}
		})
	}
}
