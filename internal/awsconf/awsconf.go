// Package awsconf loads the AWS SDK configuration the same way in every service and
// tool: region from AWS_REGION, endpoints from the SDK's own AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> variables (that is how the local stack points at moto;
// nothing here rewrites endpoints), credentials from the default chain (IRSA or Pod
// Identity in a cluster), retries as the SDK does them (AWS_MAX_ATTEMPTS and
// AWS_RETRY_MODE honoured; see Load), and bounded connect and response-header timeouts
// so that a dependency that is down turns into a prompt 503 instead of a hung request.
// When tracing is on (internal/telemetry), every SDK call is a client span (otelaws).
package awsconf

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
	// otelaws, as issue 16 names it; its module is marked deprecated upstream as of
	// v0.72.0 in favour of the SDK's own tracing hook (aws.Config.TracerProvider with
	// smithy-go's smithyoteltracing adapter), the move to make next.
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws" //nolint:staticcheck // see above

	"github.com/serverless-architect/serverless-architect/internal/telemetry"
)

// Options tune Load. The zero value is the service default.
type Options struct {
	// Region overrides AWS_REGION when set.
	Region string
	// MaxAttempts is this caller's retry budget per call (the first attempt included)
	// when the operator has not set AWS_MAX_ATTEMPTS; 0 leaves the SDK's per-service
	// default (3, 4 for DynamoDB). AWS_MAX_ATTEMPTS always wins.
	MaxAttempts int
	// DialTimeout bounds TCP connects (default 2s).
	DialTimeout time.Duration
	// Anonymous makes requests unsigned (Cognito's public APIs, as a mobile app calls them).
	Anonymous bool
	// Log receives the SDK's own warnings as JSON lines; nil leaves the SDK's default
	// (plain text on stderr).
	Log *slog.Logger
	// CredentialsExpiryWindow makes the SDK replace temporary credentials this long
	// before they expire (0: when they expire). Whatever is signed with them (a
	// presigned URL) stays valid at least this long.
	CredentialsExpiryWindow time.Duration
}

// sdkLogger routes the SDK's log lines into slog.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelInfo
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}

// Load returns the SDK configuration. It reads the CA bundle named by AWS_CA_BUNDLE and
// may take tens of milliseconds: services call it off the path to readiness (see Pending).
//
// Load sets no retryer: each client builds the SDK's own (standard, or adaptive with
// AWS_RETRY_MODE=adaptive), with its per-service backoff (25 ms base for DynamoDB, 1 s
// for throttling) and the attempts from AWS_MAX_ATTEMPTS, else Options.MaxAttempts,
// else the SDK's default. A bad AWS_MAX_ATTEMPTS or AWS_RETRY_MODE is an error here.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.DialContext = (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.MaxIdleConnsPerHost = 64
		t.ResponseHeaderTimeout = 10 * time.Second
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Log != nil {
		opts = append(opts, config.WithLogger(sdkLogger{o.Log}))
	}
	if o.Anonymous {
		opts = append(opts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	if o.CredentialsExpiryWindow > 0 {
		opts = append(opts, config.WithCredentialsCacheOptions(func(c *aws.CredentialsCacheOptions) {
			c.ExpiryWindow = o.CredentialsExpiryWindow
		}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("load AWS config: no region: set AWS_REGION")
	}
	if telemetry.Enabled() {
		// Every call of every client made from cfg is a client span (service.Operation,
		// with the table, bucket or queue), the child of the caller's span.
		otelaws.AppendMiddlewares(&cfg.APIOptions)
	}
	if cfg.RetryMaxAttempts == 0 && o.MaxAttempts > 0 {
		cfg.RetryMaxAttempts = o.MaxAttempts
	}
	return cfg, nil
}

// Pending is a value built in the background at start-up (AWS clients, typically), so
// the server can listen and report ready at once. Get waits for it.
type Pending[T any] struct {
	done chan struct{}
	v    T
	err  error
}

// Start begins building a value with build in a new goroutine.
func Start[T any](ctx context.Context, build func(context.Context) (T, error)) *Pending[T] {
	p := &Pending[T]{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.v, p.err = build(ctx)
	}()
	return p
}

// Ready returns a Pending that already holds v.
func Ready[T any](v T) *Pending[T] {
	p := &Pending[T]{done: make(chan struct{}), v: v}
	close(p.done)
	return p
}

// Get waits for the value or for ctx to end.
func (p *Pending[T]) Get(ctx context.Context) (T, error) {
	select {
	case <-p.done:
		return p.v, p.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
