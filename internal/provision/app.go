package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The MyTodoList app (web/todo) is served the way the blog's site is: its built files
// in a private bucket of its own, read by a CloudFront distribution of its own through
// an origin access control, with /v1/* sent to the to-do API, so the app calls its
// API on its own origin (no CORS). The local stack runs this distribution's document
// in a second edge process, as it runs the blog's.

// appBucketBase is the name of the app's bucket before the account and region.
const appBucketBase = "mytodolist-app"

// DefaultAppAPIHost is the app's API origin when none is configured: a reserved name
// that never resolves, so a distribution made without the real host fails visibly.
const DefaultAppAPIHost = "todo-api.invalid"

// AppOptions tune the app's resources.
type AppOptions struct {
	// APIHost is the public host name of the to-do API (the gateway's Knative
	// Service), CloudFront's origin for /v1/*; APIPort its HTTPS port, 0 for 443.
	APIHost string
	APIPort int
	// Aliases are the app's own domain names; they need CertificateARN, an ACM
	// certificate in us-east-1 that covers them.
	Aliases        []string
	CertificateARN string
	// HomeRegion is the one region whose runs make and keep the app's resources
	// (MyBlog's home region when it runs in several); another region's run skips
	// them. Empty means every run's own region.
	HomeRegion string
	// ConnectSources are origins the app's scripts may call besides the AWS endpoints
	// the Content-Security-Policy names anyway (locally: the Cognito stand-in).
	ConnectSources []string
}

func (o AppOptions) validate() error {
	if len(o.Aliases) > 0 && o.CertificateARN == "" || len(o.Aliases) == 0 && o.CertificateARN != "" {
		return errors.New("a custom domain for the app needs both --app-domain and --app-certificate-arn (an ACM certificate in us-east-1 covering it)")
	}
	return nil
}

// AppResources are the app's resources in dependency order: its bucket, its origin
// access control, its policies, the distribution, then the bucket's policy (which
// names the distribution). They come after the files bucket, whose endpoint the
// Content-Security-Policy lets the app call.
func AppResources(prefix string, o AppOptions) []Resource {
	rs := []Resource{
		Bucket{Base: prefix + appBucketBase, Record: func(out *stack.Resources, name, _ string) { out.AppBucket = name }},
		OriginAccessControl{OACName: prefix + "mytodolist-app", Description: "MyTodoList: CloudFront reads the app's bucket",
			Record: func(out *stack.Resources, id string) { out.AppOACID = id }},
		CachePolicyResource{Policy: AppAPICachePolicy(prefix), Record: func(out *stack.Resources, id string) { out.AppAPICachePolicyID = id }},
		OriginRequestPolicyResource{Policy: AppAPIOriginRequestPolicy(prefix), Record: func(out *stack.Resources, id string) { out.AppAPIOriginRequestPolicyID = id }},
		ResponseHeadersPolicyResource{
			PolicyName: prefix + appSecurityPolicyName,
			Policy: func(_ context.Context, c *Clients, out *stack.Resources) (cdn.ResponseHeadersPolicy, error) {
				return AppSecurityHeadersPolicy(prefix, appConnectSources(c, o, out.FilesBucket)), nil
			},
			Record: func(out *stack.Resources, id string) { out.AppSecurityHeadersPolicyID = id },
		},
		AppDistribution{DistName: prefix + "mytodolist-app", Prefix: prefix, Options: o},
		AppBucketPolicy{},
	}
	for i, r := range rs {
		rs[i] = homeOnly{Resource: r, home: o.HomeRegion}
	}
	return rs
}

// homeOnly is a resource only the home region's run makes: the app and its
// distribution are one, whichever regions MyBlog runs in.
type homeOnly struct {
	Resource
	home string
}

// Ensure implements Resource.
func (h homeOnly) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if h.home != "" && h.home != c.Region {
		return Outcome{Skipped: true, ID: "the app is served from the home region " + h.home}, nil
	}
	return h.Resource.Ensure(ctx, c, out)
}

// appSecurityPolicyName is the app's response headers policy after the prefix.
const appSecurityPolicyName = "mytodolist-app-security"

// AppAPICachePolicy is the cache policy of the app's /v1/*: keyed on Authorization
// (each user's answers are their own, and CloudFront forwards the token only from the
// key) and every query string (pages of a list); with a minimum and default TTL of 0
// the API's own Cache-Control decides, and an answer without one is not kept.
func AppAPICachePolicy(prefix string) cdn.CachePolicy {
	return originDrivenAPIPolicy(prefix+"mytodolist-api", "MyTodoList /v1/*: keyed on Authorization and query strings; the API's Cache-Control decides")
}

