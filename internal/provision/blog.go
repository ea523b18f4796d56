package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// BlogOptions tune MyBlog's resources.
type BlogOptions struct {
	// Regions are every region the blog runs in; the tables get a replica in each one
	// other than the clients' own. Empty means the clients' region only.
	Regions []string
	// APIHost is the public host name of the blog API (the cluster's ingress), the
	// origin CloudFront sends /v1/* to.
	APIHost string
	// SiteOrigins are extra origins the admin page runs on (a custom domain), besides
	// the distribution's own https://<id>.cloudfront.net: the media bucket's CORS lets
	// them PUT uploads to presigned URLs.
	SiteOrigins []string
}

// DefaultBlogAPIHost is the API origin when none is configured: a reserved name that
// never resolves, so a distribution made without the real host fails visibly.
const DefaultBlogAPIHost = "blog-api.invalid"

// AWS-managed CloudFront policies (ids are fixed across accounts).
const (
	// CachingOptimized: cache by path only, long TTLs, gzip and brotli.
	cachePolicyOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	// UseOriginCacheControlHeaders-QueryStrings: honour the API's Cache-Control, key on
	// the query string (pages of a list).
	cachePolicyOriginHeadersQS = "4cc15a8a-d715-48a4-82b8-cc0b614638fe"
	// AllViewerExceptHostHeader: forward headers (Authorization for admin writes),
	// cookies and query strings to the API, but not Host.
	originRequestAllViewerExceptHost = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
)

// BlogResources returns MyBlog's resources in dependency order: tables, buckets, the
// origin access control, the distribution, then the site bucket's policy (which names
// the distribution).
func BlogResources(prefix string, o BlogOptions) []Resource {
	site, media := bucketName(prefix+"myblog-site"), bucketName(prefix+"myblog-media")
	host := o.APIHost
	if host == "" {
		host = DefaultBlogAPIHost
	}
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
		Bucket{BucketName: site, Record: func(out *stack.Resources, name string) { out.SiteBucket = name }},
		Bucket{BucketName: media, Record: func(out *stack.Resources, name string) { out.MediaBucket = name }},
		OriginAccessControl{OACName: prefix + "myblog"},
		MediaFunction{FunctionName: prefix + "myblog-media-path"},
		Distribution{DistName: prefix + "myblog", SiteBucket: site, MediaBucket: media, APIHost: host},
		MediaFunctionAssociation{DistName: prefix + "myblog"},
		SiteBucketPolicy{BucketName: site},
		MediaBucketCORS{BucketName: media, Origins: o.SiteOrigins},
	}
}

// gsi is a global secondary index with an ALL projection.
type gsi struct {
	Name string
	Keys []keyAttr
}

var feedIndex = gsi{Name: "feed", Keys: []keyAttr{
	{Name: "feedPk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeHash},
	{Name: "feedSk", Type: types.ScalarAttributeTypeS, Role: types.KeyTypeRange},
}}

// GlobalTable is an on-demand, encrypted DynamoDB table made global (version
// 2019.11.21): after it is ACTIVE, each configured region without a replica gets one
// through UpdateTable ReplicaUpdates, one region per call.
type GlobalTable struct {
	TableName string
	Keys      []keyAttr
	// Index is an optional global secondary index.
	Index *gsi
	// Stream, when set, enables a stream of that view type at creation.
	Stream types.StreamViewType
	// Regions are every region the table must be in.
	Regions []string
	// Record stores the name in the outputs.
	Record func(out *stack.Resources, name string)
}

var _ Resource = GlobalTable{}

// Kind implements Resource.
func (GlobalTable) Kind() string { return "dynamodb global table" }

// Name implements Resource.
func (t GlobalTable) Name() string { return t.TableName }

// Ensure implements Resource.
func (t GlobalTable) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	desc, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)})
	var notFound *types.ResourceNotFoundException
	created := false
	switch {
	case errors.As(err, &notFound):
		if _, err := c.DynamoDB.CreateTable(ctx, t.createInput()); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return Outcome{}, fmt.Errorf("create table: %w", err)
			}
		}
		created = true
	case err != nil:
		return Outcome{}, fmt.Errorf("describe table: %w", err)
	default:
		if got := keySchema(desc.Table); !slices.Equal(got, t.Keys) {
			return Outcome{}, fmt.Errorf("table %q exists with key schema %s, but the project needs %s: "+
				"it was not made by this tool; delete it or choose another --prefix",
				t.TableName, formatKeys(got), formatKeys(t.Keys))
		}
	}
	desc, err = t.waitActive(ctx, c)
	if err != nil {
		return Outcome{}, err
	}
	for _, u := range t.replicaUpdates(c.Region, desc.Table) {
		if _, err := c.DynamoDB.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName: aws.String(t.TableName), ReplicaUpdates: []types.ReplicationGroupUpdate{u},
		}); err != nil {
			return Outcome{}, fmt.Errorf("add replica in %s: %w", aws.ToString(u.Create.RegionName), err)
		}
		if _, err := t.waitActive(ctx, c); err != nil {
			return Outcome{}, err
		}
	}
	t.Record(out, t.TableName)
	return Outcome{Created: created}, nil
}

