package welcome

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
)

// SESAPI is the part of the SES v2 client SESMailer uses.
type SESAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// SESMailer sends through SES v2 from a verified identity.
type SESMailer struct {
	Client SESAPI
	// From is the verified sender address ("MyBlog <hello@example.com>" or a bare
	// address).
	From string
	// ConfigurationSet, when set, names the SES configuration set (event publishing,
	// suppression).
	ConfigurationSet string
	// Now is the clock for the Date header (time.Now when nil).
	Now func() time.Time
}

var _ Mailer = (*SESMailer)(nil)

// Send implements Mailer. The email goes as a Raw message that this code composes
// (MIME, multipart/alternative with a text and an HTML part, List-Unsubscribe and its
// one-click companion of RFC 8058): the bytes SES delivers are exactly the bytes
// built and tested here, and moto, which keeps only one part of a Simple message,
// stores the whole email.
func (m *SESMailer) Send(ctx context.Context, msg Message) (string, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	raw, err := Compose(m.From, msg, now())
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRefused, err)
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &types.Destination{ToAddresses: []string{msg.To}},
		Content:          &types.EmailContent{Raw: &types.RawMessage{Data: raw}},
		EmailTags:        []types.MessageTag{{Name: aws.String("kind"), Value: aws.String(msg.Kind)}},
	}
	if m.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(m.ConfigurationSet)
	}
	out, err := m.Client.SendEmail(ctx, in)
	if err != nil {
		return "", Classify(err)
	}
	return aws.ToString(out.MessageId), nil
}

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

// accountProblems are SES answers about the account or its configuration, not about
// the message: the operator must act, and the same email is accepted once they have.
var accountProblems = map[string]bool{
	"SendingPausedException":             true,
	"AccountSuspendedException":          true,
	"MailFromDomainNotVerifiedException": true,
	"NotFoundException":                  true, // the configuration set
	"AccessDeniedException":              true, // the role's policy
	"AccessDenied":                       true,
}

// Classify wraps an SES error with what it means for the email. An answer from SES (an
// API error) means the email was not sent, and then:
//   - a client error (4xx) about the message — BadRequest, MessageRejected, an invalid
//     parameter such as a recipient SES will not take — is final (ErrRefused): no
//     retry sends this email;
//   - throttling (429, TooManyRequests, LimitExceeded), a server error (5xx) and a
//     4xx about the account (sending paused, suspended, an unverified MAIL FROM domain,
//     a missing configuration set, access denied) may pass later (ErrNotAccepted).
//
// Anything else (a timeout, a broken connection) is returned as is: SES may have sent
// the email.
func Classify(err error) error {
	var bad *types.BadRequestException
	var rejected *types.MessageRejected
	if errors.As(err, &bad) || errors.As(err, &rejected) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests &&
		!awsconf.Throttled(err) && !accountProblems[ae.ErrorCode()] {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return fmt.Errorf("%w: %w", ErrNotAccepted, err)
}
