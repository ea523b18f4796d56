package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// fakeInvalidations is a distribution's invalidations as CloudFront lists them, two
// to a page, failing while down.
type fakeInvalidations struct {
	mu    sync.Mutex
	items []cftypes.Invalidation
	gets  []string
	down  bool
}

func (f *fakeInvalidations) add(id string, created time.Time, paths ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, cftypes.Invalidation{Id: aws.String(id), CreateTime: aws.Time(created), Status: aws.String("Completed"),
		InvalidationBatch: &cftypes.InvalidationBatch{Paths: &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths}}})
}

func (f *fakeInvalidations) ListInvalidations(_ context.Context, in *cloudfront.ListInvalidationsInput, _ ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("cloudfront is unreachable")
	}
	start := 0
	if in.Marker != nil {
		fmt.Sscan(*in.Marker, &start)
	}
	end := min(start+2, len(f.items))
	list := &cftypes.InvalidationList{IsTruncated: aws.Bool(end < len(f.items))}
	if end < len(f.items) {
		list.NextMarker = aws.String(fmt.Sprint(end))
	}
	for _, it := range f.items[start:end] {
		list.Items = append(list.Items, cftypes.InvalidationSummary{Id: it.Id, CreateTime: it.CreateTime, Status: it.Status})
	}
	return &cloudfront.ListInvalidationsOutput{InvalidationList: list}, nil
}

func (f *fakeInvalidations) GetInvalidation(_ context.Context, in *cloudfront.GetInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, aws.ToString(in.Id))
	for _, it := range f.items {
		if aws.ToString(it.Id) == aws.ToString(in.Id) {
			return &cloudfront.GetInvalidationOutput{Invalidation: &it}, nil
		}
	}
	return nil, &cftypes.NoSuchInvalidation{}
}

// TestWatchInvalidations: invalidations made before the edge started are not applied,
// each new one is applied once, on any page of the listing, and the edge carries on
// after the API was unreachable.
func TestWatchInvalidations(t *testing.T) {
	f := newEdgeFixture(t)
	api := &fakeInvalidations{}
	since := time.Now()
	api.add("OLD", since.Add(-time.Hour), "/*")
	api.add("OLDER", since.Add(-2*time.Hour), "/*")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.gw.WatchInvalidations(ctx, InvalidationWatch{API: func(context.Context) (InvalidationAPI, error) { return api, nil },
			DistributionID: "E1", Every: 10 * time.Millisecond, Since: since})
	}()
	const list = "/v1/posts?limit=10"
	f.get("GET", list)
	f.get("GET", "/v1/photos/a")
	hit := func(path string) bool {
		resp, _ := f.get("GET", path)
		return resp.Header.Get("X-Cache") == "Hit"
	}
	time.Sleep(50 * time.Millisecond) // several polls
	if !hit(list) || !hit("/v1/photos/a") {
		t.Fatal("invalidations made before the edge started were applied")
	}
	api.mu.Lock()
	api.down = true
	api.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	api.add("NEW", time.Now(), "/v1/posts*")
	api.mu.Lock()
	api.down = false
	api.mu.Unlock()
	waitFor(t, "the new invalidation applied", func() bool { return !hit(list) })
	if !hit(list) {
		t.Error("the list was not cached again after the invalidation: it is applied more than once")
	}
	if !hit("/v1/photos/a") {
		t.Error("the invalidation of /v1/posts* dropped /v1/photos/a")
	}
	cancel()
	<-done
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.gets) != 1 || api.gets[0] != "NEW" {
		t.Errorf("invalidations read: %q, want only NEW, once", api.gets)
	}
}

// TestWatchInvalidationsOnMoto: an invalidation created with the SDK on moto, as
// blog-api and sa's site deploy create them, reaches the edge's cache.
func TestWatchInvalidationsOnMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cf := cloudfront.NewFromConfig(mototest.AWSConfig(t, ep))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	name := mototest.Name("edge-inv")
	dist, err := cf.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: &cftypes.DistributionConfig{
		CallerReference: aws.String(name), Comment: aws.String(name), Enabled: aws.Bool(true),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{Id: aws.String("site"), DomainName: aws.String(name + ".s3.us-east-1.amazonaws.com"),
			S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")}}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{TargetOriginId: aws.String("site"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
			CachePolicyId: aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(dist.Distribution.Id)
	f := newEdgeFixture(t)
	go f.gw.WatchInvalidations(ctx, InvalidationWatch{API: func(context.Context) (InvalidationAPI, error) { return cf, nil },
		DistributionID: id, Every: 50 * time.Millisecond, Since: time.Now()})
	const list = "/v1/posts?limit=10"
	f.get("GET", list)
	hit := func() bool {
		resp, _ := f.get("GET", list)
		return resp.Header.Get("X-Cache") == "Hit"
	}
	if !hit() {
		t.Fatal("the list is not cached")
	}
	if _, err := cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(id), InvalidationBatch: &cftypes.InvalidationBatch{
		CallerReference: aws.String(name + "-1"), Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/v1/posts*"}},
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "moto's invalidation applied at the edge", func() bool { return !hit() })
}