func (t GlobalTable) waitActive(ctx context.Context, c *Clients) (*dynamodb.DescribeTableOutput, error) {
	waiter := dynamodb.NewTableExistsWaiter(c.DynamoDB, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	desc, err := waiter.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.TableName)}, tableActiveTimeout)
	if err != nil {
		return nil, fmt.Errorf("wait for table to become ACTIVE: %w", err)
	}
	return desc, nil
}

func (t GlobalTable) createInput() *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName:        aws.String(t.TableName),
		BillingMode:      types.BillingModePayPerRequest,
		SSESpecification: &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms},
		Tags:             []types.Tag{{Key: aws.String("project"), Value: aws.String("serverless-architect")}},
	}
	defined := map[string]bool{}
	define := func(ks []keyAttr) []types.KeySchemaElement {
		var schema []types.KeySchemaElement
		for _, k := range ks {
			if !defined[k.Name] {
				defined[k.Name] = true
				in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k.Name), AttributeType: k.Type})
			}
			schema = append(schema, types.KeySchemaElement{AttributeName: aws.String(k.Name), KeyType: k.Role})
		}
		return schema
	}
	in.KeySchema = define(t.Keys)
	if t.Index != nil {
		in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(t.Index.Name),
			KeySchema:  define(t.Index.Keys),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}
	}
	if t.Stream != "" {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: t.Stream}
	}
	return in
}

// replicaUpdates are the replica creations a table described as desc still needs:
// one per configured region other than home that has no replica yet.
func (t GlobalTable) replicaUpdates(home string, desc *types.TableDescription) []types.ReplicationGroupUpdate {
	have := map[string]bool{home: true}
	if desc != nil {
		for _, r := range desc.Replicas {
			have[aws.ToString(r.RegionName)] = true
		}
	}
	var ups []types.ReplicationGroupUpdate
	for _, region := range t.Regions {
		if region == "" || have[region] {
			continue
		}
		have[region] = true
		ups = append(ups, types.ReplicationGroupUpdate{Create: &types.CreateReplicationGroupMemberAction{RegionName: aws.String(region)}})
	}
	return ups
}

// Bucket is a private S3 bucket: all public access blocked, objects owned by the
// bucket owner (no ACLs), encrypted at rest.
type Bucket struct {
	BucketName string
	Record     func(out *stack.Resources, name string)
}

var _ Resource = Bucket{}

// Kind implements Resource.
func (Bucket) Kind() string { return "s3 bucket" }

// Name implements Resource.
func (b Bucket) Name() string { return b.BucketName }

// Ensure implements Resource. The settings are applied on every run, so a bucket
// loosened by hand is tightened again.
func (b Bucket) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	created, err := ensureBucket(ctx, c, b.BucketName, s3types.ObjectOwnershipBucketOwnerEnforced)
	if err != nil {
		return Outcome{}, err
	}
	if _, err := c.S3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(b.BucketName), PublicAccessBlockConfiguration: PrivateBucketAccessBlock(),
	}); err != nil {
		return Outcome{}, fmt.Errorf("block public access: %w", err)
	}
	if _, err := c.S3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(b.BucketName),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256},
		}}},
	}); err != nil {
		return Outcome{}, fmt.Errorf("set encryption: %w", err)
	}
	b.Record(out, b.BucketName)
	return Outcome{Created: created}, nil
}