// AppAPIOriginRequestPolicy sends the to-do API what it reads beyond the cache key
// and what CloudFront always forwards (Content-Type, If-Match): Accept. Never Host:
// the gateway sits behind a Knative ingress that routes by Host.
func AppAPIOriginRequestPolicy(prefix string) cdn.OriginRequestPolicy {
	return cdn.OriginRequestPolicy{
		Name:         prefix + "mytodolist-api",
		Comment:      "MyTodoList /v1/*: what the to-do API reads beyond the cache key; never Host",
		Headers:      cdn.Only("Accept"),
		Cookies:      cdn.Nothing,
		QueryStrings: cdn.Nothing,
	}
}

// AppSecurityHeadersPolicy is the response headers policy of every behaviour of the
// app's distribution: a Content-Security-Policy that lets the app run only its own
// scripts, styles, images, manifest and service worker, and connect only to its own
// origin (config.json, /v1/*) and connect (the user pool, the identity pool and the
// files bucket), plus HSTS, nosniff, no framing and a same-origin referrer.
func AppSecurityHeadersPolicy(prefix string, connect []string) cdn.ResponseHeadersPolicy {
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: blob:",
		"manifest-src 'self'",
		"worker-src 'self'",
		strings.Join(append([]string{"connect-src 'self'"}, connect...), " "),
		"form-action 'self'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
		"object-src 'none'",
	}, "; ")
	return securityHeaders(prefix+appSecurityPolicyName, "MyTodoList app: strict CSP, HSTS, nosniff, no framing", csp)
}

// appConnectSources are the origins the app calls besides its own: the user pool,
// the identity pool and the files bucket in AWS, or the endpoint overrides in their
// place (moto), and the options' extra sources.
func appConnectSources(c *Clients, o AppOptions, filesBucket string) []string {
	var out []string
	add := func(s string) { out = addOnce(out, s) }
	region := c.Region
	add(userPoolOrigin(c, region))
	if ep := aws.ToString(c.CognitoIdentity.Options().BaseEndpoint); ep != "" {
		add(originOf(ep))
	} else {
		add("https://cognito-identity." + region + ".amazonaws.com")
	}
	if ep := aws.ToString(c.S3.Options().BaseEndpoint); ep != "" {
		add(originOf(ep))
	} else if filesBucket != "" {
		add("https://" + filesBucket + ".s3." + region + ".amazonaws.com")
		if region == "us-east-1" {
			add("https://" + filesBucket + ".s3.amazonaws.com")
		}
	}
	for _, s := range o.ConnectSources {
		add(originOf(s))
	}
	return out
}

// AppDistributionInputs are what the app's distribution is made of.
type AppDistributionInputs struct {
	// Name is the caller reference and comment.
	Name string
	// Bucket is the app's bucket; OACID the origin access control that reads it.
	Bucket RegionalBucket
	OACID  string
	// APIHost and APIPort are the to-do API origin (APIPort 0 is 443).
	APIHost string
	APIPort int
	// Aliases and CertificateARN are the custom domain.
	Aliases        []string
	CertificateARN string
	// The distribution's own policies, with their ids.
	APICache        cdn.CachePolicy
	APIOrigin       cdn.OriginRequestPolicy
	SecurityHeaders cdn.ResponseHeadersPolicy
}

// AppDistributionDocument is the app's distribution: the default behaviour serves the
// app's bucket with CachingOptimized (path-only key; the TTL is the objects' own
// Cache-Control within 1 s to a year: `sa site deploy --site todo` gives hashed assets
// a year and immutable, index.html, the service worker, the manifest and config.json
// max-age=0 with s-maxage=300, and invalidates those it changed), "/" is index.html,
// and /v1/* goes to the to-do API with the app's API cache and origin request
// policies. Every behaviour redirects to HTTPS, compresses and adds the security
// headers. The app is one page that keeps its screens in memory, so there are no deep
// links to send to index.html.
func AppDistributionDocument(in AppDistributionInputs) *cdn.Distribution {
	api := cdn.Origin{ID: "api", DomainName: in.APIHost, ProtocolPolicy: cdn.HTTPSOnly}
	if in.APIPort != 0 && in.APIPort != 443 {
		api.HTTPSPort = in.APIPort
	}
	return &cdn.Distribution{
		Name: in.Name, DefaultRootObject: "index.html",
		Aliases: in.Aliases, CertificateARN: in.CertificateARN,
		Origins: []cdn.Origin{
			{ID: "app", DomainName: in.Bucket.Bucket + ".s3." + in.Bucket.Region + ".amazonaws.com", S3: true, OriginAccessControlID: in.OACID},
			api,
		},
		CachePolicies:           []cdn.CachePolicy{in.APICache},
		OriginRequestPolicies:   []cdn.OriginRequestPolicy{in.APIOrigin},
		ResponseHeadersPolicies: []cdn.ResponseHeadersPolicy{in.SecurityHeaders},
		DefaultBehavior: cdn.Behavior{TargetOriginID: "app", ViewerProtocolPolicy: "redirect-to-https",
			AllowedMethods: cdn.ReadMethods, CachedMethods: cdn.ReadMethods, Compress: true, CachePolicyID: cdn.CachingOptimizedID,
			ResponseHeadersPolicyID: in.SecurityHeaders.ID},
		Behaviors: []cdn.Behavior{{PathPattern: "/v1/*", TargetOriginID: "api", ViewerProtocolPolicy: "redirect-to-https",
			AllowedMethods: cdn.AllMethods, CachedMethods: cdn.ReadMethods, Compress: true, CachePolicyID: in.APICache.ID,
			OriginRequestPolicyID: in.APIOrigin.ID, ResponseHeadersPolicyID: in.SecurityHeaders.ID}},
	}
}

