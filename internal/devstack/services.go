package devstack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Service is one HTTP service of the local stack: built from Go source, run as a child
// process, ready when GET /readyz answers 200 over HTTPS.
type Service struct {
	// Name names the binary, prefixes the service's output and keys stack.json.
	Name string
	// Package is the Go package to build, relative to Options.SourceDir
	// ("./services/todo-api").
	Package string
	// Port returns the port the service listens on.
	Port func(o Options) int
	// Env returns the service's own variables; every service also gets CommonEnv.
	Env func(in Inputs) []string
	// API marks the service whose URL is the stack's apiUrl.
	API bool
	// Blog marks the service whose URL is the stack's blogUrl (the blog edge).
	Blog bool
	// App marks the service whose URL is the stack's appUrl (the app's edge).
	App bool
}

// Inputs are what a service's environment is built from.
type Inputs struct {
	// Region is the AWS region.
	Region string
	// AWSEndpoint is moto's URL.
	AWSEndpoint string
	// Port is the service's port.
	Port int
	// EdgePort is the blog edge's HTTPS port (the blog's public origin locally).
	EdgePort int
	// PortShift moves every internal loopback port (Options.PortBase - DefaultPortBase).
	PortShift int
	// TLS are the certificate files.
	TLS devtls.Paths
	// PageTokenKey is the base64 key that seals pagination tokens.
	PageTokenKey string
	// DistributionFile is the blog's CloudFront distribution as provisioned
	// (resources.blogEdge written out), which the edge runs.
	DistributionFile string
	// AppDistributionFile is the MyTodoList app's distribution as provisioned
	// (resources.appEdge written out), which the app's edge runs.
	AppDistributionFile string
	// OriginURLs, when set, is the edge's ORIGIN_URLS: origin id=URL pairs that stand
	// in for DNS (a further region's edge resolves the API host to its own blog-api).
	OriginURLs string
	// Resources are the provisioned AWS resources.
	Resources stack.Resources
	// PoolFile is the user pool file the token-verifying services follow
	// (COGNITO_POOL_FILE; PoolFileName in the stack's directory), "" for none.
	PoolFile string
	// TracesEndpoint is the OTLP/HTTP endpoint of sa dev's trace receiver (traces.go);
	// empty leaves tracing off.
	TracesEndpoint string
}

// Services is the local stack's service table. A new service is one more entry.
func Services() []Service {
	return []Service{
		{
			Name:    "gateway",
			Package: "./services/gateway",
			Port:    func(o Options) int { return o.APIPort },
			Env:     GatewayEnv,
			API:     true,
		},
		{
			Name:    "todo-api",
			Package: "./services/todo-api",
			Port:    func(o Options) int { return o.Local(TodoAPIPort) },
			Env:     TodoAPIEnv,
		},
		{
			Name:    "blog-api",
			Package: "./services/blog-api",
			Port:    func(o Options) int { return o.Local(BlogAPIPort) },
			Env:     BlogAPIEnv,
		},
		{
			Name:    "edge",
			Package: "./services/gateway",
			Port:    func(o Options) int { return o.EdgePort },
			Env:     EdgeEnv,
			Blog:    true,
		},
		{
			Name:    "app-edge",
			Package: "./services/gateway",
			Port:    func(o Options) int { return o.AppPort },
			Env:     AppEdgeEnv,
			App:     true,
		},
		{
			Name:    "welcome-mailer",
			Package: "./services/welcome-mailer",
			Port:    func(o Options) int { return o.Local(WelcomeMailerPort) },
			Env:     WelcomeMailerEnv,
		},
		{
			Name:    "dynamodb-source",
			Package: "./services/dynamodb-source",
			Port:    func(o Options) int { return o.Local(DynamoDBSourcePort) },
			Env:     DynamoDBSourceEnv,
		},
		{
			Name:    "thumbnailer",
			Package: "./services/thumbnailer",
			Port:    func(o Options) int { return o.Local(ThumbnailerPort) },
			Env:     ThumbnailerEnv,
		},
		{
			Name:    "s3-source",
			Package: "./services/s3-source",
			Port:    func(o Options) int { return o.Local(S3SourcePort) },
			Env:     S3SourceEnv,
		},
	}
}

// BlogAPIPort is blog-api's loopback port in the local stack (the blog edge on 8444
// fronts it).
const BlogAPIPort = 8082

// LocalSender is the welcome mailer's From address in the local stack: moto verifies
// any identity at once, and nothing leaves the machine (moto keeps sent mail at
// /moto-api/data.json). In AWS the sender is `sa provision --sender-email` or
// `--sender-domain`.
const LocalSender = "welcome@blog.localhost"

// BlogOrigin is how the local stack provisions MyBlog: the distribution's API origin is
// blog-api itself, https://localhost:<its port>, so the edge runs the distribution
// exactly as provisioned, without translating it.
func BlogOrigin(portShift int) provision.BlogOptions {
	return provision.BlogOptions{APIHost: "localhost", APIPort: BlogAPIPort + portShift}
}

