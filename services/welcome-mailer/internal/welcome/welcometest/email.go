// Package welcometest holds test helpers the welcome-mailer's packages share: reading
// a raw email as a mail client does.
package welcometest

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
)

// ParsedEmail is what a reader of a raw email sees.
type ParsedEmail struct {
	From, To, Subject, ListUnsubscribe, ListUnsubscribePost string
	// Parts maps a part's media type to its decoded content.
	Parts map[string]string
	// Order is the parts' media types in order.
	Order []string
}

// ParseEmail reads a raw MIME email the way a mail client does.
func ParseEmail(t testing.TB, raw []byte) ParsedEmail {
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
	got := ParsedEmail{
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