// ensureBucket creates the bucket in c's region unless it exists, with ownership set
// when it is not empty, and reports whether this call created it.
func ensureBucket(ctx context.Context, c *Clients, name string, ownership s3types.ObjectOwnership) (created bool, err error) {
	_, err = c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	var nf *s3types.NotFound
	switch {
	case errors.As(err, &nf) || httpStatus(err) == http.StatusNotFound:
	case err != nil:
		return false, fmt.Errorf("head bucket (a bucket of that name may belong to another account; choose another --prefix): %w", err)
	default:
		return false, nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(name), ObjectOwnership: ownership}
	if c.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(c.Region)}
	}
	if _, err := c.S3.CreateBucket(ctx, in); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return false, fmt.Errorf("create bucket: %w", err)
		}
		return false, nil // another run made it meanwhile
	}
	return true, nil
}

// PrivateBucketAccessBlock blocks every form of public access.
func PrivateBucketAccessBlock() *s3types.PublicAccessBlockConfiguration {
	return &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
		BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
	}
}

// OriginAccessControl is the CloudFront OAC that signs the distribution's requests to
// the S3 origins (SigV4, always).
type OriginAccessControl struct {
	OACName string
}

var _ Resource = OriginAccessControl{}

// Kind implements Resource.
func (OriginAccessControl) Kind() string { return "cloudfront origin access control" }

// Name implements Resource.
func (o OriginAccessControl) Name() string { return o.OACName }

// Ensure implements Resource.
func (o OriginAccessControl) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	var marker *string
	for {
		page, err := c.CloudFront.ListOriginAccessControls(ctx, &cloudfront.ListOriginAccessControlsInput{Marker: marker})
		if err != nil {
			return Outcome{}, fmt.Errorf("list origin access controls: %w", err)
		}
		if page.OriginAccessControlList == nil {
			break
		}
		for _, it := range page.OriginAccessControlList.Items {
			if aws.ToString(it.Name) == o.OACName {
				out.BlogOACID = aws.ToString(it.Id)
				return Outcome{ID: out.BlogOACID}, nil
			}
		}
		if page.OriginAccessControlList.NextMarker == nil || !aws.ToBool(page.OriginAccessControlList.IsTruncated) {
			break
		}
		marker = page.OriginAccessControlList.NextMarker
	}
	res, err := c.CloudFront.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{
		OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
			Name:                          aws.String(o.OACName),
			Description:                   aws.String("MyBlog: CloudFront reads the site and media buckets"),
			OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
			SigningBehavior:               cftypes.OriginAccessControlSigningBehaviorsAlways,
			SigningProtocol:               cftypes.OriginAccessControlSigningProtocolsSigv4,
		},
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("create origin access control: %w", err)
	}
	out.BlogOACID = aws.ToString(res.OriginAccessControl.Id)
	return Outcome{Created: true, ID: out.BlogOACID}, nil
}

// Distribution is MyBlog's CloudFront distribution: the default behaviour serves the
// site bucket through the OAC, /v1/* goes to the blog API over HTTPS, /media/* to the
// media bucket; viewers are redirected to HTTPS and responses are compressed. It is
// found again by its caller reference, which is its name.
type Distribution struct {
	DistName    string
	SiteBucket  string
	MediaBucket string
	APIHost     string
}

var _ Resource = Distribution{}

// Kind implements Resource.
func (Distribution) Kind() string { return "cloudfront distribution" }

// Name implements Resource.
func (d Distribution) Name() string { return d.DistName }

