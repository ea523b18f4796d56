package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/pagetoken"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/store"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/todo"
)

// pageTokenMaxAge bounds how long a client may hold a nextToken.
const pageTokenMaxAge = 24 * time.Hour

// presignRefreshMax bounds how long before they expire the files clients replace
// temporary credentials (role sessions last an hour: refreshing more than a quarter of
// that early would renew them too often).
const presignRefreshMax = 15 * time.Minute

// Build checks cfg and returns todo-api's handler. Nothing slow happens here: AWS
// configuration and clients (and the DAX cluster discovery) are built in the
// background, so the server is ready within milliseconds of exec.
func Build(ctx context.Context, cfg Config, log *slog.Logger) (http.Handler, error) {
	if cfg.DefaultPageSize < 1 || cfg.MaxPageSize < cfg.DefaultPageSize {
		return nil, fmt.Errorf("DEFAULT_PAGE_SIZE (%d) must be at least 1 and at most MAX_PAGE_SIZE (%d)", cfg.DefaultPageSize, cfg.MaxPageSize)
	}
	verifier, err := auth.NewVerifier(cfg.Auth, nil, auth.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var key []byte
	switch {
	case cfg.PageTokenKey == "" && !cfg.DevMode:
		return nil, errors.New("PAGE_TOKEN_KEY is not set: every replica and every restart must share one key, from the Secret todo-api-page-token " +
			"(hack/deploy.sh creates it once; key \"key\", 32 random bytes in base64); only DEV_MODE=true allows a throwaway key")
	case cfg.PageTokenKey == "":
		key = pagetoken.RandomKey()
		log.Warn("PAGE_TOKEN_KEY is not set (DEV_MODE): using a random key, so nextTokens break across restarts and replicas")
	default:
		key, err = pagetoken.ParseKey(cfg.PageTokenKey)
	}
	if err != nil {
		return nil, fmt.Errorf("PAGE_TOKEN_KEY: %w", err)
	}
	pages, err := pagetoken.New(key, "todos.list", pageTokenMaxAge)
	if err != nil {
		return nil, err
	}
	filePages, err := pagetoken.New(key, "files.list", pageTokenMaxAge)
	if err != nil {
		return nil, err
	}
	if cfg.DAXEndpoint != "" {
		if _, err := store.ParseDAXEndpoint(cfg.DAXEndpoint); err != nil {
			return nil, err
		}
	}
	svc := awsconf.Start(ctx, func(ctx context.Context) (*todo.Service, error) {
		todos, err := newStore(ctx, cfg, log)
		if err != nil {
			log.Error("cannot build the to-do store; every request will get 503 until the process is restarted with a fixed configuration", "err", err)
			return nil, err
		}
		return todo.NewService(todos), nil
	})
	filesSvc, err := startFiles(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	go func() { _ = verifier.Prefetch(ctx) }()
	return Handler(Deps{Log: log, Auth: verifier, Service: svc, Pages: pages, PageSize: cfg.DefaultPageSize, MaxPage: cfg.MaxPageSize, Files: filesSvc, FilePages: filePages,
		DeleteBudget: cfg.AccountDeleteBudget}), nil
}

// filesOptions turns the configuration into the files service's options.
func filesOptions(cfg Config) files.Options {
	f := cfg.Files
	return files.Options{
		Bucket: f.Bucket, Region: cfg.Region, CredentialsTTL: f.CredentialsTTL, URLTTL: f.URLTTL,
		MaxUploadBytes: f.UploadMaxBytes, ContentTypes: f.UploadContentTypes, ListLimit: f.ListLimit,
	}
}

// startFiles checks the files configuration now (a bad value stops the start) and
// builds the S3 and STS clients in the background. It returns nil when FILES_BUCKET
// is not set: the files routes then answer 503.
func startFiles(ctx context.Context, cfg Config, log *slog.Logger) (*awsconf.Pending[*files.Service], error) {
	if cfg.Files.Bucket == "" {
		log.Info("FILES_BUCKET is not set: the /v1/files routes answer 503")
		return nil, nil
	}
	opts := filesOptions(cfg)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if cfg.Files.ListLimit < 1 {
		return nil, fmt.Errorf("FILES_LIST_LIMIT %d: want 1 to 1000 (one S3 page)", cfg.Files.ListLimit)
	}
	return awsconf.Start(ctx, func(ctx context.Context) (*files.Service, error) {
		// Temporary credentials are replaced a URL's lifetime before they expire (at most
		// 15 minutes before), so a URL signed at any moment lives its FILES_URL_TTL up to
		// that much; a longer one ends with the signing session (store.Bucket).
		awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region, CredentialsExpiryWindow: min(cfg.Files.URLTTL, presignRefreshMax)})
		if err != nil {
			log.Error("cannot build the files clients; the /v1/files routes answer 503 until the process is restarted with a fixed configuration", "err", err)
			return nil, err
		}
		opts.Region = awsCfg.Region
		stsAPI := sts.NewFromConfig(awsCfg)
		signer, err := store.DescribeSigner(ctx, awsCfg.Credentials, stsAPI)
		if err != nil {
			log.Warn("could not tell whether todo-api runs on role credentials; assuming it does (vended credentials and URLs at most 1h)", "err", err)
		}
		lifetimes, warnings := opts.ForSigner(signer)
		for _, w := range warnings {
			log.Warn(w)
		}
		bucket := store.NewBucket(store.NewS3(awsCfg, cfg.Files.ForcePathStyle), cfg.Files.Bucket)
		var vendor files.Vendor
		if cfg.Files.VendingRoleARN != "" {
			vendor = store.NewVendor(stsAPI, cfg.Files.VendingRoleARN)
		} else {
			log.Warn("FILES_VENDING_ROLE_ARN is not set: POST /v1/files/credentials answers 503")
		}
		log.Info("files ready", "bucket", cfg.Files.Bucket, "vending", cfg.Files.VendingRoleARN != "", "pathStyle", cfg.Files.ForcePathStyle,
			"roleSession", signer.RoleSession, "credentialsTTL", lifetimes.CredentialsTTL.String(), "urlTTL", lifetimes.URLTTL.String())
		return files.NewService(lifetimes, vendor, bucket)
	}), nil
}

// newStore returns the DynamoDB store, through DAX when DAX_ENDPOINT is set.
func newStore(ctx context.Context, cfg Config, log *slog.Logger) (*store.Store, error) {
	awsCfg, err := awsconf.Load(ctx, awsconf.Options{Region: cfg.Region, Log: log})
	if err != nil {
		return nil, err
	}
	opts := store.Options{Table: cfg.TodosTable, RecentWrite: cfg.DAXQueryCacheTTL}
	if cfg.DAXEndpoint == "" {
		log.Info("store ready", "backend", "dynamodb", "table", cfg.TodosTable, "region", awsCfg.Region)
		return store.New(dynamodb.NewFromConfig(awsCfg), opts), nil
	}
	client, err := store.NewDAX(awsCfg, cfg.DAXEndpoint)
	if err != nil {
		return nil, err
	}
	log.Info("store ready", "backend", "dax", "endpoint", cfg.DAXEndpoint, "table", cfg.TodosTable, "region", awsCfg.Region)
	return store.New(client, opts), nil
}
