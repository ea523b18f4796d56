package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// testDistribution is MyBlog's distribution for fixed inputs, with two regions.
func testDistribution() *cdn.Distribution {
	cache, origin := APICachePolicy(""), APIOriginRequestPolicy("")
	cache.ID, origin.ID = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	security := SecurityHeadersPolicy("", []string{"https://cognito-idp.us-east-1.amazonaws.com",
		"https://myblog-media-123456789012-us-east-1.s3.us-east-1.amazonaws.com", "https://myblog-media-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com"})
	security.ID = "33333333-3333-3333-3333-333333333333"
	return BlogDistribution(DistributionInputs{
		Name:  "myblog",
		Site:  RegionalBucket{Bucket: "myblog-site-123456789012-us-east-1", Region: "us-east-1"},
		Media: []RegionalBucket{{"myblog-media-123456789012-us-east-1", "us-east-1"}, {"myblog-media-123456789012-eu-west-1", "eu-west-1"}},
		OACID: "E2OACEXAMPLE", APIHost: "blog-origin.example.com", OriginSecret: "golden-origin-secret-not-a-real-one-0000",
		Aliases: []string{"blog.example.com"}, CertificateARN: "arn:aws:acm:us-east-1:123456789012:certificate/0b1c",
		MediaFunctionARN: "arn:aws:cloudfront::123456789012:function/myblog-media-path", MediaFunctionName: "myblog-media-path",
		APICache: cache, APIOrigin: origin, SecurityHeaders: security,
	})
}

// TestBlogDistributionGolden pins the whole distribution document: origins, groups,
// behaviours and the project's own policies (UPDATE_GOLDEN=1 rewrites it; review the
// diff). It must pass CloudFront's rules as Validate checks them.
func TestBlogDistributionGolden(t *testing.T) {
	d := testDistribution()
	if err := d.Validate(); err != nil {
		t.Fatalf("MyBlog's distribution is not valid: %v", err)
	}
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const file = "testdata/blog-distribution.json"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("distribution (-want +got):\n%s", diff)
	}
}

// TestBlogDistributionBehaviour checks, through the model's own rules, what the fixed
// distribution does: the production faults stay fixed.
func TestBlogDistributionBehaviour(t *testing.T) {
	rs, err := testDistribution().Resolve()
	if err != nil {
		t.Fatal(err)
	}
	api, media, site := rs[0], rs[1], rs[2]
	viewer := http.Header{"Authorization": {"Bearer admin"}, "Accept": {"text/html"}, "Cookie": {"a=b"}, "Origin": {"https://x"}}
	h := api.OriginHeader(viewer, cdn.Viewer{Addr: "192.0.2.1:5555", Proto: "https"}, api.Origins[0])
	if h.Get("Authorization") != "Bearer admin" {
		t.Error("admin writes would reach blog-api without their token")
	}
	if h.Get("Cloudfront-Viewer-Address") != "192.0.2.1:5555" || h.Get("Accept") != "text/html" {
		t.Errorf("blog-api does not get what it reads: %v", h)
	}
	if h.Get("Cookie") != "" {
		t.Errorf("cookies reach blog-api: %v", h)
	}
	if got := api.Host("d111.cloudfront.net", api.Origins[0]); got != "blog-origin.example.com" {
		t.Errorf("blog-api's ingress sees Host %q, want its own name", got)
	}
	if !api.Allows("POST") || !api.Allows("DELETE") || api.Caches("POST") {
		t.Error("/v1/* must allow writes and cache only reads")
	}
	if site.Cache.ID != cdn.CachingOptimizedID || media.Cache.ID != cdn.CachingOptimizedID {
		t.Errorf("S3 behaviours' cache policies: %s, %s; want CachingOptimized", site.Cache.Name, media.Cache.Name)
	}
	if len(media.Origins) != 2 || media.Origins[0].Bucket() != "myblog-media-123456789012-us-east-1" {
		t.Errorf("media origins = %+v, want the home region's bucket first, then the other's", media.Origins)
	}
	if csp := site.ResponseHeaders.ContentSecurityPolicy.Value; !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q is not strict", csp)
	}
}

