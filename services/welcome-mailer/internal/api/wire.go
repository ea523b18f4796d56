// Package api is welcome-mailer's edge: its configuration and Build, which composes the
// welcome handler with its AWS adapters behind the CloudEvents receiver.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/contract/subscriberitem"
	"github.com/serverless-architect/serverless-architect/internal/maillink"
	"github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/store"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
)

// Build checks cfg and returns welcome-mailer's HTTP handler, which receives the
// CloudEvents. AWS clients are built in the background so the server is ready at once;
// events that arrive first wait for them.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, error) {
	if cfg.ClaimLease < cfg.SESTimeout*2 {
		return nil, fmt.Errorf("CLAIM_LEASE (%s) must be at least twice SES_TIMEOUT (%s): a live delivery's claim must never expire", cfg.ClaimLease, cfg.SESTimeout)
	}
	if _, err := mail.ParseAddress(cfg.SenderEmail); err != nil {
		return nil, fmt.Errorf("SENDER_EMAIL: %w", err)
	}
	if u, err := url.Parse(cfg.UnsubscribeBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("UNSUBSCRIBE_BASE_URL %q is not an http(s) URL", cfg.UnsubscribeBaseURL)
	}
	signer, err := maillink.NewFromBase64(cfg.UnsubscribeKey)
	if err != nil {
		return nil, fmt.Errorf("UNSUBSCRIBE_KEY: %w", err)
	}
	emails := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "welcome_mailer_emails_total",
		Help: "Email requests (a confirmation or a welcome email for one subscriber event) by kind, outcome (sent, duplicate, suppressed, failed) and reason (README).",
	}, []string{"kind", "outcome", "reason"})
	metrics.FromContext(ctx).MustRegister(emails)
	pending := awsconf.Start(ctx, func(ctx context.Context) (*welcome.Handler, error) {
		awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region})
		if err != nil {
			log.Error("cannot build AWS clients; every event gets 503", "err", err)
			return nil, err
		}
		return &welcome.Handler{
			Ledger: &store.DynamoLedger{DB: dynamodb.NewFromConfig(awsCfg), Table: cfg.IdempotencyTable},
			Mailer: &store.SESMailer{Client: sesv2.NewFromConfig(awsCfg), From: cfg.SenderEmail, ConfigurationSet: cfg.ConfigurationSet},
			Link:   func(email string) string { return signer.UnsubscribeLink(cfg.UnsubscribeBaseURL, email) },
			ConfirmLink: func(email string, expires time.Time) string {
				return signer.ConfirmLink(cfg.UnsubscribeBaseURL, email, expires)
			},
			Log:            log,
			Region:         cfg.Region,
			EmailAttribute: cfg.EmailAttribute,
			BlogName:       cfg.BlogName,
			Lease:          cfg.ClaimLease,
			SendTimeout:    cfg.SESTimeout,
			Outcome:        func(kind, outcome, reason string) { emails.WithLabelValues(kind, outcome, reason).Inc() },
		}, nil
	})
	return cloudevent.NewHTTPHandler(log, func(ctx context.Context, e cloudevents.Event) error {
		h, err := pending.Get(ctx)
		if err != nil {
			return fmt.Errorf("welcome-mailer is not configured: %w", err)
		}
		return Receive(ctx, log, h, e)
	}), nil
}

// Receive hands the subscriber an event of the subscribers table's stream carries to
// h; events without one (other types, REMOVE records, items without an address) are
// acknowledged and ignored. A record that is not a valid subscriber, and one the mailer
// says it can never act on (apperr.Invalid), are refused for good (cloudevent.Permanent).
func Receive(ctx context.Context, log *slog.Logger, h *welcome.Handler, e cloudevents.Event) error {
	sub, skip, err := subscriberitem.FromEvent(e, h.EmailAttribute)
	switch {
	case err != nil:
		return cloudevent.Permanent(err)
	case skip != "":
		log.DebugContext(ctx, "ignoring an event with no subscriber to act on", "ceId", e.ID(), "ceType", e.Type(), "why", skip)
		return nil
	}
	err = h.Subscriber(ctx, e.ID(), sub)
	if err != nil && apperr.CodeOf(err) == apperr.Invalid {
		return cloudevent.Permanent(err)
	}
	return err
}
