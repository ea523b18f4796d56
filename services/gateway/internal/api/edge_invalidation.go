package api

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
)

// Invalidations at the edge. CloudFront keeps an answer until its TTL runs out or an
// invalidation of the distribution covers it; a write through CloudFront changes
// nothing in its cache. The local edge does the same: it drops what the CloudFront
// invalidations of the distribution cover, read from the CloudFront API (moto)
// the way the services create them, and nothing else. A service that forgets to
// invalidate, or invalidates the wrong paths, then serves stale answers locally as it
// would in production.

// recentInvalidations is how long an applied invalidation is remembered for the
// fetches that began before it and end after it: longer than an origin fetch may take.
const recentInvalidations = 2 * originReadTimeout

// appliedInvalidation is an invalidation the edge applied: seq orders it against
// fetches (cache.Store.Begin), at is when, for forgetting it.
type appliedInvalidation struct {
	seq   uint64
	at    time.Time
	paths []string
}

// edgeInvalidations remembers the recently applied invalidations.
type edgeInvalidations struct {
	mu     sync.Mutex
	recent []appliedInvalidation
}

// coveredSince reports whether an invalidation applied after the fetch numbered begin
// began covers path: what that fetch brings back must not be stored.
func (e *edgeInvalidations) coveredSince(begin uint64, path string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, inv := range e.recent {
		if inv.seq > begin && covered(inv.paths, path) {
			return true
		}
	}
	return false
}

// ApplyInvalidation drops every cached answer the invalidation paths cover (all of its
// versions: every query string, header and cookie it was cached for), and keeps the
// fetches in flight from storing what they bring back for those paths. It returns the
// number of answers dropped.
func (g *Gateway) ApplyInvalidation(paths []string) int {
	if g.edge == nil {
		return 0
	}
	now := g.now()
	inv := appliedInvalidation{seq: g.cache.Begin(), at: now, paths: slices.Clone(paths)}
	e := &g.edge.invalidations
	e.mu.Lock()
	e.recent = slices.DeleteFunc(e.recent, func(old appliedInvalidation) bool { return now.Sub(old.at) > recentInvalidations })
	e.recent = append(e.recent, inv)
	e.mu.Unlock()
	return g.cache.DropIf(func(key string) bool {
		path, ok := cdn.KeyPath(key)
		return ok && covered(paths, path)
	})
}

// covered reports whether one of an invalidation's paths covers path.
func covered(paths []string, path string) bool {
	return slices.ContainsFunc(paths, func(p string) bool { return cdn.InvalidationCovers(p, path) })
}

// InvalidationAPI is what the edge reads a distribution's invalidations with
// (*cloudfront.Client).
type InvalidationAPI interface {
	ListInvalidations(ctx context.Context, in *cloudfront.ListInvalidationsInput, opts ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error)
	GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, opts ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

// InvalidationWatch says which distribution's invalidations the edge applies.
type InvalidationWatch struct {
	// API returns the client to read them with; it may wait for the AWS configuration.
	API func(context.Context) (InvalidationAPI, error)
	// DistributionID is the distribution the edge runs, as provisioned.
	DistributionID string
	// Every is how often the invalidations are listed.
	Every time.Duration
	// Since is when the cache started empty: older invalidations cover nothing in it.
	Since time.Time
}

// WatchInvalidations applies each new invalidation of the distribution as it appears,
// until ctx ends. Trouble reading them is logged once per stretch, and meanwhile the
// edge keeps what it has, as CloudFront would without the invalidation.
func (g *Gateway) WatchInvalidations(ctx context.Context, w InvalidationWatch) {
	seen := map[string]bool{}
	failing := false
	tick := time.NewTicker(w.Every)
	defer tick.Stop()
	for {
		err := g.pollInvalidations(ctx, w, seen)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			g.log.Warn("cannot read the distribution's invalidations; the edge keeps its cached answers until it can (retrying)",
				"distribution", w.DistributionID, "err", err)
		case err == nil && failing:
			failing = false
			g.log.Info("reading the distribution's invalidations again", "distribution", w.DistributionID)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pollInvalidations applies the invalidations of the distribution not seen before.
// moto's listing is never paged; CloudFront's is, and every page is read.
func (g *Gateway) pollInvalidations(ctx context.Context, w InvalidationWatch, seen map[string]bool) error {
	api, err := w.API(ctx)
	if err != nil {
		return err
	}
	var marker *string
	for {
		page, err := api.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(w.DistributionID), Marker: marker})
		if err != nil {
			return fmt.Errorf("list invalidations: %w", err)
		}
		list := page.InvalidationList
		if list == nil {
			return nil
		}
		for _, sum := range list.Items {
			id := aws.ToString(sum.Id)
			if seen[id] {
				continue
			}
			// Creation times may come in whole seconds (moto's do): one within a few
			// seconds of the start is applied, which at worst drops an answer early.
			if sum.CreateTime != nil && sum.CreateTime.Before(w.Since.Add(-5*time.Second)) {
				seen[id] = true
				continue
			}
			inv, err := api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(w.DistributionID), Id: aws.String(id)})
			if err != nil {
				return fmt.Errorf("get invalidation %s: %w", id, err)
			}
			var paths []string
			if b := inv.Invalidation.InvalidationBatch; b != nil && b.Paths != nil {
				paths = b.Paths.Items
			}
			dropped := g.ApplyInvalidation(paths)
			seen[id] = true
			g.log.Info("applied a CloudFront invalidation", "distribution", w.DistributionID, "invalidation", id, "paths", paths, "dropped", dropped)
		}
		if !aws.ToBool(list.IsTruncated) {
			return nil
		}
		marker = list.NextMarker
	}
}