// TestDistributionConfigRoundTrip checks the conversions: what is sent reads back as
// the document without its policies and unpublished functions.
func TestDistributionConfigRoundTrip(t *testing.T) {
	d := testDistribution()
	if diff := cdn.Diff(APIView(d), DistributionFromAPI(DistributionConfig(d))); len(diff) > 0 {
		t.Errorf("round trip differs:\n%s", strings.Join(diff, "\n"))
	}
	d.Behaviors[1].Functions[0].ARN = ""
	if fas := DistributionConfig(d).CacheBehaviors.Items[1].FunctionAssociations; aws.ToInt32(fas.Quantity) != 0 || len(fas.Items) != 0 {
		t.Errorf("an unpublished function was associated: %+v", fas)
	}
	for _, p := range d.CachePolicies {
		if diff := cmp.Diff(p, withID(CachePolicyFromAPI(CachePolicyConfig(p)), p.ID)); diff != "" {
			t.Errorf("cache policy round trip (-want +got):\n%s", diff)
		}
	}
	for _, p := range d.OriginRequestPolicies {
		got := OriginRequestPolicyFromAPI(OriginRequestPolicyConfig(p))
		got.ID = p.ID
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("origin request policy round trip (-want +got):\n%s", diff)
		}
	}
	for _, p := range d.ResponseHeadersPolicies {
		got := ResponseHeadersPolicyFromAPI(ResponseHeadersPolicyConfig(p))
		got.ID = p.ID
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("response headers policy round trip (-want +got):\n%s", diff)
		}
	}
}

func withID(p cdn.CachePolicy, id string) cdn.CachePolicy {
	p.ID = id
	return p
}

// fakePolicyAPI plays CloudFront's policy API (which moto lacks) inside the SDK client:
// it answers the list, get, create and update calls of the three policy kinds from
// memory, checks IfMatch against the policy's ETag as CloudFront does, and records
// every call. Other calls go on to the endpoint.
type fakePolicyAPI struct {
	mu       sync.Mutex
	policies map[string]*fakePolicy // by id
	calls    []string
	seq      int
}

type fakePolicy struct {
	kind, name, etag string
	cfg              any
}

func (f *fakePolicyAPI) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("fakePolicies",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, handled, err := f.handle(in.Parameters)
			if !handled {
				return next.HandleInitialize(ctx, in)
			}
			return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, err
		}), middleware.Before)
}

func (f *fakePolicyAPI) put(kind, id, name string, cfg any) (string, string) {
	f.seq++
	if id == "" {
		id = fmt.Sprintf("fake-%s-%d", strings.ReplaceAll(kind, " ", "-"), f.seq)
	}
	etag := fmt.Sprintf("E%d", f.seq)
	f.policies[id] = &fakePolicy{kind: kind, name: name, etag: etag, cfg: cfg}
	return id, etag
}

func (f *fakePolicyAPI) names(kind string) map[string]string {
	out := map[string]string{}
	for id, p := range f.policies {
		if p.kind == kind {
			out[p.name] = id
		}
	}
	return out
}

func (f *fakePolicyAPI) update(kind, id, ifMatch, name string, cfg any) (string, error) {
	p, ok := f.policies[id]
	if !ok || p.kind != kind {
		return "", &cftypes.NoSuchCachePolicy{Message: aws.String(id)}
	}
	if ifMatch != p.etag {
		return "", &cftypes.PreconditionFailed{Message: aws.String("IfMatch " + ifMatch + " is not " + p.etag)}
	}
	_, etag := f.put(kind, id, name, cfg)
	return etag, nil
}