// Ensure implements Resource.
func (d Distribution) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	var marker *string
	for {
		page, err := c.CloudFront.ListDistributions(ctx, &cloudfront.ListDistributionsInput{Marker: marker})
		if err != nil {
			return Outcome{}, fmt.Errorf("list distributions: %w", err)
		}
		if page.DistributionList == nil {
			break
		}
		for _, it := range page.DistributionList.Items {
			mine, err := d.owns(ctx, c, it)
			if err != nil {
				return Outcome{}, err
			}
			if mine {
				out.BlogDistributionID, out.BlogDistributionARN, out.BlogDistributionDomain = aws.ToString(it.Id), aws.ToString(it.ARN), aws.ToString(it.DomainName)
				return Outcome{ID: out.BlogDistributionID}, nil
			}
		}
		if !aws.ToBool(page.DistributionList.IsTruncated) {
			break
		}
		marker = page.DistributionList.NextMarker
	}
	cfg := d.Config(c.Region, out.BlogOACID)
	if out.BlogMediaFunctionARN != "" {
		AttachMediaFunction(cfg, out.BlogMediaFunctionARN)
	}
	res, err := c.CloudFront.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: cfg})
	if err != nil {
		return Outcome{}, fmt.Errorf("create distribution: %w", err)
	}
	out.BlogDistributionID = aws.ToString(res.Distribution.Id)
	out.BlogDistributionARN = aws.ToString(res.Distribution.ARN)
	out.BlogDistributionDomain = aws.ToString(res.Distribution.DomainName)
	return Outcome{Created: true, ID: out.BlogDistributionID}, nil
}

// owns reports whether the listed distribution is this one: its comment is the name,
// or (where a listing omits comments, as moto's does) its caller reference is.
func (d Distribution) owns(ctx context.Context, c *Clients, it cftypes.DistributionSummary) (bool, error) {
	if aws.ToString(it.Comment) != "" {
		return aws.ToString(it.Comment) == d.DistName, nil
	}
	cfg, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: it.Id})
	if err != nil {
		return false, fmt.Errorf("get distribution config %s: %w", aws.ToString(it.Id), err)
	}
	return aws.ToString(cfg.DistributionConfig.CallerReference) == d.DistName, nil
}

// s3Origin is an S3 bucket origin read through the OAC.
func s3Origin(id, bucket, region, oac string) cftypes.Origin {
	return cftypes.Origin{
		Id:                    aws.String(id),
		DomainName:            aws.String(bucket + ".s3." + region + ".amazonaws.com"),
		OriginAccessControlId: aws.String(oac),
		S3OriginConfig:        &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
	}
}

func methods(ms ...cftypes.Method) *cftypes.AllowedMethods {
	return &cftypes.AllowedMethods{
		Quantity: aws.Int32(int32(len(ms))), Items: ms,
		CachedMethods: &cftypes.CachedMethods{Quantity: aws.Int32(2), Items: []cftypes.Method{cftypes.MethodGet, cftypes.MethodHead}},
	}
}

