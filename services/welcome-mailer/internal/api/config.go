package api

import (
	"time"

	"github.com/serverless-architect/serverless-architect/internal/server"
)

// Config is welcome-mailer's whole configuration, read from the environment once at
// start. services/welcome-mailer/README.md lists every variable with its default.
type Config struct {
	server.Config

	// Region is the AWS region of SES and the idempotency table, and the region whose
	// subscribers this mailer sends to (their region attribute).
	Region string `env:"AWS_REGION,required"`
	// IdempotencyTable holds one record per subscriber address.
	IdempotencyTable string `env:"IDEMPOTENCY_TABLE,required"`
	// SenderEmail is the verified SES identity mail is sent from.
	SenderEmail string `env:"SENDER_EMAIL,required"`
	// ConfigurationSet is an optional SES configuration set.
	ConfigurationSet string `env:"SES_CONFIGURATION_SET"`
	// UnsubscribeKey is the base64 key shared with blog-api (internal/maillink).
	UnsubscribeKey string `env:"UNSUBSCRIBE_KEY,required"`
	// UnsubscribeBaseURL is the blog's public origin, of both links in the emails:
	// <base>/v1/subscribers/confirm?token=... and <base>/v1/subscribers/unsubscribe?token=...
	UnsubscribeBaseURL string `env:"UNSUBSCRIBE_BASE_URL,required"`
	// EmailAttribute is the subscriber item's attribute holding the address.
	EmailAttribute string `env:"EMAIL_ATTRIBUTE" envDefault:"email"`
	// BlogName appears in the subject and body.
	BlogName string `env:"BLOG_NAME" envDefault:"MyBlog"`
	// ClaimLease is how long a delivery holds a subscriber's claim; it must exceed
	// SESTimeout plus the time to record the outcome.
	ClaimLease time.Duration `env:"CLAIM_LEASE" envDefault:"30s"`
	// SESTimeout bounds the SES call, SDK retries included.
	SESTimeout time.Duration `env:"SES_TIMEOUT" envDefault:"10s"`
}