func (f *fakePolicyAPI) handle(params any) (any, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := fmt.Sprintf("%T", params)
	op = strings.TrimSuffix(strings.TrimPrefix(op, "*cloudfront."), "Input")
	switch in := params.(type) {
	case *cloudfront.ListCachePoliciesInput:
		var items []cftypes.CachePolicySummary
		for name, id := range f.names("cache") {
			items = append(items, cftypes.CachePolicySummary{CachePolicy: &cftypes.CachePolicy{Id: aws.String(id),
				CachePolicyConfig: &cftypes.CachePolicyConfig{Name: aws.String(name)}}})
		}
		f.calls = append(f.calls, op)
		return &cloudfront.ListCachePoliciesOutput{CachePolicyList: &cftypes.CachePolicyList{Items: items}}, true, nil
	case *cloudfront.GetCachePolicyConfigInput:
		p := f.policies[aws.ToString(in.Id)]
		f.calls = append(f.calls, op)
		return &cloudfront.GetCachePolicyConfigOutput{CachePolicyConfig: p.cfg.(*cftypes.CachePolicyConfig), ETag: aws.String(p.etag)}, true, nil
	case *cloudfront.CreateCachePolicyInput:
		id, etag := f.put("cache", "", aws.ToString(in.CachePolicyConfig.Name), in.CachePolicyConfig)
		f.calls = append(f.calls, op+" "+aws.ToString(in.CachePolicyConfig.Name))
		return &cloudfront.CreateCachePolicyOutput{CachePolicy: &cftypes.CachePolicy{Id: aws.String(id)}, ETag: aws.String(etag)}, true, nil
	case *cloudfront.UpdateCachePolicyInput:
		etag, err := f.update("cache", aws.ToString(in.Id), aws.ToString(in.IfMatch), aws.ToString(in.CachePolicyConfig.Name), in.CachePolicyConfig)
		f.calls = append(f.calls, op+" "+aws.ToString(in.Id)+" IfMatch "+aws.ToString(in.IfMatch))
		return &cloudfront.UpdateCachePolicyOutput{ETag: aws.String(etag)}, true, err
	case *cloudfront.ListOriginRequestPoliciesInput:
		var items []cftypes.OriginRequestPolicySummary
		for name, id := range f.names("origin") {
			items = append(items, cftypes.OriginRequestPolicySummary{OriginRequestPolicy: &cftypes.OriginRequestPolicy{Id: aws.String(id),
				OriginRequestPolicyConfig: &cftypes.OriginRequestPolicyConfig{Name: aws.String(name)}}})
		}
		f.calls = append(f.calls, op)
		return &cloudfront.ListOriginRequestPoliciesOutput{OriginRequestPolicyList: &cftypes.OriginRequestPolicyList{Items: items}}, true, nil
	case *cloudfront.GetOriginRequestPolicyConfigInput:
		p := f.policies[aws.ToString(in.Id)]
		f.calls = append(f.calls, op)
		return &cloudfront.GetOriginRequestPolicyConfigOutput{OriginRequestPolicyConfig: p.cfg.(*cftypes.OriginRequestPolicyConfig), ETag: aws.String(p.etag)}, true, nil
	case *cloudfront.CreateOriginRequestPolicyInput:
		id, etag := f.put("origin", "", aws.ToString(in.OriginRequestPolicyConfig.Name), in.OriginRequestPolicyConfig)
		f.calls = append(f.calls, op+" "+aws.ToString(in.OriginRequestPolicyConfig.Name))
		return &cloudfront.CreateOriginRequestPolicyOutput{OriginRequestPolicy: &cftypes.OriginRequestPolicy{Id: aws.String(id)}, ETag: aws.String(etag)}, true, nil
	case *cloudfront.UpdateOriginRequestPolicyInput:
		etag, err := f.update("origin", aws.ToString(in.Id), aws.ToString(in.IfMatch), aws.ToString(in.OriginRequestPolicyConfig.Name), in.OriginRequestPolicyConfig)
		f.calls = append(f.calls, op+" "+aws.ToString(in.Id)+" IfMatch "+aws.ToString(in.IfMatch))
		return &cloudfront.UpdateOriginRequestPolicyOutput{ETag: aws.String(etag)}, true, err
	case *cloudfront.ListResponseHeadersPoliciesInput:
		var items []cftypes.ResponseHeadersPolicySummary
		for name, id := range f.names("headers") {
			items = append(items, cftypes.ResponseHeadersPolicySummary{ResponseHeadersPolicy: &cftypes.ResponseHeadersPolicy{Id: aws.String(id),
				ResponseHeadersPolicyConfig: &cftypes.ResponseHeadersPolicyConfig{Name: aws.String(name)}}})
		}
		f.calls = append(f.calls, op)
		return &cloudfront.ListResponseHeadersPoliciesOutput{ResponseHeadersPolicyList: &cftypes.ResponseHeadersPolicyList{Items: items}}, true, nil
	case *cloudfront.GetResponseHeadersPolicyConfigInput:
		p := f.policies[aws.ToString(in.Id)]
		f.calls = append(f.calls, op)
		return &cloudfront.GetResponseHeadersPolicyConfigOutput{ResponseHeadersPolicyConfig: p.cfg.(*cftypes.ResponseHeadersPolicyConfig), ETag: aws.String(p.etag)}, true, nil
	case *cloudfront.CreateResponseHeadersPolicyInput:
		id, etag := f.put("headers", "", aws.ToString(in.ResponseHeadersPolicyConfig.Name), in.ResponseHeadersPolicyConfig)
		f.calls = append(f.calls, op+" "+aws.ToString(in.ResponseHeadersPolicyConfig.Name))
		return &cloudfront.CreateResponseHeadersPolicyOutput{ResponseHeadersPolicy: &cftypes.ResponseHeadersPolicy{Id: aws.String(id)}, ETag: aws.String(etag)}, true, nil
	case *cloudfront.UpdateResponseHeadersPolicyInput:
		etag, err := f.update("headers", aws.ToString(in.Id), aws.ToString(in.IfMatch), aws.ToString(in.ResponseHeadersPolicyConfig.Name), in.ResponseHeadersPolicyConfig)
		f.calls = append(f.calls, op+" "+aws.ToString(in.Id)+" IfMatch "+aws.ToString(in.IfMatch))
		return &cloudfront.UpdateResponseHeadersPolicyOutput{ETag: aws.String(etag)}, true, err
	}
	return nil, false, nil
}

