package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// BlogOptions tune MyBlog's resources.
type BlogOptions struct {
	// Regions are every region the blog runs in, the home region first; the tables get
	// a replica in each one other than the clients' own. Empty means the clients'
	// region only. Every region's run must pass the same list: the distribution (one,
	// global) is derived from it, so each run computes the same configuration.
	Regions []string
	// APIHost is the public host name of the blog API, the origin CloudFront sends
	// /v1/* to: with several regions, a latency-routed name that resolves to the
	// nearest healthy region's ingress (docs/deploy.md, "Several regions").
	APIHost string
	// APIPort is the API origin's HTTPS port; 0 means 443. The local stack points it at
	// blog-api's own port.
	APIPort int
	// Aliases are the blog's own domain names (CloudFront CNAMEs); they need
	// CertificateARN, an ACM certificate in us-east-1 that covers them.
	Aliases        []string
	CertificateARN string
	// SiteOrigins are extra origins the admin page runs on, besides
	// https://<distribution domain> and https://<each alias>: the media bucket's CORS
	// lets them PUT uploads to presigned URLs.
	SiteOrigins []string
}

// DefaultBlogAPIHost is the API origin when none is configured: a reserved name that
// never resolves, so a distribution made without the real host fails visibly.
const DefaultBlogAPIHost = "blog-api.invalid"

// homeRegion is the region that owns the blog's single resources (the site bucket):
// the first of the configured regions, else the clients' region.
func (o BlogOptions) homeRegion(clientRegion string) string {
	if len(o.Regions) > 0 {
		return o.Regions[0]
	}
	return clientRegion
}

// validate reports options no run can use.
func (o BlogOptions) validate(clientRegion string) error {
	if len(o.Regions) > 0 && !slices.Contains(o.Regions, clientRegion) {
		return fmt.Errorf("--regions %v does not include this run's region %s", o.Regions, clientRegion)
	}
	if len(o.Aliases) > 0 && o.CertificateARN == "" || len(o.Aliases) == 0 && o.CertificateARN != "" {
		return errors.New("a custom domain needs both --blog-domain and --blog-certificate-arn (an ACM certificate in us-east-1 covering it)")
	}
	return nil
}

// BlogResources returns MyBlog's resources in dependency order: tables, buckets, the
// origin access control, the media function, the project's CloudFront policies, the
// distribution, then the buckets' policy and CORS (which name the distribution).
func BlogResources(prefix string, o BlogOptions) []Resource {
	return []Resource{
		GlobalTable{
			TableName: prefix + "posts",
			Keys: []keyAttr{
				{Name: "pk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeHash},
				{Name: "sk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeRange},
			},
			Index:   &feedIndex,
			Regions: o.Regions,
			Record:  func(out *stack.Resources, name string) { out.PostsTable = name },
		},
		GlobalTable{
			TableName: prefix + "subscribers",
			Keys:      []keyAttr{{Name: "email", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeHash}},
			Stream:    types.StreamViewTypeNewImage,
			Regions:   o.Regions,
			Record:    func(out *stack.Resources, name string) { out.SubscribersTable = name },
		},
		Bucket{Base: prefix + siteBucketBase, HomeOnly: true, Options: o, Record: func(out *stack.Resources, name, region string) {
			out.SiteBucket, out.SiteBucketRegion = name, region
		}},
		Bucket{Base: prefix + mediaBucketBase, Options: o, Record: func(out *stack.Resources, name, _ string) { out.MediaBucket = name }},
		OriginAccessControl{OACName: prefix + "myblog"},
		MediaFunction{FunctionName: prefix + "myblog-media-path"},
		CachePolicyResource{Policy: APICachePolicy(prefix), Record: func(out *stack.Resources, id string) { out.BlogAPICachePolicyID = id }},
		OriginRequestPolicyResource{Policy: APIOriginRequestPolicy(prefix), Record: func(out *stack.Resources, id string) { out.BlogAPIOriginRequestPolicyID = id }},
		ResponseHeadersPolicyResource{
			PolicyName: prefix + securityPolicyName,
			Policy: func(ctx context.Context, c *Clients, out *stack.Resources) (cdn.ResponseHeadersPolicy, error) {
				media, err := distributionMediaBuckets(ctx, c, prefix, o)
				if err != nil {
					return cdn.ResponseHeadersPolicy{}, err
				}
				return SecurityHeadersPolicy(prefix, siteConnectSources(c, o, media)), nil
			},
			Record: func(out *stack.Resources, id string) { out.BlogSecurityHeadersPolicyID = id },
		},
		OriginSecret{SecretName: prefix + "myblog-origin-verify", Options: o},
		Distribution{DistName: prefix + "myblog", Prefix: prefix, Options: o},
		SiteBucketPolicy{},
		MediaBucketCORS{Origins: o.SiteOrigins},
	}
}

var feedIndex = gsi{Name: "feed", Keys: []keyAttr{
	{Name: "feedPk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeHash},
	{Name: "feedSk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeRange},
}}

// Kind implements Resource.
func (MediaBucketCORS) Kind() string { return "s3 bucket cors" }

// Name implements Resource.
func (MediaBucketCORS) Name() string { return "myblog media bucket: uploads from the site" }

// Ensure implements Resource.
func (m MediaBucketCORS) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	extra := slices.Clone(m.Origins)
	if out.BlogEdge != nil {
		for _, a := range out.BlogEdge.Aliases {
			extra = append(extra, "https://"+a)
		}
	}
	rule := UploadCORSRule(out.BlogDistributionDomain, extra)
	if len(rule.AllowedOrigins) == 0 {
		return Outcome{Skipped: true, ID: "no distribution domain or site origin to allow"}, nil
	}
	if _, err := c.S3.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket:            aws.String(out.MediaBucket),
		CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{rule}},
	}); err != nil {
		return Outcome{}, fmt.Errorf("put bucket cors on %s: %w", out.MediaBucket, err)
	}
	return Outcome{Applied: true, ID: out.MediaBucket}, nil
}

// UploadCORSRule allows PUTs with a Content-Type from https://<distribution domain>
// and the extra origins.
func UploadCORSRule(distributionDomain string, extra []string) s3types.CORSRule {
	var origins []string
	if distributionDomain != "" {
		origins = append(origins, "https://"+distributionDomain)
	}
	for _, o := range extra {
		if o != "" && !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return s3types.CORSRule{
		AllowedMethods: []string{"PUT"},
		AllowedOrigins: origins,
		AllowedHeaders: []string{"content-type"},
		MaxAgeSeconds:  aws.Int32(3600),
	}
}
