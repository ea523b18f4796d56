package provision

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/originverify"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The names of MyBlog's buckets before the account and region, and of its security
// headers policy, after the prefix.
const (
	siteBucketBase     = "myblog-site"
	mediaBucketBase    = "myblog-media"
	securityPolicyName = "myblog-security"
)

// mediaFailoverCodes are the answers of one region's media bucket on which CloudFront
// asks the other's: S3 answers a missing key with 403 when the reader may not list the
// bucket (OAC grants s3:GetObject only), and 404 otherwise; 5xx when S3 is down.
var mediaFailoverCodes = []int{403, 404, 500, 502, 503, 504}

// APICachePolicy is the cache policy of /v1/*: the cache key holds the Authorization
// header (so admins' answers are never shared, and CloudFront forwards the token) and
// every query string (pages of a list); cookies are not used. With a minimum and
// default TTL of 0 blog-api's own Cache-Control decides: public answers are kept for
// their s-maxage, no-store and private ones never, and an answer without either is
// not kept.
func APICachePolicy(prefix string) cdn.CachePolicy {
	return originDrivenAPIPolicy(prefix+"myblog-api", "MyBlog /v1/*: keyed on Authorization and query strings; blog-api's Cache-Control decides")
}

// originDrivenAPIPolicy is the cache policy both projects' /v1/* behaviours use: keyed
// on Authorization and every query string, TTLs left to the origin's Cache-Control
// (minimum and default 0), compressed answers cached.
func originDrivenAPIPolicy(name, comment string) cdn.CachePolicy {
	return cdn.CachePolicy{
		Name: name, Comment: comment,
		MinTTL: 0, DefaultTTL: 0, MaxTTL: 31536000,
		Headers: []string{"Authorization"}, Cookies: cdn.Nothing, QueryStrings: cdn.Everything,
		Gzip: true, Brotli: true,
	}
}

// APIOriginRequestPolicy sends blog-api what it reads besides the cache key: Accept
// (its unsubscribe page answers HTML to browsers) and CloudFront-Viewer-Address (the
// viewer's ip:port, by which it limits subscriptions per client). Never Host: blog-api
// sits behind a Knative ingress that routes by Host, which must stay the origin's
// own domain name.
func APIOriginRequestPolicy(prefix string) cdn.OriginRequestPolicy {
	return cdn.OriginRequestPolicy{
		Name:         prefix + "myblog-api",
		Comment:      "MyBlog /v1/*: what blog-api reads beyond the cache key; never Host",
		Headers:      cdn.Only("Accept", "CloudFront-Viewer-Address"),
		Cookies:      cdn.Nothing,
		QueryStrings: cdn.Nothing,
	}
}

// TrustedTypesPolicy is the one Trusted Types policy the site's script creates, for the
// post's sanitised HTML (web/blog/app.js).
const TrustedTypesPolicy = "myblog"

// SecurityHeadersPolicy is the response headers policy of every behaviour: a strict
// Content-Security-Policy (scripts and styles only from the site itself, no inline
// code, Trusted Types for the one HTML sink, connections only to the site and the
// connect sources: Cognito for the admin's sign-in and the media buckets for uploads),
// HSTS for a year, nosniff, no framing, and a referrer only to the site itself. The
// CSP does not override one the origin sends (blog-api's own pages bring theirs); the
// other headers do.
func SecurityHeadersPolicy(prefix string, connect []string) cdn.ResponseHeadersPolicy {
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"font-src 'self'",
		"manifest-src 'self'",
		strings.Join(append([]string{"connect-src 'self'"}, connect...), " "),
		"form-action 'self'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
		"object-src 'none'",
		"require-trusted-types-for 'script'",
		"trusted-types " + TrustedTypesPolicy,
	}, "; ")
	return securityHeaders(prefix+securityPolicyName, "MyBlog: strict CSP, HSTS, nosniff, no framing", csp)
}

// securityHeaders is a response headers policy with the Content-Security-Policy csp
// (not overriding one the origin sends) and, overriding the origin's, HSTS for a
// year, nosniff, no framing, and a referrer only to the site itself.
func securityHeaders(name, comment, csp string) cdn.ResponseHeadersPolicy {
	return cdn.ResponseHeadersPolicy{
		Name:                    name,
		Comment:                 comment,
		ContentSecurityPolicy:   &cdn.HeaderValue{Value: csp},
		StrictTransportSecurity: &cdn.HSTS{MaxAge: 31536000, Override: true},
		ContentTypeOptions:      &cdn.Flag{Override: true},
		FrameOptions:            &cdn.HeaderValue{Value: "DENY", Override: true},
		ReferrerPolicy:          &cdn.HeaderValue{Value: "strict-origin-when-cross-origin", Override: true},
	}
}

