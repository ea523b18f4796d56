package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
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

var _ welcome.Mailer = (*SESMailer)(nil)

// Send implements Mailer. The email goes as a Raw message that this code composes
// (MIME, multipart/alternative with a text and an HTML part, List-Unsubscribe and its
// one-click companion of RFC 8058): the bytes SES delivers are exactly the bytes
// built and tested here, and moto, which keeps only one part of a Simple message,
// stores the whole email.
func (m *SESMailer) Send(ctx context.Context, msg welcome.Message) (string, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	raw, err := welcome.Compose(m.From, msg, now())
	if err != nil {
		return "", fmt.Errorf("%w: %w", welcome.ErrRefused, err)
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
		return fmt.Errorf("%w: %w", welcome.ErrRefused, err)
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
		return fmt.Errorf("%w: %w", welcome.ErrRefused, err)
	}
	return fmt.Errorf("%w: %w", welcome.ErrNotAccepted, err)
}