// BlogAPIEnv is blog-api's own configuration (services/blog-api/internal/api/config.go).
func BlogAPIEnv(in Inputs) []string {
	return []string{
		"POSTS_TABLE=" + in.Resources.PostsTable,
		"SUBSCRIBERS_TABLE=" + in.Resources.SubscribersTable,
		"SUBSCRIBE_LIMITS_TABLE=" + in.Resources.SubscribeLimitsTable,
		"MEDIA_BUCKET=" + in.Resources.MediaBucket,
		"COGNITO_ISSUER=" + in.Resources.Issuer,
		"COGNITO_JWKS_URL=" + in.Resources.JWKSURL,
		"COGNITO_CLIENT_IDS=" + in.Resources.UserPoolClientID,
		"COGNITO_POOL_FILE=" + in.PoolFile,
		"UNSUBSCRIBE_KEY=" + UnsubscribeKey(in),
		"S3_FORCE_PATH_STYLE=true",
		"CLOUDFRONT_DISTRIBUTION_ID=" + in.Resources.BlogDistributionID,
		// The distribution sends this secret's value in X-Origin-Verify; the local edge
		// runs the provisioned distribution, so blog-api believes it as behind CloudFront.
		"ORIGIN_VERIFY_SECRET_ID=" + in.Resources.BlogOriginSecret,
		"DEV_MODE=true",
	}
}