// RegionalBucket is a bucket and its region.
type RegionalBucket struct {
	Bucket, Region string
}

// distributionMediaBuckets are the media buckets the distribution serves: the home
// region's, and with several regions the second's (an origin group has two members).
func distributionMediaBuckets(ctx context.Context, c *Clients, prefix string, o BlogOptions) ([]RegionalBucket, error) {
	regions := o.Regions
	if len(regions) == 0 {
		regions = []string{c.Region}
	}
	if len(regions) > 2 {
		return nil, fmt.Errorf("--regions %v: CloudFront serves /media/* from an origin group, which holds two buckets; "+
			"a third region's photos would not be served (run MyBlog in at most two regions, or replicate the media buckets)", regions)
	}
	var out []RegionalBucket
	for _, r := range regions {
		name, err := c.BucketName(ctx, prefix+mediaBucketBase, r)
		if err != nil {
			return nil, err
		}
		out = append(out, RegionalBucket{Bucket: name, Region: r})
	}
	return out, nil
}

// siteConnectSources are the origins the site's scripts may connect to besides its
// own: the Cognito endpoint of the home region (the admin's sign-in) and the media
// buckets (presigned uploads) — the endpoint override instead, when one is set (moto).
func siteConnectSources(c *Clients, o BlogOptions, media []RegionalBucket) []string {
	var out []string
	add := func(s string) { out = addOnce(out, s) }
	add(userPoolOrigin(c, o.homeRegion(c.Region)))
	if ep := aws.ToString(c.S3.Options().BaseEndpoint); ep != "" {
		add(originOf(ep))
	} else {
		for _, m := range media {
			add("https://" + m.Bucket + ".s3." + m.Region + ".amazonaws.com")
		}
	}
	return out
}

// addOnce appends s to list unless list has it.
func addOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// userPoolOrigin is the origin browsers call the user pool of region at: the endpoint
// override (moto), else AWS's.
func userPoolOrigin(c *Clients, region string) string {
	if ep := c.cognitoEndpoint(); ep != "" {
		return originOf(ep)
	}
	return "https://cognito-idp." + region + ".amazonaws.com"
}

// originOf is scheme://host[:port] of a URL.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// DistributionInputs are what MyBlog's distribution is made of.
type DistributionInputs struct {
	// Name is the caller reference and comment.
	Name string
	// Site is the site bucket (home region); Media the media buckets, one or two.
	Site  RegionalBucket
	Media []RegionalBucket
	// OACID is the origin access control of the buckets.
	OACID string
	// APIHost and APIPort are the API origin (APIPort 0 is 443).
	APIHost string
	APIPort int
	// OriginSecret is sent to the API origin in originverify.Header.
	OriginSecret string
	// Aliases and CertificateARN are the custom domain.
	Aliases        []string
	CertificateARN string
	// MediaFunctionARN is the published media function (empty under moto).
	MediaFunctionARN, MediaFunctionName string
	// The project's own policies, with their ids.
	APICache        cdn.CachePolicy
	APIOrigin       cdn.OriginRequestPolicy
	SecurityHeaders cdn.ResponseHeadersPolicy
}