// Config is the distribution's configuration in region with OAC oac.
func (d Distribution) Config(region, oac string) *cftypes.DistributionConfig {
	get := methods(cftypes.MethodGet, cftypes.MethodHead)
	return &cftypes.DistributionConfig{
		CallerReference:   aws.String(d.DistName),
		Comment:           aws.String(d.DistName),
		Enabled:           aws.Bool(true),
		DefaultRootObject: aws.String("index.html"),
		HttpVersion:       cftypes.HttpVersionHttp2and3,
		IsIPV6Enabled:     aws.Bool(true),
		PriceClass:        cftypes.PriceClassPriceClassAll,
		Origins: &cftypes.Origins{Quantity: aws.Int32(3), Items: []cftypes.Origin{
			s3Origin("site", d.SiteBucket, region, oac),
			s3Origin("media", d.MediaBucket, region, oac),
			{
				Id:         aws.String("api"),
				DomainName: aws.String(d.APIHost),
				CustomOriginConfig: &cftypes.CustomOriginConfig{
					HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
					OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
					OriginSslProtocols:   &cftypes.OriginSslProtocols{Quantity: aws.Int32(1), Items: []cftypes.SslProtocol{cftypes.SslProtocolTLSv12}},
				},
			},
		}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String("site"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
			Compress:             aws.Bool(true),
			CachePolicyId:        aws.String(cachePolicyOriginHeadersQS),
			AllowedMethods:       get,
		},
		CacheBehaviors: &cftypes.CacheBehaviors{Quantity: aws.Int32(2), Items: []cftypes.CacheBehavior{
			{
				PathPattern:           aws.String("/v1/*"),
				TargetOriginId:        aws.String("api"),
				ViewerProtocolPolicy:  cftypes.ViewerProtocolPolicyRedirectToHttps,
				Compress:              aws.Bool(true),
				CachePolicyId:         aws.String(cachePolicyOriginHeadersQS),
				OriginRequestPolicyId: aws.String(originRequestAllViewerExceptHost),
				AllowedMethods: methods(cftypes.MethodGet, cftypes.MethodHead, cftypes.MethodOptions, cftypes.MethodPut,
					cftypes.MethodPost, cftypes.MethodPatch, cftypes.MethodDelete),
			},
			{
				PathPattern:          aws.String("/media/*"),
				TargetOriginId:       aws.String("media"),
				ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
				Compress:             aws.Bool(true),
				CachePolicyId:        aws.String(cachePolicyOptimized),
				AllowedMethods:       get,
			},
		}},
		ViewerCertificate: &cftypes.ViewerCertificate{CloudFrontDefaultCertificate: aws.Bool(true), MinimumProtocolVersion: cftypes.MinimumProtocolVersionTLSv122021},
	}
}

// SiteBucketPolicy lets the blog's distribution, and nothing else, read the site
// bucket; the media bucket gets the same. It runs after Distribution, whose ARN the
// condition names.
type SiteBucketPolicy struct {
	BucketName string
}

var _ Resource = SiteBucketPolicy{}

// Kind implements Resource.
func (SiteBucketPolicy) Kind() string { return "s3 bucket policy" }

// Name implements Resource.
func (p SiteBucketPolicy) Name() string { return p.BucketName }

// Ensure implements Resource. The policy is put on every run (PutBucketPolicy is
// idempotent), so drift is repaired.
func (p SiteBucketPolicy) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	for _, bucket := range []string{out.SiteBucket, out.MediaBucket} {
		if bucket == "" {
			continue
		}
		doc, err := CloudFrontReadPolicy(bucket, out.BlogDistributionARN).Compact()
		if err != nil {
			return Outcome{}, fmt.Errorf("policy for %s: %w", bucket, err)
		}
		if _, err := c.S3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
			return Outcome{}, fmt.Errorf("put bucket policy on %s: %w", bucket, err)
		}
	}
	return Outcome{Applied: true}, nil
}

// CloudFrontReadPolicy is the bucket policy that lets one CloudFront distribution (via
// OAC) read the objects of bucket: the CloudFront service principal, s3:GetObject only,
// and only when the request comes from that distribution's ARN.
func CloudFrontReadPolicy(bucket, distributionARN string) iampolicy.Document {
	return iampolicy.New(iampolicy.Statement{
		Sid:       "AllowCloudFrontOACRead",
		Effect:    iampolicy.Allow,
		Principal: iampolicy.Principal{"Service": {"cloudfront.amazonaws.com"}},
		Action:    iampolicy.Values{"s3:GetObject"},
		Resource:  iampolicy.Values{"arn:aws:s3:::" + bucket + "/*"},
		Condition: iampolicy.Condition{"StringEquals": {"AWS:SourceArn": {distributionARN}}},
	})
}

// MediaBucketCORS lets the admin page, served by the distribution (and any extra
// origins), PUT uploads straight to the media bucket through presigned URLs. It runs
// after Distribution, whose domain it names, and is put on every run.
type MediaBucketCORS struct {
	BucketName string
	Origins    []string
}

var _ Resource = MediaBucketCORS{}

// Kind implements Resource.
func (MediaBucketCORS) Kind() string { return "s3 bucket cors" }

// Name implements Resource.
func (m MediaBucketCORS) Name() string { return m.BucketName }

// Ensure implements Resource.
func (m MediaBucketCORS) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	rule := UploadCORSRule(out.BlogDistributionDomain, m.Origins)
	if len(rule.AllowedOrigins) == 0 {
		return Outcome{Skipped: true, ID: "no distribution domain or site origin to allow"}, nil
	}
	if _, err := c.S3.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket:            aws.String(m.BucketName),
		CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{rule}},
	}); err != nil {
		return Outcome{}, fmt.Errorf("put bucket cors: %w", err)
	}
	return Outcome{Applied: true}, nil
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