// UnsubscribeKey is the local stack's UNSUBSCRIBE_KEY, shared by blog-api and the
// welcome mailer: derived from the stack's page-token key (HMAC-SHA256 with a label),
// so it is stable across restarts without being the same key as the page tokens'.
func UnsubscribeKey(in Inputs) string {
	m := hmac.New(sha256.New, []byte(in.PageTokenKey))
	m.Write([]byte("myblog unsubscribe key"))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// WelcomeMailerPort and DynamoDBSourcePort are the loopback ports of the subscriber
// event flow. The source's K_SINK is the mailer itself (no broker locally: the mailer
// acknowledges event types it does not handle).
const (
	WelcomeMailerPort  = 8086
	DynamoDBSourcePort = 8087
)

// BlogPublicURL is the blog's public origin in the local stack: the edge.
func (in Inputs) BlogPublicURL() string { return "https://localhost:" + strconv.Itoa(in.EdgePort) }

// WelcomeMailerEnv is welcome-mailer's own configuration
// (services/welcome-mailer/internal/api/config.go).
func WelcomeMailerEnv(in Inputs) []string {
	return []string{
		"IDEMPOTENCY_TABLE=" + in.Resources.IdempotencyTable,
		"SENDER_EMAIL=" + in.Resources.SenderEmail,
		"UNSUBSCRIBE_KEY=" + UnsubscribeKey(in),
		"UNSUBSCRIBE_BASE_URL=" + in.BlogPublicURL(),
	}
}

// DynamoDBSourceEnv is dynamodb-source's own configuration
// (services/dynamodb-source/internal/source/config.go). It sends to the mailer over
// HTTPS, trusting the stack's CA through SSL_CERT_FILE, and polls every 100ms so a
// subscription's email goes out well within a second.
func DynamoDBSourceEnv(in Inputs) []string {
	return []string{
		"K_SINK=https://localhost:" + strconv.Itoa(in.Local(WelcomeMailerPort)),
		"SSL_CERT_FILE=" + in.TLS.CACert,
		"STREAM_ARN=" + in.Resources.SubscribersStreamARN,
		"CHECKPOINT_TABLE=" + in.Resources.CheckpointTable,
		"DEAD_LETTER_QUEUE_URL=" + in.Resources.SubscriberEventsDLQURL,
		"POLL_INTERVAL=100ms",
		"LEASE_DURATION=5s",
	}
}

// TodoAPIPort is todo-api's loopback port; the gateway on the API port fronts it, as
// it does in a cluster. GatewayMetricsPort is where the gateway serves /metrics.
const (
	TodoAPIPort        = 8081
	GatewayMetricsPort = 8090
)

// GatewayEnv is the gateway's own configuration (services/gateway/internal/api/config.go):
// the to-do API's route table, todo-api as the upstream over HTTPS (trusting the
// stack's CA through SSL_CERT_FILE), and the same Cognito settings as todo-api, which
// keeps verifying tokens itself.
func GatewayEnv(in Inputs) []string {
	return []string{
		"ROUTES_FILE=services/gateway/routes.yaml",
		"TODO_API_URL=https://localhost:" + strconv.Itoa(in.Local(TodoAPIPort)),
		"SSL_CERT_FILE=" + in.TLS.CACert,
		"METRICS_PORT=" + strconv.Itoa(in.Local(GatewayMetricsPort)),
		"COGNITO_ISSUER=" + in.Resources.Issuer,
		"COGNITO_JWKS_URL=" + in.Resources.JWKSURL,
		"COGNITO_CLIENT_IDS=" + in.Resources.UserPoolClientID,
		"COGNITO_POOL_FILE=" + in.PoolFile,
	}
}

// EdgeMetricsPort is where the blog edge serves /metrics.
const EdgeMetricsPort = 8091

// EdgeEnv is the blog edge's configuration: the gateway binary running the blog's
// CloudFront distribution as `sa provision` made it in moto (DISTRIBUTION_FILE), whose
// API origin is blog-api on its loopback port (BlogOrigin) and whose buckets are read
// from moto path-style; blog-api is reached over HTTPS, trusting the stack's CA through
// SSL_CERT_FILE. It applies the distribution's CloudFront invalidations from moto
// (CLOUDFRONT_DISTRIBUTION_ID), as CloudFront does, and nothing else drops its cached
// answers. The Cognito settings are the gateway's required configuration; the edge uses
// no authorizer (blog-api checks admin tokens itself).
func EdgeEnv(in Inputs) []string {
	env := []string{
		"DISTRIBUTION_FILE=" + in.DistributionFile,
		"CLOUDFRONT_DISTRIBUTION_ID=" + in.Resources.BlogDistributionID,
		"S3_FORCE_PATH_STYLE=true",
		"SSL_CERT_FILE=" + in.TLS.CACert,
		"METRICS_PORT=" + strconv.Itoa(in.Local(EdgeMetricsPort)),
		"COGNITO_ISSUER=" + in.Resources.Issuer,
		"COGNITO_JWKS_URL=" + in.Resources.JWKSURL,
		"COGNITO_CLIENT_IDS=" + in.Resources.UserPoolClientID,
	}
	if in.OriginURLs != "" {
		env = append(env, "ORIGIN_URLS="+in.OriginURLs)
	}
	return env
}

// TodoAPIEnv is todo-api's own configuration (services/todo-api/internal/api/config.go).
func TodoAPIEnv(in Inputs) []string {
	return []string{
		"TODOS_TABLE=" + in.Resources.TodosTable,
		"COGNITO_ISSUER=" + in.Resources.Issuer,
		"COGNITO_JWKS_URL=" + in.Resources.JWKSURL,
		"COGNITO_CLIENT_IDS=" + in.Resources.UserPoolClientID,
		"COGNITO_POOL_FILE=" + in.PoolFile,
		"PAGE_TOKEN_KEY=" + in.PageTokenKey,
		"FILES_BUCKET=" + in.Resources.FilesBucket,
		"FILES_VENDING_ROLE_ARN=" + in.Resources.FilesVendingRoleARN,
		"S3_FORCE_PATH_STYLE=true",
		"DEV_MODE=true",
	}
}

// CommonEnv is what every service of the local stack gets: where to listen (HTTPS on
// loopback), and how to reach moto with dummy credentials. DRAIN_DELAY is 0 because
// no load balancer needs time to notice a draining service. METRICS_PORT is 0 (no
// /metrics) because the port block has no room for one per service; the gateways set
// their own.
// With a trace receiver (TracesEndpoint) every service exports its spans to it.
func CommonEnv(in Inputs) []string {
	return append([]string{
		"PORT=" + strconv.Itoa(in.Port),
		"HOST=127.0.0.1",
		"TLS_CERT_FILE=" + in.TLS.Cert,
		"TLS_KEY_FILE=" + in.TLS.Key,
		"AWS_REGION=" + in.Region,
		"AWS_ENDPOINT_URL=" + in.AWSEndpoint,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"DRAIN_DELAY=0s",
		"METRICS_PORT=0", // a service's Env may set its own: the last entry wins
	}, tracesEnv(in.TracesEndpoint)...)
}

// ThumbnailerPort and S3SourcePort are the loopback ports of the photo event flow. The
// source's K_SINK is the thumbnailer itself (no broker locally: the thumbnailer
// acknowledges event types it does not handle).
const (
	ThumbnailerPort = 8088
	S3SourcePort    = 8089
)

// ThumbnailerEnv is the thumbnailer's own configuration
// (services/thumbnailer/internal/api/api.go).
func ThumbnailerEnv(in Inputs) []string {
	return []string{
		"POSTS_TABLE=" + in.Resources.PostsTable,
		"S3_FORCE_PATH_STYLE=true",
	}
}

// S3SourceEnv is s3-source's own configuration
// (services/s3-source/internal/source/config.go). It sends to the thumbnailer over HTTPS,
// trusting the stack's CA through SSL_CERT_FILE. A short visibility timeout makes a
// message whose receiver died come back within seconds.
func S3SourceEnv(in Inputs) []string {
	return []string{
		"K_SINK=https://localhost:" + strconv.Itoa(in.Local(ThumbnailerPort)),
		"SSL_CERT_FILE=" + in.TLS.CACert,
		"SQS_QUEUE_URL=" + in.Resources.MediaEventsQueueURL,
		"SQS_WAIT_TIME=5s",
		"SQS_VISIBILITY_TIMEOUT=6s",
		"POISON_DELAY=1s",
	}
}

// DefaultPortBase is the first of the internal services' loopback ports; the constants
// above are their ports with this base. Options.PortBase moves them all (tests run a
// stack beside a developer's).
const DefaultPortBase = 8081

// Local returns an internal service's port for this stack (its constant, shifted).
func (in Inputs) Local(port int) int { return port + in.PortShift }