// BlogDistribution is MyBlog's distribution: the default behaviour serves the site
// bucket (CachingOptimized: path-only key, long TTLs, compression), /v1/* the API with
// the project's API cache and origin request policies, /media/* the media bucket(s)
// (CachingOptimized) after the media function strips /media; with two regions the
// media buckets form an origin group. Every behaviour redirects to HTTPS, compresses
// and adds the security headers.
func BlogDistribution(in DistributionInputs) *cdn.Distribution {
	s3 := func(id string, b RegionalBucket) cdn.Origin {
		return cdn.Origin{ID: id, DomainName: b.Bucket + ".s3." + b.Region + ".amazonaws.com", S3: true, OriginAccessControlID: in.OACID}
	}
	api := cdn.Origin{ID: "api", DomainName: in.APIHost, ProtocolPolicy: cdn.HTTPSOnly,
		CustomHeaders: []cdn.CustomHeader{{Name: originverify.Header, Value: in.OriginSecret}}}
	if in.APIPort != 0 && in.APIPort != 443 {
		api.HTTPSPort = in.APIPort
	}
	d := &cdn.Distribution{
		Name: in.Name, DefaultRootObject: "index.html",
		Aliases: in.Aliases, CertificateARN: in.CertificateARN,
		Origins:                 []cdn.Origin{s3("site", in.Site)},
		CachePolicies:           []cdn.CachePolicy{in.APICache},
		OriginRequestPolicies:   []cdn.OriginRequestPolicy{in.APIOrigin},
		ResponseHeadersPolicies: []cdn.ResponseHeadersPolicy{in.SecurityHeaders},
	}
	mediaTarget := "media"
	if len(in.Media) == 1 {
		d.Origins = append(d.Origins, s3("media", in.Media[0]))
	} else {
		members := make([]string, len(in.Media))
		for i, m := range in.Media {
			members[i] = "media-" + m.Region
			d.Origins = append(d.Origins, s3(members[i], m))
		}
		d.OriginGroups = []cdn.OriginGroup{{ID: mediaTarget, Members: members, FailoverStatusCodes: mediaFailoverCodes}}
	}
	d.Origins = append(d.Origins, api)
	read := func(pattern, target, cache string) cdn.Behavior {
		return cdn.Behavior{PathPattern: pattern, TargetOriginID: target, ViewerProtocolPolicy: "redirect-to-https",
			AllowedMethods: cdn.ReadMethods, CachedMethods: cdn.ReadMethods, Compress: true, CachePolicyID: cache,
			ResponseHeadersPolicyID: in.SecurityHeaders.ID}
	}
	d.DefaultBehavior = read("", "site", cdn.CachingOptimizedID)
	media := read("/media/*", mediaTarget, cdn.CachingOptimizedID)
	media.Functions = []cdn.FunctionAssociation{{EventType: cdn.EventViewerRequest, Name: in.MediaFunctionName, ARN: in.MediaFunctionARN,
		CodeSHA256: cdn.CodeSHA256(cdn.MediaFunctionCode)}}
	d.Behaviors = []cdn.Behavior{
		{PathPattern: "/v1/*", TargetOriginID: "api", ViewerProtocolPolicy: "redirect-to-https", AllowedMethods: cdn.AllMethods,
			CachedMethods: cdn.ReadMethods, Compress: true, CachePolicyID: in.APICache.ID, OriginRequestPolicyID: in.APIOrigin.ID,
			ResponseHeadersPolicyID: in.SecurityHeaders.ID},
		media,
	}
	return d
}

// Distribution is MyBlog's CloudFront distribution (BlogDistribution), found again by
// its caller reference, which is its name. Every region's run computes the same
// configuration from the same options; a distribution that differs from it (made by
// an older version, with the placeholder API host, or changed by hand) is updated with
// its ETag. The document is recorded in the outputs (BlogEdge) for the local edge.
type Distribution struct {
	DistName string
	Prefix   string
	Options  BlogOptions
}

var _ Resource = Distribution{}

// Kind implements Resource.
func (Distribution) Kind() string { return "cloudfront distribution" }

// Name implements Resource.
func (d Distribution) Name() string { return d.DistName }