func (f *fakePolicyAPI) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// TestPoliciesAgainstFakeCloudFront runs the policy resources against CloudFront's
// policy API as played by fakePolicyAPI (moto has none): created once, found the next
// time, updated with the ETag when the definition changes; and against real AWS a
// failing call is an error, never a silent skip.
func TestPoliciesAgainstFakeCloudFront(t *testing.T) {
	ctx := context.Background()
	fake := &fakePolicyAPI{policies: map[string]*fakePolicy{}}
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	c := &Clients{Region: "us-east-1", CloudFront: cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.APIOptions = append(o.APIOptions, fake.middleware) })}
	connect := []string{"https://cognito-idp.us-east-1.amazonaws.com"}
	resources := func(connect []string) []Resource {
		return []Resource{
			CachePolicyResource{Policy: APICachePolicy("p-"), Record: func(out *stack.Resources, id string) { out.BlogAPICachePolicyID = id }},
			OriginRequestPolicyResource{Policy: APIOriginRequestPolicy("p-"), Record: func(out *stack.Resources, id string) { out.BlogAPIOriginRequestPolicyID = id }},
			ResponseHeadersPolicyResource{PolicyName: "p-" + securityPolicyName,
				Policy: func(context.Context, *Clients, *stack.Resources) (cdn.ResponseHeadersPolicy, error) {
					return SecurityHeadersPolicy("p-", connect), nil
				},
				Record: func(out *stack.Resources, id string) { out.BlogSecurityHeadersPolicyID = id }},
		}
	}
	var log strings.Builder
	first, err := Ensure(ctx, c, resources(connect), &log)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{
		"ListCachePolicies", "CreateCachePolicy p-myblog-api",
		"ListOriginRequestPolicies", "CreateOriginRequestPolicy p-myblog-api",
		"ListResponseHeadersPolicies", "CreateResponseHeadersPolicy p-myblog-security",
	}, fake.takeCalls()); diff != "" {
		t.Errorf("first run's calls (-want +got):\n%s", diff)
	}
	if first.BlogAPICachePolicyID == "" || first.BlogAPIOriginRequestPolicyID == "" || first.BlogSecurityHeadersPolicyID == "" {
		t.Fatalf("ids not recorded: %+v", first)
	}
	sent := fake.policies[first.BlogAPICachePolicyID].cfg.(*cftypes.CachePolicyConfig)
	if diff := cmp.Diff(APICachePolicy("p-"), CachePolicyFromAPI(sent)); diff != "" {
		t.Errorf("cache policy sent (-want +got):\n%s", diff)
	}
	if _, err := Ensure(ctx, c, resources(connect), nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{
		"ListCachePolicies", "GetCachePolicyConfig", "ListOriginRequestPolicies", "GetOriginRequestPolicyConfig",
		"ListResponseHeadersPolicies", "GetResponseHeadersPolicyConfig",
	}, fake.takeCalls()); diff != "" {
		t.Errorf("second run's calls: nothing may change (-want +got):\n%s", diff)
	}
	// A changed definition (the site calls another endpoint) updates the policy in
	// place, with the ETag CloudFront gave.
	etag := fake.policies[first.BlogSecurityHeadersPolicyID].etag
	log.Reset()
	if _, err := Ensure(ctx, c, resources(append(connect, "https://extra.example.com")), &log); err != nil {
		t.Fatal(err)
	}
	calls := fake.takeCalls()
	if want := "UpdateResponseHeadersPolicy " + first.BlogSecurityHeadersPolicyID + " IfMatch " + etag; calls[len(calls)-1] != want {
		t.Errorf("last call = %q, want %q", calls[len(calls)-1], want)
	}
	if !strings.Contains(log.String(), "applied  cloudfront response headers policy p-myblog-security") {
		t.Errorf("log:\n%s", log.String())
	}

	// Against AWS (no endpoint override) a policy API that fails is an error.
	broken := &Clients{Region: "us-east-1", CloudFront: cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("notFound",
				func(context.Context, middleware.InitializeInput, middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 404}}, Err: errors.New("not found")}
				}), middleware.Before)
		})
	})}
	if _, err := Ensure(ctx, broken, resources(connect)[:1], nil); err == nil || !strings.Contains(err.Error(), "list the cache policies") {
		t.Errorf("against AWS a failing policy API gave %v, want an error", err)
	}
}

