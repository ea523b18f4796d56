package welcome

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Compose renders msg from from as a MIME message (RFC 5322 with CRLF line ends):
// headers From, To, Subject (RFC 2047-encoded when not ASCII), Date, MIME-Version,
// List-Unsubscribe and List-Unsubscribe-Post (when msg has an unsubscribe URL), then a
// multipart/alternative body with the text part first and the HTML part last (clients
// show the last one they can), both UTF-8 and quoted-printable so no line exceeds 76
// characters.
func Compose(from string, msg Message, date time.Time) ([]byte, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender %q: %w", from, err)
	}
	toAddr, err := mail.ParseAddress(msg.To)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", msg.To, err)
	}
	if strings.ContainsAny(msg.UnsubscribeURL, "\r\n<>") {
		return nil, fmt.Errorf("unsubscribe URL %q cannot go into a header", msg.UnsubscribeURL)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{
		{"text/plain; charset=UTF-8", msg.Text},
		{"text/html; charset=UTF-8", msg.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("compose part: %w", err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(crlf(part.content))); err != nil {
			return nil, fmt.Errorf("compose part: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("compose part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose message: %w", err)
	}
	var out bytes.Buffer
	header := func(name, value string) { out.WriteString(name + ": " + value + "\r\n") }
	header("From", fromAddr.String())
	header("To", toAddr.String())
	header("Subject", mime.QEncoding.Encode("UTF-8", msg.Subject))
	header("Date", date.UTC().Format(time.RFC1123Z))
	header("MIME-Version", "1.0")
	if msg.UnsubscribeURL != "" {
		header("List-Unsubscribe", "<"+msg.UnsubscribeURL+">")
		header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

// crlf turns every line end into CRLF, as RFC 5322 wants.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}
