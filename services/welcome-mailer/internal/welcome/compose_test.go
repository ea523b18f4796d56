package welcome

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome/welcometest"
)

func TestCompose(t *testing.T) {
	h := newTestHandler(newMemLedger(time.Now), &fakeMailer{}, nil)
	h.BlogName = "Café Ünïcode"
	msg, err := h.Render("ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Compose("MyBlog <welcome@myblog.example>", msg, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got := welcometest.ParseEmail(t, raw)
	want := welcometest.ParsedEmail{
		From: `"MyBlog" <welcome@myblog.example>`, To: "<ada@example.com>", Subject: "Welcome to Café Ünïcode",
		ListUnsubscribe:     "<https://blog.example/v1/subscribers/unsubscribe?token=ada@example.com>",
		ListUnsubscribePost: "List-Unsubscribe=One-Click",
		Parts:               map[string]string{"text/plain": msg.Text, "text/html": msg.HTML},
		Order:               []string{"text/plain", "text/html"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed email (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(raw), "Date: Fri, 02 Jan 2026 03:04:05 +0000\r\n") {
		t.Errorf("no Date header in:\n%s", raw)
	}
}

func TestComposeRefusesBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		from string
		msg  Message
	}{
		"bad sender":        {"not an address", Message{To: "a@example.com", UnsubscribeURL: "https://x/"}},
		"bad recipient":     {"a@example.com", Message{To: "nobody", UnsubscribeURL: "https://x/"}},
		"header injection":  {"a@example.com", Message{To: "b@example.com", UnsubscribeURL: "https://x/\r\nBcc: c@example.com"}},
		"angle in the link": {"a@example.com", Message{To: "b@example.com", UnsubscribeURL: "https://x/>"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Compose(tc.from, tc.msg, time.Now()); err == nil {
				t.Error("Compose succeeded, want an error")
			}
		})
	}
}