// AppDistribution is the app's CloudFront distribution (AppDistributionDocument),
// made and kept as the blog's is (applyDistribution). The document is recorded in the
// outputs (AppEdge) for the local edge.
type AppDistribution struct {
	DistName string
	Prefix   string
	Options  AppOptions
}

var _ Resource = AppDistribution{}

// Kind implements Resource.
func (AppDistribution) Kind() string { return "cloudfront distribution" }

// Name implements Resource.
func (d AppDistribution) Name() string { return d.DistName }

// Document is the distribution this run wants, from the options and what the earlier
// resources recorded.
func (d AppDistribution) Document(c *Clients, out *stack.Resources) (*cdn.Distribution, error) {
	if err := d.Options.validate(); err != nil {
		return nil, err
	}
	if out.AppBucket == "" || out.AppOACID == "" || out.AppAPICachePolicyID == "" || out.AppAPIOriginRequestPolicyID == "" || out.AppSecurityHeadersPolicyID == "" {
		return nil, errors.New("the app's bucket, origin access control and policies must be provisioned first")
	}
	cache, origin := AppAPICachePolicy(d.Prefix), AppAPIOriginRequestPolicy(d.Prefix)
	cache.ID, origin.ID = out.AppAPICachePolicyID, out.AppAPIOriginRequestPolicyID
	security := AppSecurityHeadersPolicy(d.Prefix, appConnectSources(c, d.Options, out.FilesBucket))
	security.ID = out.AppSecurityHeadersPolicyID
	doc := AppDistributionDocument(AppDistributionInputs{
		Name: d.DistName, Bucket: RegionalBucket{Bucket: out.AppBucket, Region: c.Region}, OACID: out.AppOACID,
		APIHost: cmp.Or(d.Options.APIHost, DefaultAppAPIHost), APIPort: d.Options.APIPort,
		Aliases: d.Options.Aliases, CertificateARN: d.Options.CertificateARN,
		APICache: cache, APIOrigin: origin, SecurityHeaders: security,
	})
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("the app's distribution as the project defines it is not valid: %w", err)
	}
	return doc, nil
}

// Ensure implements Resource.
func (d AppDistribution) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	doc, err := d.Document(c, out)
	if err != nil {
		return Outcome{}, err
	}
	found, o, doc, err := applyDistribution(ctx, c, d.DistName, doc, func(cur *cftypes.DistributionConfig) (*cdn.Distribution, error) {
		if host, port := apiOrigin(cur); d.Options.APIHost == "" && host != "" && host != DefaultAppAPIHost {
			// A run without --app-api-host keeps the host an earlier run set.
			d.Options.APIHost, d.Options.APIPort = host, port
			return d.Document(c, out)
		}
		return nil, nil
	})
	if err != nil {
		return Outcome{}, err
	}
	out.AppDistributionID, out.AppDistributionARN, out.AppDistributionDomain = aws.ToString(found.Id), aws.ToString(found.ARN), aws.ToString(found.DomainName)
	out.AppEdge = doc
	out.AppPublicURL = "https://" + out.AppDistributionDomain
	if len(doc.Aliases) > 0 {
		out.AppPublicURL = "https://" + doc.Aliases[0]
	}
	o.ID = out.AppDistributionID
	return o, nil
}

// AppBucketPolicy lets the app's distribution, and nothing else, read the app's
// bucket. It runs after AppDistribution, whose ARN the condition names; it is put on
// every run, so drift is repaired.
type AppBucketPolicy struct{}

var _ Resource = AppBucketPolicy{}

// Kind implements Resource.
func (AppBucketPolicy) Kind() string { return "s3 bucket policy" }

// Name implements Resource.
func (AppBucketPolicy) Name() string { return "mytodolist app bucket: read by the distribution" }

// Ensure implements Resource.
func (AppBucketPolicy) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	doc, err := CloudFrontReadPolicy(out.AppBucket, out.AppDistributionARN).Compact()
	if err != nil {
		return Outcome{}, fmt.Errorf("policy for %s: %w", out.AppBucket, err)
	}
	if _, err := c.S3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(out.AppBucket), Policy: aws.String(doc)}); err != nil {
		return Outcome{}, fmt.Errorf("put bucket policy on %s: %w", out.AppBucket, err)
	}
	return Outcome{Applied: true}, nil
}
