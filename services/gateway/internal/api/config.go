package api

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
	// the environment. Exactly one of RoutesFile and DistributionFile is set.
	RoutesFile string `env:"ROUTES_FILE"`
	// DistributionFile makes the gateway MyBlog's edge: the CloudFront distribution
	// document (JSON, internal/cdn) it runs, as `sa provision` recorded it.
	DistributionFile string `env:"DISTRIBUTION_FILE"`
	// OriginURLs replaces, in edge mode, the address of origins by id:
	// "api=https://localhost:8082,...". The local stand-in for DNS (the API origin is a
	// latency-routed host name in production).
	OriginURLs map[string]string `env:"ORIGIN_URLS" envKeyValSeparator:"="`
	// DistributionID is, in edge mode, the provisioned distribution whose CloudFront
	// invalidations the edge applies to its cache, read every InvalidationPoll; unset,
	// the edge applies none and cached answers live out their TTL.
	DistributionID   string        `env:"CLOUDFRONT_DISTRIBUTION_ID"`
	InvalidationPoll time.Duration `env:"INVALIDATION_POLL" envDefault:"1s"`
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

	// AuthFailureRate and AuthFailureBurst limit failed authentications per client
	// address (a token bucket checked before the route's): a flood of bad tokens from
	// one address is refused before it can drain the route's bucket. Rate 0 turns the
	// limit off.
	AuthFailureRate  float64 `env:"AUTH_FAILURE_RATE" envDefault:"1"`
	AuthFailureBurst int     `env:"AUTH_FAILURE_BURST" envDefault:"20"`

	// FastPath lets cache hits be answered without net/http's per-request work
	// (server.WithFastPath); false serves every request through net/http.
	FastPath bool `env:"FAST_PATH" envDefault:"true"`

	Peers PeerConfig
}

// PeerConfig is how the replicas of the gateway keep their caches coherent (package
// peer). Without PEERS or PEER_ENDPOINTSLICES the gateway runs as a single replica.
type PeerConfig struct {
	// Peers lists every replica's peer address (ip:port, this one included): the
	// local stack's fixed membership.
	Peers []string `env:"PEERS" envSeparator:","`
	// EndpointSlices is a label selector of the EndpointSlices that list the
	// replicas in a cluster (those of the gateway's Knative Service); the membership
	// is watched through the Kubernetes API.
	EndpointSlices string `env:"PEER_ENDPOINTSLICES"`
	// Namespace holds those EndpointSlices; default: the pod's own namespace.
	Namespace string `env:"PEER_NAMESPACE"`
	// Port is where the replica receives its peers' messages (plain HTTP, signed).
	Port int `env:"PEER_PORT" envDefault:"9465"`
	// Key is the shared key (base64, at least 32 bytes) that signs the messages.
	Key string `env:"PEER_KEY"`
	// Window bounds how long a write goes unseen by another replica.
	Window time.Duration `env:"PEER_WINDOW" envDefault:"1s"`
	// Grace is how long a replica that left without a goodbye is waited for.
	Grace time.Duration `env:"PEER_GRACE" envDefault:"30s"`
}

// Enabled reports whether the gateway runs with peers.
func (p PeerConfig) Enabled() bool { return len(p.Peers) > 0 || p.EndpointSlices != "" }
