package api

import (
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// Config is todo-api's whole configuration, read from the environment once at start.
// services/todo-api/README.md lists every variable with its default.
type Config struct {
	server.Config
	Auth auth.Config

	// Region is the AWS region; the SDK's own AWS_ENDPOINT_URL(_<SERVICE>) variables
	// point it at moto locally.
	Region string `env:"AWS_REGION,required"`
	// TodosTable is the DynamoDB table of to-dos.
	TodosTable string `env:"TODOS_TABLE" envDefault:"todos"`
	// DAXEndpoint, when set, makes reads and writes go through DAX
	// (dax://cluster.xxxx.dax-clusters.<region>.amazonaws.com or daxs://...).
	DAXEndpoint string `env:"DAX_ENDPOINT"`
	// DAXQueryCacheTTL is the query-cache TTL of the DAX cluster: for this long after a
	// user's write, that user's lists are read with strong consistency (see README).
	DAXQueryCacheTTL time.Duration `env:"DAX_QUERY_CACHE_TTL" envDefault:"5m"`
	// PageTokenKey is a base64 key of 32 bytes that seals pagination tokens. Every
	// replica must share it, so it is required: only in dev mode may it be empty, and a
	// random one is made (tokens then do not survive a restart or cross replicas).
	PageTokenKey string `env:"PAGE_TOKEN_KEY"`
	// DevMode (DEV_MODE=true, which the local stack sets) allows a missing
	// PAGE_TOKEN_KEY. Nothing else depends on it.
	DevMode bool `env:"DEV_MODE" envDefault:"false"`
	// DefaultPageSize and MaxPageSize bound `limit`.
	DefaultPageSize int `env:"DEFAULT_PAGE_SIZE" envDefault:"50"`
	MaxPageSize     int `env:"MAX_PAGE_SIZE" envDefault:"100"`
	// AccountDeleteBudget bounds one DELETE /v1/me: when it is spent before every
	// to-do and object is gone, the answer is 503 with Retry-After, and the next call
	// carries on. It stays below the gateway's route timeout (8s).
	AccountDeleteBudget time.Duration `env:"ACCOUNT_DELETE_BUDGET" envDefault:"5s"`
	// Files configures the users' folders (the /v1/files routes).
	Files FilesConfig
}

// FilesConfig configures token vending and presigned URLs for the users' own folders
// of the files bucket. With Bucket empty the /v1/files routes answer 503.
type FilesConfig struct {
	// Bucket is the files bucket.
	Bucket string `env:"FILES_BUCKET"`
	// VendingRoleARN is the role assumed for POST /v1/files/credentials; empty
	// disables that route (503) but not the presigned URLs.
	VendingRoleARN string `env:"FILES_VENDING_ROLE_ARN"`
	// CredentialsTTL is the lifetime of vended credentials (15m to 12h).
	CredentialsTTL time.Duration `env:"FILES_CREDENTIALS_TTL" envDefault:"15m"`
	// URLTTL is the lifetime of presigned URLs.
	URLTTL time.Duration `env:"FILES_URL_TTL" envDefault:"5m"`
	// UploadMaxBytes bounds one upload through a presigned URL.
	UploadMaxBytes int64 `env:"FILES_UPLOAD_MAX_BYTES" envDefault:"10485760"`
	// UploadContentTypes are the media types that may be uploaded; "type/*" admits a
	// whole type.
	UploadContentTypes []string `env:"FILES_UPLOAD_CONTENT_TYPES" envDefault:"text/plain,application/pdf,application/octet-stream,image/*" envSeparator:","`
	// ListLimit is the default and largest page of a file listing (1 to 1000).
	ListLimit int `env:"FILES_LIST_LIMIT" envDefault:"1000"`
	// ForcePathStyle puts the bucket in the URL path instead of the host name (moto
	// needs it).
	ForcePathStyle bool `env:"S3_FORCE_PATH_STYLE" envDefault:"false"`
}
