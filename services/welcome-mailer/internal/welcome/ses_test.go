package welcome

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
)

// parsedEmail is what a reader of a raw email sees.
type parsedEmail struct {
	From, To, Subject, ListUnsubscribe, ListUnsubscribePost string
	// Parts maps a part's media type to its decoded content.
	Parts map[string]string
	// Order is the parts' media types in order.
	Order []string
}

// parseEmail reads a raw MIME email the way a mail client does.
func parseEmail(t *testing.T, raw []byte) parsedEmail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	got := parsedEmail{
		From: m.Header.Get("From"), To: m.Header.Get("To"), Subject: subject,
		ListUnsubscribe: m.Header.Get("List-Unsubscribe"), ListUnsubscribePost: m.Header.Get("List-Unsubscribe-Post"),
		Parts: map[string]string{},
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: want multipart/alternative (%v)", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("read part %s: %v", pt, err)
		}
		got.Parts[pt] = strings.ReplaceAll(string(b), "\r\n", "\n")
		got.Order = append(got.Order, pt)
	}
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d characters (RFC 5322 allows 998)", len(line))
		}
	}
	return got
}

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
	got := parseEmail(t, raw)
	want := parsedEmail{
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

// captureSES records the request SESMailer makes.
type captureSES struct{ in *sesv2.SendEmailInput }

func (c *captureSES) SendEmail(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	c.in = in
	id := "m-1"
	return &sesv2.SendEmailOutput{MessageId: &id}, nil
}

func TestSESMailerSendsRaw(t *testing.T) {
	c := &captureSES{}
	m := &SESMailer{Client: c, From: "welcome@myblog.example", ConfigurationSet: "cs"}
	id, err := m.Send(context.Background(), Message{To: "ada@example.com", Subject: "Hi", HTML: "<p>hi</p>", Text: "hi", UnsubscribeURL: "https://blog.example/u?token=t"})
	if err != nil || id != "m-1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if c.in.Content.Raw == nil || c.in.Content.Simple != nil {
		t.Fatalf("content = %+v, want a raw message", c.in.Content)
	}
	got := parseEmail(t, c.in.Content.Raw.Data)
	if got.Parts["text/plain"] != "hi" || got.Parts["text/html"] != "<p>hi</p>" || got.To != "<ada@example.com>" {
		t.Errorf("raw message = %+v", got)
	}
	if diff := cmp.Diff([]string{"ada@example.com"}, c.in.Destination.ToAddresses); diff != "" {
		t.Errorf("destination (-want +got):\n%s", diff)
	}
	if *c.in.ConfigurationSetName != "cs" || *c.in.FromEmailAddress != "welcome@myblog.example" {
		t.Errorf("input = %+v", c.in)
	}
	if _, err := m.Send(context.Background(), Message{To: "nobody"}); !errors.Is(err, ErrRefused) {
		t.Errorf("an unaddressable message: %v, want ErrRefused", err)
	}
}

// apiError is an SES answer as the SDK returns it: an API error with its code inside
// the HTTP response error that carries the status.
func apiError(status int, code string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "test"},
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error // ErrRefused, ErrNotAccepted, or nil for "outcome unknown"
	}{
		{"a recipient SES will not take", apiError(400, "InvalidParameterValue"), ErrRefused},
		{"bad request", &types.BadRequestException{}, ErrRefused},
		{"message rejected", &types.MessageRejected{}, ErrRefused},
		{"some other 4xx about the message", apiError(400, "ValidationError"), ErrRefused},
		{"throttled", apiError(429, "TooManyRequestsException"), ErrNotAccepted},
		{"daily quota", apiError(400, "LimitExceededException"), ErrNotAccepted},
		{"sending paused", apiError(400, "SendingPausedException"), ErrNotAccepted},
		{"account suspended", apiError(400, "AccountSuspendedException"), ErrNotAccepted},
		{"missing configuration set", apiError(404, "NotFoundException"), ErrNotAccepted},
		{"access denied", apiError(403, "AccessDeniedException"), ErrNotAccepted},
		{"server error", apiError(500, "InternalFailure"), ErrNotAccepted},
		{"no answer", errors.New("read tcp: i/o timeout"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.err)
			refused, notAccepted := errors.Is(got, ErrRefused), errors.Is(got, ErrNotAccepted)
			switch {
			case tc.want == ErrRefused && (!refused || notAccepted),
				tc.want == ErrNotAccepted && (!notAccepted || refused),
				tc.want == nil && (refused || notAccepted):
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
}
