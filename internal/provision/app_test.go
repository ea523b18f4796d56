package provision

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// testAppDistribution is the app's distribution for fixed inputs, in AWS.
func testAppDistribution() *cdn.Distribution {
	cache, origin := AppAPICachePolicy(""), AppAPIOriginRequestPolicy("")
	cache.ID, origin.ID = "44444444-4444-4444-4444-444444444444", "55555555-5555-5555-5555-555555555555"
	c := NewClients(aws.Config{Region: "eu-west-1"})
	security := AppSecurityHeadersPolicy("", appConnectSources(c, AppOptions{}, "user-files-123456789012-eu-west-1"))
	security.ID = "66666666-6666-6666-6666-666666666666"
	return AppDistributionDocument(AppDistributionInputs{
		Name: "mytodolist-app", Bucket: RegionalBucket{Bucket: "mytodolist-app-123456789012-eu-west-1", Region: "eu-west-1"},
		OACID: "E2OACAPP", APIHost: "todo.example.com", APICache: cache, APIOrigin: origin, SecurityHeaders: security,
	})
}

// TestAppDistributionBehaviour checks, through the model's own rules, what the app's
// distribution does for the app: the API gets the user's token, If-Match and its own
// Host, never cookies, and may be written to; the app's files are cached by their own
// Cache-Control; "/" is index.html; the CSP lets the app reach exactly its own origin
// and the AWS endpoints it calls.
func TestAppDistributionBehaviour(t *testing.T) {
	d := testAppDistribution()
	if err := d.Validate(); err != nil {
		t.Fatalf("the app's distribution is not valid: %v", err)
	}
	rs, err := d.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	api, site := rs[0], rs[1]
	if api.Pattern() != "/v1/*" || site.PathPattern != "" {
		t.Fatalf("behaviours %q, %q; want /v1/* then the default", api.Pattern(), site.PathPattern)
	}
	viewer := http.Header{"Authorization": {"Bearer alice"}, "If-Match": {`"3"`}, "Content-Type": {"application/json"}, "Cookie": {"a=b"}}
	h := api.OriginHeader(viewer, cdn.Viewer{Addr: "192.0.2.1:5555", Proto: "https"}, api.Origins[0])
	if h.Get("Authorization") != "Bearer alice" || h.Get("If-Match") != `"3"` || h.Get("Content-Type") != "application/json" {
		t.Errorf("the API does not get the token, If-Match and Content-Type: %v", h)
	}
	if h.Get("Cookie") != "" {
		t.Errorf("cookies reach the API: %v", h)
	}
	if got := api.Host("d222.cloudfront.net", api.Origins[0]); got != "todo.example.com" {
		t.Errorf("the gateway's ingress sees Host %q, want its own name", got)
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if !api.Allows(m) || api.Caches(m) {
			t.Errorf("/v1/* must allow %s and not cache it", m)
		}
	}
	alice := api.CacheKey("GET", "/v1/todos", "", http.Header{"Authorization": {"Bearer alice"}})
	if alice == api.CacheKey("GET", "/v1/todos", "", http.Header{"Authorization": {"Bearer bob"}}) {
		t.Error("/v1/* answers are not keyed on the user's token: one user's to-dos could be served to another")
	}
	if site.Cache.ID != cdn.CachingOptimizedID || d.DefaultRootObject != "index.html" || site.Allows("POST") {
		t.Errorf("the app's files: cache %s, root %q; want CachingOptimized, index.html, reads only", site.Cache.Name, d.DefaultRootObject)
	}
	csp := site.ResponseHeaders.ContentSecurityPolicy.Value
	for _, want := range []string{"script-src 'self';", "worker-src 'self';", "manifest-src 'self';", "frame-ancestors 'none'",
		"connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com https://cognito-identity.eu-west-1.amazonaws.com https://user-files-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q is not strict", csp)
	}
}

// TestAppDistributionInMoto provisions the app's resources twice against moto: the
// first run creates the distribution (recorded for the edge) and lets it alone read
// the bucket; the second changes nothing; a run without the API host keeps the one
// the distribution has; another region's run skips them all.
func TestAppDistributionInMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	prefix := mototest.Name("app") + "-"
	rec := &distributionCalls{}
	c := regionClients(t, ep, "us-east-1", rec)
	opts := AppOptions{APIHost: "todo.example.com", ConnectSources: []string{"http://127.0.0.1:1234/"}}
	first, err := Ensure(ctx, c, AppResources(prefix, opts), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(rec.take()); len(got) != 1 || got[0] != "create" {
		t.Errorf("first run's distribution changes %v, want one create", got)
	}
	if first.AppEdge == nil || first.AppPublicURL != "https://"+first.AppDistributionDomain || first.AppDistributionDomain == "" {
		t.Fatalf("outputs: edge %v, url %q, domain %q", first.AppEdge, first.AppPublicURL, first.AppDistributionDomain)
	}
	if o := first.AppEdge.Origin("app"); o == nil || o.Bucket() != first.AppBucket || o.OriginAccessControlID != first.AppOACID {
		t.Errorf("app origin %+v, want bucket %s through %s", o, first.AppBucket, first.AppOACID)
	}
	csp := first.AppEdge.ResponseHeadersPolicies[0].ContentSecurityPolicy.Value
	if !strings.Contains(csp, "connect-src 'self' "+ep+" ") || !strings.Contains(csp, " http://127.0.0.1:1234;") {
		t.Errorf("CSP %q does not let the app reach moto and the extra source", csp)
	}
	cur, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(first.AppDistributionID)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cdn.Diff(WithoutMotoGaps(APIView(first.AppEdge)), WithoutMotoGaps(DistributionFromAPI(cur.DistributionConfig))); len(diff) > 0 {
		t.Errorf("the distribution in moto differs from the recorded document:\n%s", strings.Join(diff, "\n"))
	}
	pol, err := c.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(first.AppBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(pol.Policy), first.AppDistributionARN) {
		t.Errorf("bucket policy %s does not name the app's distribution %s", aws.ToString(pol.Policy), first.AppDistributionARN)
	}

	var log strings.Builder
	again, err := Ensure(ctx, c, AppResources(prefix, AppOptions{ConnectSources: opts.ConnectSources}), &log)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(rec.take()); len(got) > 0 {
		t.Errorf("a second run without --app-api-host changed the distribution: %v\n%s", got, log.String())
	}
	if again.AppDistributionID != first.AppDistributionID || again.AppEdge.Origin("api").DomainName != "todo.example.com" {
		t.Errorf("second run: distribution %s, API host %q; want %s and the host kept", again.AppDistributionID, again.AppEdge.Origin("api").DomainName, first.AppDistributionID)
	}

	west := regionClients(t, ep, "eu-west-1", rec)
	log.Reset()
	other, err := Ensure(ctx, west, AppResources(prefix, AppOptions{HomeRegion: "us-east-1"}), &log)
	if err != nil {
		t.Fatal(err)
	}
	if other.AppBucket != "" || len(changes(rec.take())) != 0 || !strings.Contains(log.String(), "skipped  cloudfront distribution "+prefix+"mytodolist-app") {
		t.Errorf("another region's run made app resources:\n%s", log.String())
	}
}

// changes are the creates and updates among recorded distribution calls.
func changes(calls []string) []string {
	var out []string
	for _, c := range calls {
		if c == "create" || strings.HasPrefix(c, "update") {
			out = append(out, c)
		}
	}
	return out
}
