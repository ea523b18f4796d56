package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/cdn"
	svcmetrics "github.com/serverless-architect/serverless-architect/internal/metrics"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/peer/kube"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/store"
)

// Build loads the route table (or, in edge mode, the distribution) and builds the
// gateway for cfg; lookupEnv expands the table's ${VAR}s. Signing keys are prefetched
// in the background, so Build is quick.
func Build(ctx context.Context, cfg Config, lookupEnv func(string) (string, bool), log *slog.Logger) (*Gateway, error) {
	verifier, err := auth.NewVerifier(cfg.Auth, nil, auth.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	d := Deps{Verifier: verifier, Log: log, Metrics: svcmetrics.FromContext(ctx)}
	var edgeAWS *awsconf.Pending[aws.Config] // edge mode: the AWS configuration, loading
	switch {
	case (cfg.RoutesFile == "") == (cfg.DistributionFile == ""):
		return nil, errors.New("set ROUTES_FILE (the route table) or DISTRIBUTION_FILE (edge mode: the CloudFront distribution to run), not both")
	case cfg.RoutesFile != "":
		if d.Table, err = route.Load(cfg.RoutesFile, lookupEnv); err != nil {
			return nil, err
		}
	default:
		if d.Distribution, err = cdn.Read(cfg.DistributionFile); err != nil {
			return nil, fmt.Errorf("DISTRIBUTION_FILE: %w", err)
		}
		d.OriginURLs = cfg.OriginURLs
		// The SDK's configuration takes tens of milliseconds to load: off the path to
		// readiness, as every service does (awsconf.Start); loaded once for the S3
		// origins and the invalidations.
		edgeAWS = awsconf.Start(ctx, func(ctx context.Context) (aws.Config, error) {
			awsCfg, err := awsconf.Load(ctx, awsconf.Options{Log: log})
			if err != nil {
				log.Error("cannot load the AWS configuration; requests to S3 origins will get 502, and no invalidation is applied", "err", err)
			}
			return awsCfg, err
		})
		client := awsconf.Start(ctx, func(ctx context.Context) (store.API, error) {
			awsCfg, err := edgeAWS.Get(ctx)
			if err != nil {
				return nil, err
			}
			return s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3ForcePathStyle }), nil
		})
		d.S3 = client.Get
		if cfg.DistributionID != "" && cfg.InvalidationPoll <= 0 {
			return nil, fmt.Errorf("INVALIDATION_POLL is %s: it must be positive (how often the edge reads the distribution's invalidations)", cfg.InvalidationPoll)
		}
	}
	g, err := New(cfg, d)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := verifier.Prefetch(ctx); err != nil {
			log.Warn("cannot prefetch the signing keys yet; they are fetched on the first request", "err", err)
		}
	}()
	if g.edge != nil {
		log.Info("edge mode", "distribution", d.Distribution.Name, "aliases", d.Distribution.Aliases)
		if cfg.DistributionID == "" {
			log.Warn("CLOUDFRONT_DISTRIBUTION_ID is not set: the edge applies no invalidation, and cached answers live out their TTL")
		} else {
			cf := awsconf.Start(ctx, func(ctx context.Context) (InvalidationAPI, error) {
				awsCfg, err := edgeAWS.Get(ctx)
				if err != nil {
					return nil, err
				}
				return cloudfront.NewFromConfig(awsCfg), nil
			})
			go g.WatchInvalidations(ctx, InvalidationWatch{API: cf.Get, DistributionID: cfg.DistributionID, Every: cfg.InvalidationPoll, Since: time.Now()})
			log.Info("the edge applies the distribution's CloudFront invalidations", "distributionId", cfg.DistributionID, "every", cfg.InvalidationPoll)
		}
		for _, b := range g.edge.behaviors {
			var origins []string
			for _, o := range b.origins {
				origins = append(origins, o.ID+"="+o.base.String())
			}
			log.Info("behaviour", "pattern", b.Pattern(), "origins", origins, "methods", b.AllowedMethods, "cachePolicy", b.Cache.Name,
				"originRequestPolicy", policyName(b.OriginRequest), "responseHeaders", b.ResponseHeaders != nil, "codings", b.Codings())
		}
		return g, nil
	}
	for _, r := range g.table.Routes {
		log.Info("route", "name", r.Name, "prefix", r.PathPrefix, "methods", r.Methods, "upstream", r.Upstream.URL.String(), "auth", r.Auth, "cached", r.Cache != nil)
	}
	return g, nil
}

func policyName(p *cdn.OriginRequestPolicy) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// Run serves g on cfg's address (HTTPS when cfg names a certificate) and /metrics on
// METRICS_PORT, until ctx ends; then it drains the gateway and stops both.
func Run(ctx context.Context, cfg Config, g *Gateway, log *slog.Logger) error {
	grp, ctx := errgroup.WithContext(ctx)
	srvDone := make(chan struct{})
	var opts []server.Option
	if h := g.table.ResponseHeaders; len(h) > 0 {
		opts = append(opts, server.WithHeaders(h))
	}
	if cfg.FastPath && g.fastRoutes() {
		opts = append(opts, server.WithFastPath(g))
	}
	if n := g.Peers(); n != nil {
		// Not ready before the replica knows its peers: a write it carried could not
		// reach them.
		opts = append(opts, server.WithReadiness(n.Ready))
		grp.Go(func() error { return servePeers(ctx, n, cfg.Host, cfg.Peers.Port, log, srvDone) })
		if sel := cfg.Peers.EndpointSlices; sel != "" {
			grp.Go(func() error {
				return kube.Watch(ctx, kube.Options{Selector: sel, Namespace: cfg.Peers.Namespace, Port: cfg.Peers.Port, Log: log}, n.SetMembers)
			})
		}
	}
	grp.Go(func() error {
		defer close(srvDone)
		return server.New(cfg.Config, log, g, opts...).Run(ctx)
	})
	if cfg.MetricsPort > 0 {
		// Kept up while the gateway drains.
		grp.Go(func() error { return g.metrics.reg.Serve(ctx, cfg.Host, cfg.MetricsPort, log, srvDone) })
	}
	return grp.Wait()
}

// LookupEnv returns a lookup function over an environment given as a map.
func LookupEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// memoryHeadroom is what the process may use beyond CACHE_MAX_BYTES before the Go
// runtime collects harder: the cache's fixed overhead, buffers, TLS and the runtime.
const memoryHeadroom = 64 << 20

// gcPercent is the GOGC the gateway runs with unless GOGC is set.
const gcPercent = 400

// TuneRuntime sets the Go runtime's memory limit and GC target for cfg's cache, each
// unless the operator set it (GOMEMLIMIT, GOGC), as lookupEnv tells.
func TuneRuntime(cfg Config, lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOMEMLIMIT"); !set {
		// Without a soft limit the Go heap may grow to twice the live cache before a
		// collection; with it the process stays near the cache bound (README).
		debug.SetMemoryLimit(cfg.CacheMaxBytes + memoryHeadroom)
	}
	if _, set := lookupEnv("GOGC"); !set {
		// The soft limit above bounds the heap; below it, collecting at 5x the live heap
		// rather than 2x spends less CPU per proxied request (README, "Configuration").
		debug.SetGCPercent(gcPercent)
	}
}