// TestDriftIgnoresOrder: CloudFront may read back the lists it treats as sets in
// another order (methods, aliases, failover codes); that is no change.
func TestDriftIgnoresOrder(t *testing.T) {
	d := testDistribution()
	d.Aliases = []string{"blog.example.com", "www.blog.example.com"}
	cfg := DistributionConfig(d)
	cfg.Aliases.Items = []string{"www.blog.example.com", "blog.example.com"}
	cfg.DefaultCacheBehavior.AllowedMethods.Items = []cftypes.Method{"HEAD", "GET"}
	cfg.CacheBehaviors.Items[0].AllowedMethods.CachedMethods.Items = []cftypes.Method{"HEAD", "GET"}
	cfg.OriginGroups.Items[0].FailoverCriteria.StatusCodes.Items = []int32{504, 503, 502, 500, 404, 403}
	c := &Clients{CloudFront: cloudfront.NewFromConfig(aws.Config{Region: "us-east-1"})}
	if diff := (Distribution{}).drift(context.Background(), c, d, cfg); len(diff) > 0 {
		t.Errorf("reordered sets are drift: %v", diff)
	}
	cfg.CacheBehaviors.Items[0].AllowedMethods.Items = []cftypes.Method{"GET", "HEAD"}
	if diff := (Distribution{}).drift(context.Background(), c, d, cfg); len(diff) == 0 {
		t.Error("a changed method set is not drift")
	}
}

// TestFindSkipsADistributionDeletedSinceListed: moto's listing omits comments, so find
// reads each listed distribution's configuration; one deleted between the listing and
// that read (another stack in the account going away) is not this one, and no error.
func TestFindSkipsADistributionDeletedSinceListed(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	other := mototest.Name("other-stack")
	created, err := cloudfront.NewFromConfig(mototest.AWSConfig(t, ep)).CreateDistribution(ctx, &cloudfront.CreateDistributionInput{
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference: aws.String(other), Comment: aws.String(""), Enabled: aws.Bool(true),
			Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
				Id: aws.String("site"), DomainName: aws.String(other + ".s3.us-east-1.amazonaws.com"),
				S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
			}}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{TargetOriginId: aws.String("site"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
				CachePolicyId: aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.Distribution.Id)
	// Between moto and the client: the other distribution's configuration is gone, as
	// when it is deleted right after the listing.
	moto, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	var askedGone atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(moto)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/distribution/"+id+"/config") {
			askedGone.Store(true)
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0"?><ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>Sender</Type><Code>NoSuchDistribution</Code><Message>The specified distribution does not exist.</Message></Error><RequestId>gone</RequestId></ErrorResponse>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	c := NewClients(mototest.AWSConfig(t, srv.URL))
	found, err := Distribution{DistName: mototest.Name("mine")}.find(ctx, c)
	if err != nil {
		t.Fatalf("find, with a listed distribution deleted before its configuration was read: %v", err)
	}
	if found != nil {
		t.Errorf("found %s, want none", aws.ToString(found.Id))
	}
	if !askedGone.Load() {
		t.Fatal("find never read the deleted distribution's configuration: the test checked nothing")
	}
}
