package api

import (
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// NoClientAddressHeader is the CLIENT_ADDRESS_HEADER that counts callers by their TCP
// peer only (no CDN in front).
const NoClientAddressHeader = "none"

// Config is blog-api's whole configuration, read from the environment once at start.
// services/blog-api/README.md lists every variable with its default.
type Config struct {
	server.Config
	Auth auth.Config

	// Region is the AWS region; the service uses that region's replica of the tables.
	Region string `env:"AWS_REGION,required"`
	// PostsTable holds posts and photo records; SubscribersTable the mailing list.
	PostsTable       string `env:"POSTS_TABLE" envDefault:"posts"`
	SubscribersTable string `env:"SUBSCRIBERS_TABLE" envDefault:"subscribers"`
	// MediaBucket receives uploads (uploads/<id>.<ext>) and the thumbnailer's output.
	MediaBucket string `env:"MEDIA_BUCKET" envDefault:"media"`
	// MediaBaseURL is put before a media key to make its public URL (CloudFront serves
	// the media bucket under /media/).
	MediaBaseURL string `env:"MEDIA_BASE_URL" envDefault:"/media"`
	// S3ForcePathStyle addresses buckets by path (moto), not by virtual host.
	S3ForcePathStyle bool `env:"S3_FORCE_PATH_STYLE" envDefault:"false"`
	// UploadURLTTL is how long a presigned upload URL is valid.
	UploadURLTTL time.Duration `env:"UPLOAD_URL_TTL" envDefault:"15m"`
	// UnsubscribeKey is a base64 key of 32 bytes shared with the welcome mailer, which
	// signs the confirmation and unsubscribe links this service verifies. Required but in
	// dev mode.
	UnsubscribeKey string `env:"UNSUBSCRIBE_KEY"`
	// SubscribeLimitsTable holds the rate limits' counters (key pk, TTL on expiresAt).
	SubscribeLimitsTable string `env:"SUBSCRIBE_LIMITS_TABLE" envDefault:"subscribe-limits"`
	// PendingTTL is how long a subscription waits for its confirmation.
	PendingTTL time.Duration `env:"SUBSCRIBE_PENDING_TTL" envDefault:"48h"`
	// ClientLimit subscribe requests per client address per ClientWindow; 0 disables.
	ClientLimit  int           `env:"SUBSCRIBE_CLIENT_LIMIT" envDefault:"10"`
	ClientWindow time.Duration `env:"SUBSCRIBE_CLIENT_WINDOW" envDefault:"10m"`
	// MailboxLimit confirmation emails per mailbox per MailboxWindow; 0 disables.
	MailboxLimit  int           `env:"SUBSCRIBE_MAILBOX_LIMIT" envDefault:"1"`
	MailboxWindow time.Duration `env:"SUBSCRIBE_MAILBOX_WINDOW" envDefault:"1h"`
	// ClientAddressHeader names the header with the client's address as the CDN saw
	// it; "none" means the TCP peer's address only (an empty variable is the default,
	// as for every variable). It is believed only on requests that carry the
	// distribution's origin secret (OriginSecret), so it needs one.
	ClientAddressHeader string `env:"CLIENT_ADDRESS_HEADER" envDefault:"CloudFront-Viewer-Address"`
	// OriginSecret is the Secrets Manager secret (name or ARN) whose value the
	// distribution sends in X-Origin-Verify (sa provision creates both; stack output
	// blogOriginSecret).
	OriginSecret string `env:"ORIGIN_VERIFY_SECRET_ID"`
	// DevMode (DEV_MODE=true, which the local stack sets) allows a missing
	// UNSUBSCRIBE_KEY (a random one, so no emailed link verifies). Nothing else depends
	// on it.
	DevMode bool `env:"DEV_MODE" envDefault:"false"`
	// PublicCacheControl is the Cache-Control of public reads.
	PublicCacheControl string `env:"PUBLIC_CACHE_CONTROL" envDefault:"public, max-age=60, s-maxage=300"`
	// DistributionID, when set, is the blog's CloudFront distribution: every post
	// written or deleted invalidates /v1/posts* there, so readers see it at once rather
	// than after s-maxage.
	DistributionID string `env:"CLOUDFRONT_DISTRIBUTION_ID"`
	// PurgeTimeout bounds that invalidation request.
	PurgeTimeout time.Duration `env:"PURGE_TIMEOUT" envDefault:"5s"`
	// AdminGroup is the Cognito group whose members may write.
	AdminGroup string `env:"ADMIN_GROUP" envDefault:"admins"`
	// DefaultPageSize and MaxPageSize bound `limit`.
	DefaultPageSize int `env:"DEFAULT_PAGE_SIZE" envDefault:"10"`
	MaxPageSize     int `env:"MAX_PAGE_SIZE" envDefault:"50"`
}