// Document is the distribution this run wants, from the options and what the earlier
// resources recorded.
func (d Distribution) Document(ctx context.Context, c *Clients, out *stack.Resources) (*cdn.Distribution, error) {
	if err := d.Options.validate(c.Region); err != nil {
		return nil, err
	}
	if out.SiteBucket == "" || out.BlogOACID == "" || out.BlogAPICachePolicyID == "" || out.BlogAPIOriginRequestPolicyID == "" || out.BlogSecurityHeadersPolicyID == "" {
		return nil, errors.New("the site bucket, origin access control and policies must be provisioned first")
	}
	media, err := distributionMediaBuckets(ctx, c, d.Prefix, d.Options)
	if err != nil {
		return nil, err
	}
	host := d.Options.APIHost
	if host == "" {
		host = DefaultBlogAPIHost
	}
	secret, err := originSecretValue(ctx, c, out)
	if err != nil {
		return nil, err
	}
	cache, origin := APICachePolicy(d.Prefix), APIOriginRequestPolicy(d.Prefix)
	cache.ID, origin.ID = out.BlogAPICachePolicyID, out.BlogAPIOriginRequestPolicyID
	security := SecurityHeadersPolicy(d.Prefix, siteConnectSources(c, d.Options, media))
	security.ID = out.BlogSecurityHeadersPolicyID
	doc := BlogDistribution(DistributionInputs{
		Name: d.DistName, Site: RegionalBucket{Bucket: out.SiteBucket, Region: out.SiteBucketRegion}, Media: media,
		OACID: out.BlogOACID, APIHost: host, APIPort: d.Options.APIPort, OriginSecret: secret,
		Aliases: d.Options.Aliases, CertificateARN: d.Options.CertificateARN,
		MediaFunctionARN: out.BlogMediaFunctionARN, MediaFunctionName: d.Prefix + "myblog-media-path",
		APICache: cache, APIOrigin: origin, SecurityHeaders: security,
	})
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("the distribution the project defines is not valid: %w", err)
	}
	return doc, nil
}

// Ensure implements Resource.
func (d Distribution) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	doc, err := d.Document(ctx, c, out)
	if err != nil {
		return Outcome{}, err
	}
	found, o, doc, err := applyDistribution(ctx, c, d.DistName, doc, func(cur *cftypes.DistributionConfig) (*cdn.Distribution, error) {
		if host, port := apiOrigin(cur); d.Options.APIHost == "" && host != "" && host != DefaultBlogAPIHost {
			// A run without --blog-api-host (a further region's, say) keeps the API
			// host an earlier run set rather than putting the placeholder back.
			d.Options.APIHost, d.Options.APIPort = host, port
			return d.Document(ctx, c, out)
		}
		return nil, nil
	})
	if err != nil {
		return Outcome{}, err
	}
	out.BlogDistributionID, out.BlogDistributionARN, out.BlogDistributionDomain = aws.ToString(found.Id), aws.ToString(found.ARN), aws.ToString(found.DomainName)
	out.BlogEdge = doc
	out.BlogPublicURL = "https://" + out.BlogDistributionDomain
	if len(doc.Aliases) > 0 {
		out.BlogPublicURL = "https://" + doc.Aliases[0]
	}
	o.ID = out.BlogDistributionID
	return o, nil
}

// applyDistribution creates the distribution named name from doc, or updates the one
// found by that name with its ETag when its configuration has drifted from doc: the
// one provisioning path of every distribution the project runs. Given the current
// configuration, revise may return the document to apply instead (nil keeps doc).
// It returns the distribution's summary, the outcome and the document applied.
func applyDistribution(ctx context.Context, c *Clients, name string, doc *cdn.Distribution,
	revise func(cur *cftypes.DistributionConfig) (*cdn.Distribution, error)) (*cftypes.Distribution, Outcome, *cdn.Distribution, error) {
	if err := c.checkCertificate(ctx, doc.CertificateARN, doc.Aliases); err != nil {
		return nil, Outcome{}, nil, err
	}
	d := Distribution{DistName: name}
	found, err := d.find(ctx, c)
	if err != nil {
		return nil, Outcome{}, nil, err
	}
	o := Outcome{}
	if found == nil {
		res, err := c.CloudFront.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: DistributionConfig(doc)})
		if err != nil {
			return nil, Outcome{}, nil, fmt.Errorf("create distribution: %w", err)
		}
		return res.Distribution, Outcome{Created: true}, doc, nil
	}
	cur, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: found.Id})
	if err != nil {
		return nil, Outcome{}, nil, fmt.Errorf("get distribution config %s: %w", aws.ToString(found.Id), err)
	}
	if revise != nil {
		revised, err := revise(cur.DistributionConfig)
		if err != nil {
			return nil, Outcome{}, nil, err
		}
		if revised != nil {
			doc = revised
		}
	}
	if diff := d.drift(ctx, c, doc, cur.DistributionConfig); len(diff) > 0 {
		cfg := DistributionConfig(doc)
		cfg.CallerReference = cur.DistributionConfig.CallerReference
		res, err := c.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: found.Id, IfMatch: cur.ETag, DistributionConfig: cfg})
		if err != nil {
			return nil, Outcome{}, nil, fmt.Errorf("update distribution %s (changed: %s): %w", aws.ToString(found.Id), strings.Join(diff, "; "), err)
		}
		found, o.Applied = res.Distribution, true
	}
	return found, o, doc, nil
}

