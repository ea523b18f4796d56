package gateway

import (
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/server"
)

// Config is the gateway's whole configuration, read from the environment once at
// start. services/gateway/README.md lists every variable with its default.
type Config struct {
	server.Config
	Auth auth.Config

	// RoutesFile is the YAML route table; ${VAR} in its upstream URLs is expanded from
	// the environment.
	RoutesFile string `env:"ROUTES_FILE,required"`
	// MetricsPort serves /metrics (Prometheus); 0 turns it off. Knative reserves 8012,
	// 8013, 8022, 9090, 9091 and 8008, so the default is 9464.
	MetricsPort int `env:"METRICS_PORT" envDefault:"9464"`
	// CacheMaxEntries and CacheMaxBytes bound the response cache.
	CacheMaxEntries int   `env:"CACHE_MAX_ENTRIES" envDefault:"100000"`
	CacheMaxBytes   int64 `env:"CACHE_MAX_BYTES" envDefault:"67108864"`
	// AuthCacheSize bounds how many verified tokens are remembered, each for at most
	// AuthCacheTTL and never past its expiry.
	AuthCacheSize int           `env:"AUTH_CACHE_SIZE" envDefault:"100000"`
	AuthCacheTTL  time.Duration `env:"AUTH_CACHE_TTL" envDefault:"5m"`
	// ThrottleMaxCallers bounds the per-caller token buckets held.
	ThrottleMaxCallers int `env:"THROTTLE_MAX_CALLERS" envDefault:"100000"`
	// ForwardedHops is the number of trusted proxies in front of the gateway (the
	// Knative ingress counts as one). With 0 the client is the TCP peer; with n > 0 it
	// is the n-th address from the right of X-Forwarded-For, and the incoming
	// X-Forwarded-Proto and X-Forwarded-Host are kept.
	ForwardedHops int `env:"FORWARDED_HOPS" envDefault:"0"`
	// UpstreamMaxIdleConns is the number of idle keep-alive connections kept per
	// upstream host.
	UpstreamMaxIdleConns int `env:"UPSTREAM_MAX_IDLE_CONNS" envDefault:"256"`
	// S3ForcePathStyle makes s3 upstreams use path-style URLs (moto).
	S3ForcePathStyle bool `env:"S3_FORCE_PATH_STYLE" envDefault:"false"`
}
