package store

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome/welcometest"
)

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
	id, err := m.Send(context.Background(), welcome.Message{To: "ada@example.com", Subject: "Hi", HTML: "<p>hi</p>", Text: "hi", UnsubscribeURL: "https://blog.example/u?token=t"})
	if err != nil || id != "m-1" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if c.in.Content.Raw == nil || c.in.Content.Simple != nil {
		t.Fatalf("content = %+v, want a raw message", c.in.Content)
	}
	got := welcometest.ParseEmail(t, c.in.Content.Raw.Data)
	if got.Parts["text/plain"] != "hi" || got.Parts["text/html"] != "<p>hi</p>" || got.To != "<ada@example.com>" {
		t.Errorf("raw message = %+v", got)
	}
	if diff := cmp.Diff([]string{"ada@example.com"}, c.in.Destination.ToAddresses); diff != "" {
		t.Errorf("destination (-want +got):\n%s", diff)
	}
	if *c.in.ConfigurationSetName != "cs" || *c.in.FromEmailAddress != "welcome@myblog.example" {
		t.Errorf("input = %+v", c.in)
	}
	if _, err := m.Send(context.Background(), welcome.Message{To: "nobody"}); !errors.Is(err, welcome.ErrRefused) {
		t.Errorf("an unaddressable message: %v, want welcome.ErrRefused", err)
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
		want error // welcome.ErrRefused, welcome.ErrNotAccepted, or nil for "outcome unknown"
	}{
		{"a recipient SES will not take", apiError(400, "InvalidParameterValue"), welcome.ErrRefused},
		{"bad request", &types.BadRequestException{}, welcome.ErrRefused},
		{"message rejected", &types.MessageRejected{}, welcome.ErrRefused},
		{"some other 4xx about the message", apiError(400, "ValidationError"), welcome.ErrRefused},
		{"throttled", apiError(429, "TooManyRequestsException"), welcome.ErrNotAccepted},
		{"daily quota", apiError(400, "LimitExceededException"), welcome.ErrNotAccepted},
		{"sending paused", apiError(400, "SendingPausedException"), welcome.ErrNotAccepted},
		{"account suspended", apiError(400, "AccountSuspendedException"), welcome.ErrNotAccepted},
		{"missing configuration set", apiError(404, "NotFoundException"), welcome.ErrNotAccepted},
		{"access denied", apiError(403, "AccessDeniedException"), welcome.ErrNotAccepted},
		{"server error", apiError(500, "InternalFailure"), welcome.ErrNotAccepted},
		{"no answer", errors.New("read tcp: i/o timeout"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.err)
			refused, notAccepted := errors.Is(got, welcome.ErrRefused), errors.Is(got, welcome.ErrNotAccepted)
			switch {
			case tc.want == welcome.ErrRefused && (!refused || notAccepted),
				tc.want == welcome.ErrNotAccepted && (!notAccepted || refused),
				tc.want == nil && (refused || notAccepted):
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
}