// drift lists what of want the distribution's current configuration lacks: every
// field against AWS; against moto all but what moto does not keep (MotoGaps).
func (d Distribution) drift(ctx context.Context, c *Clients, want *cdn.Distribution, cur *cftypes.DistributionConfig) []string {
	w, g := APIView(want), DistributionFromAPI(cur)
	if c.isMoto(ctx, cloudFrontEndpoint(c)) {
		w, g = WithoutMotoGaps(w), WithoutMotoGaps(g)
	}
	return cdn.Diff(canonical(w), canonical(g))
}

// canonical is d with the lists CloudFront treats as sets in one order: aliases,
// failover status codes, and methods in CloudFront's own order (a configuration read
// back may list them otherwise, which is no change).
func canonical(d *cdn.Distribution) *cdn.Distribution {
	v := *d
	v.Aliases = slices.Sorted(slices.Values(d.Aliases))
	v.OriginGroups = slices.Clone(d.OriginGroups)
	for i := range v.OriginGroups {
		v.OriginGroups[i].FailoverStatusCodes = slices.Sorted(slices.Values(v.OriginGroups[i].FailoverStatusCodes))
	}
	order := func(ms []string) []string {
		out := slices.Clone(ms)
		slices.SortStableFunc(out, func(a, b string) int { return slices.Index(cdn.AllMethods, a) - slices.Index(cdn.AllMethods, b) })
		return out
	}
	v.Behaviors = slices.Clone(d.Behaviors)
	for _, b := range append([]*cdn.Behavior{&v.DefaultBehavior}, pointers(v.Behaviors)...) {
		b.AllowedMethods, b.CachedMethods = order(b.AllowedMethods), order(b.CachedMethods)
	}
	return &v
}

func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// find returns the summary of the distribution named d.DistName, or nil.
func (d Distribution) find(ctx context.Context, c *Clients) (*cftypes.Distribution, error) {
	var marker *string
	for {
		page, err := c.CloudFront.ListDistributions(ctx, &cloudfront.ListDistributionsInput{Marker: marker})
		if err != nil {
			return nil, fmt.Errorf("list distributions: %w", err)
		}
		if page.DistributionList == nil {
			return nil, nil
		}
		for _, it := range page.DistributionList.Items {
			mine, err := d.owns(ctx, c, it)
			if err != nil {
				return nil, err
			}
			if mine {
				return &cftypes.Distribution{Id: it.Id, ARN: it.ARN, DomainName: it.DomainName}, nil
			}
		}
		if !aws.ToBool(page.DistributionList.IsTruncated) {
			return nil, nil
		}
		marker = page.DistributionList.NextMarker
	}
}

// owns reports whether the listed distribution is this one: its comment is the name,
// or (where a listing omits comments, as moto's does) its caller reference is.
func (d Distribution) owns(ctx context.Context, c *Clients, it cftypes.DistributionSummary) (bool, error) {
	if aws.ToString(it.Comment) != "" {
		return aws.ToString(it.Comment) == d.DistName, nil
	}
	cfg, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: it.Id})
	if err != nil {
		// Deleted since it was listed (another stack in the account going away): not
		// this one, which this process alone creates or deletes.
		if gone := (*cftypes.NoSuchDistribution)(nil); errors.As(err, &gone) {
			return false, nil
		}
		return false, fmt.Errorf("get distribution config %s: %w", aws.ToString(it.Id), err)
	}
	return aws.ToString(cfg.DistributionConfig.CallerReference) == d.DistName, nil
}

// apiOrigin is the host and HTTPS port (0 for 443) of the "api" origin of a
// distribution's configuration; "" when it has none.
func apiOrigin(cfg *cftypes.DistributionConfig) (string, int) {
	if cfg == nil || cfg.Origins == nil {
		return "", 0
	}
	for _, o := range cfg.Origins.Items {
		if aws.ToString(o.Id) != "api" {
			continue
		}
		port := 0
		if o.CustomOriginConfig != nil {
			if p := int(aws.ToInt32(o.CustomOriginConfig.HTTPSPort)); p != 443 {
				port = p
			}
		}
		return aws.ToString(o.DomainName), port
	}
	return "", 0
}
