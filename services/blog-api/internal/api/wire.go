package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/maillink"
	"github.com/serverless-architect/serverless-architect/internal/originverify"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/markdown"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/store"
)

// Build checks cfg and returns blog-api's handler. AWS configuration and clients are
// built in the background, so the server is ready within milliseconds of exec.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, error) {
	if cfg.DefaultPageSize < 1 || cfg.MaxPageSize < cfg.DefaultPageSize {
		return nil, fmt.Errorf("DEFAULT_PAGE_SIZE (%d) must be at least 1 and at most MAX_PAGE_SIZE (%d)", cfg.DefaultPageSize, cfg.MaxPageSize)
	}
	if cfg.UploadURLTTL <= 0 || cfg.UploadURLTTL > 7*24*time.Hour {
		return nil, fmt.Errorf("UPLOAD_URL_TTL (%s) must be positive and at most 7 days", cfg.UploadURLTTL)
	}
	verifier, err := auth.NewVerifier(cfg.Auth, nil, auth.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if cfg.PendingTTL < time.Minute || cfg.ClientLimit < 0 || cfg.MailboxLimit < 0 || cfg.ClientWindow < time.Second || cfg.MailboxWindow < time.Second {
		return nil, fmt.Errorf("SUBSCRIBE_PENDING_TTL (%s) must be at least 1m, SUBSCRIBE_CLIENT_LIMIT (%d) and SUBSCRIBE_MAILBOX_LIMIT (%d) at least 0 (0 disables), their windows (%s, %s) at least 1s",
			cfg.PendingTTL, cfg.ClientLimit, cfg.MailboxLimit, cfg.ClientWindow, cfg.MailboxWindow)
	}
	if cfg.ClientAddressHeader == NoClientAddressHeader {
		cfg.ClientAddressHeader = ""
	}
	if cfg.ClientAddressHeader != "" && cfg.OriginSecret == "" {
		return nil, fmt.Errorf("CLIENT_ADDRESS_HEADER=%s is believed only on requests proven to come through CloudFront, so ORIGIN_VERIFY_SECRET_ID must name "+
			"the Secrets Manager secret the distribution sends in %s (sa provision creates it: stack output blogOriginSecret); "+
			"or set CLIENT_ADDRESS_HEADER=%s to count subscribers by the TCP peer's address", cfg.ClientAddressHeader, originverify.Header, NoClientAddressHeader)
	}
	var signer *maillink.Signer
	switch {
	case cfg.UnsubscribeKey == "" && !cfg.DevMode:
		return nil, errors.New("UNSUBSCRIBE_KEY is not set: it must be the welcome mailer's key, from the Secret unsubscribe-key " +
			"(hack/deploy.sh creates it once; the same in every region); only DEV_MODE=true allows a throwaway key")
	case cfg.UnsubscribeKey == "":
		log.Warn("UNSUBSCRIBE_KEY is not set (DEV_MODE): using a random key, so no confirmation or unsubscribe link made by the welcome mailer will verify")
		signer, err = maillink.New(randomKey())
	default:
		signer, err = maillink.NewFromBase64(cfg.UnsubscribeKey)
	}
	if err != nil {
		return nil, fmt.Errorf("UNSUBSCRIBE_KEY: %w", err)
	}
	backend := awsconf.Start(ctx, func(ctx context.Context) (Backend, error) {
		awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region})
		if err != nil {
			log.Error("cannot load the AWS configuration; every request that needs AWS will get 503", "err", err)
			return Backend{}, err
		}
		db := dynamodb.NewFromConfig(awsCfg)
		posts := store.New(db, cfg.PostsTable, cfg.SubscribersTable)
		s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3ForcePathStyle })
		log.Info("store ready", "postsTable", cfg.PostsTable, "subscribersTable", cfg.SubscribersTable, "subscribeLimitsTable", cfg.SubscribeLimitsTable,
			"mediaBucket", cfg.MediaBucket, "region", awsCfg.Region)
		svc := blog.NewService(posts, markdown.New())
		svc.Limiter, svc.Log = store.NewLimiter(db, cfg.SubscribeLimitsTable, nil), log
		svc.Rules = blog.SubscribeRules{
			Region: cfg.Region, PendingTTL: cfg.PendingTTL,
			ClientLimit: cfg.ClientLimit, ClientWindow: cfg.ClientWindow,
			MailboxLimit: cfg.MailboxLimit, MailboxWindow: cfg.MailboxWindow,
		}
		b := Backend{
			Service:   svc,
			Presigner: &store.S3Presigner{Client: s3.NewPresignClient(s3c), Bucket: cfg.MediaBucket, TTL: cfg.UploadURLTTL},
		}
		if cfg.OriginSecret != "" {
			if b.Origin, err = originverify.Load(ctx, secretsmanager.NewFromConfig(awsCfg), cfg.OriginSecret); err != nil {
				log.Error("cannot read the origin secret; every request that needs AWS will get 503", "err", err)
				return Backend{}, err
			}
		}
		if cfg.DistributionID != "" {
			b.Purger = &store.CloudFrontPurger{Client: cloudfront.NewFromConfig(awsCfg), DistributionID: cfg.DistributionID, Timeout: cfg.PurgeTimeout}
		}
		return b, nil
	})
	go func() { _ = verifier.Prefetch(ctx) }()
	return Handler(Deps{
		Log: log, Auth: verifier, Backend: backend, Links: signer, ClientHeader: cfg.ClientAddressHeader,
		CacheControl: cfg.PublicCacheControl, MediaBaseURL: cfg.MediaBaseURL, AdminGroup: cfg.AdminGroup,
		PageSize: cfg.DefaultPageSize, MaxPage: cfg.MaxPageSize,
	}), nil
}

func randomKey() []byte {
	k := make([]byte, maillink.KeySize)
	_, _ = rand.Read(k)
	return k
}

// The store's adapters are what the handlers call.
var (
	_ Presigner = (*store.S3Presigner)(nil)
	_ Purger    = (*store.CloudFrontPurger)(nil)
)
