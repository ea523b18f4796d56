package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
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
// bucket owner (no ACLs), encrypted at rest. Its name is BucketName(Base, account,
// region): bucket names are global, so every account and region gets its own.
type Bucket struct {
	// Base is the name before the account and region: the prefix and the bucket's role.
	Base string
	// HomeOnly makes the bucket exist in the home region only (the site): other
	// regions' runs record the home bucket's name and create nothing.
	HomeOnly bool
	// Options say which region is home.
	Options BlogOptions
	// Record stores the name, and the region it is in, in the outputs.
	Record func(out *stack.Resources, name, region string)
}

var _ Resource = Bucket{}

// Kind implements Resource.
func (Bucket) Kind() string { return "s3 bucket" }

// Name implements Resource.
func (b Bucket) Name() string { return b.Base }

// Ensure implements Resource. The settings are applied on every run, so a bucket
// loosened by hand is tightened again.
func (b Bucket) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	region := c.Region
	if home := b.Options.homeRegion(c.Region); b.HomeOnly && home != c.Region {
		region = home
	}
	name, err := c.BucketName(ctx, b.Base, region)
	if err != nil {
		return Outcome{}, err
	}
	if region != c.Region {
		b.Record(out, name, region)
		return Outcome{Skipped: true, ID: name + " lives in the home region " + region}, nil
	}
	created, err := ensureBucket(ctx, c, name, s3types.ObjectOwnershipBucketOwnerEnforced)
	if err != nil {
		return Outcome{}, err
	}
	if _, err := c.S3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(name), PublicAccessBlockConfiguration: PrivateBucketAccessBlock(),
	}); err != nil {
		return Outcome{}, fmt.Errorf("block public access: %w", err)
	}
	if _, err := c.S3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(name),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256},
		}}},
	}); err != nil {
		return Outcome{}, fmt.Errorf("set encryption: %w", err)
	}
	b.Record(out, name, region)
	return Outcome{Created: created, ID: name}, nil
}

// ensureBucket creates the bucket in c's region unless it exists, with ownership set
// when it is not empty, and reports whether this call created it. A bucket of that
// name in another region is an error that says so: S3 answers HeadBucket there with
// 301 and the bucket's region (moto 5.2 with 200 and the same header).
func ensureBucket(ctx context.Context, c *Clients, name string, ownership s3types.ObjectOwnership) (created bool, err error) {
	head, err := c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)})
	var nf *s3types.NotFound
	switch {
	case errors.As(err, &nf) || httpStatus(err) == http.StatusNotFound:
	case httpStatus(err) == http.StatusMovedPermanently:
		return false, wrongRegion(name, bucketRegionHeader(err), c.Region)
	case err != nil:
		return false, fmt.Errorf("head bucket (a bucket of that name may belong to another account; choose another --prefix): %w", err)
	case aws.ToString(head.BucketRegion) != "" && aws.ToString(head.BucketRegion) != c.Region:
		return false, wrongRegion(name, aws.ToString(head.BucketRegion), c.Region)
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

func wrongRegion(name, found, want string) error {
	if found == "" {
		found = "another region"
	}
	return fmt.Errorf("bucket %s exists in %s, but this run provisions %s: bucket names are global; this tool names each region's buckets "+
		"<prefix><role>-<account>-<region>, so a bucket of this name was made by hand or by an older version: delete it or choose another --prefix", name, found, want)
}

// bucketRegionHeader is the x-amz-bucket-region header of an S3 error response.
func bucketRegionHeader(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
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
	// Description says whose buckets it reads; Record stores its id (both MyBlog's
	// when nil or empty).
	Description string
	Record      func(out *stack.Resources, id string)
}

// record stores id as Record says, or as MyBlog's.
func (o OriginAccessControl) record(out *stack.Resources, id string) {
	if o.Record == nil {
		out.BlogOACID = id
		return
	}
	o.Record(out, id)
}

var _ Resource = OriginAccessControl{}

// Kind implements Resource.
func (OriginAccessControl) Kind() string { return "cloudfront origin access control" }

// Name implements Resource.
func (o OriginAccessControl) Name() string { return o.OACName }

// find returns the id of the OAC named OACName, "" when there is none.
func (o OriginAccessControl) find(ctx context.Context, c *Clients) (string, error) {
	var marker *string
	for {
		page, err := c.CloudFront.ListOriginAccessControls(ctx, &cloudfront.ListOriginAccessControlsInput{Marker: marker})
		if err != nil {
			return "", fmt.Errorf("list origin access controls: %w", err)
		}
		if page.OriginAccessControlList == nil {
			return "", nil
		}
		for _, it := range page.OriginAccessControlList.Items {
			if aws.ToString(it.Name) == o.OACName {
				return aws.ToString(it.Id), nil
			}
		}
		if page.OriginAccessControlList.NextMarker == nil || !aws.ToBool(page.OriginAccessControlList.IsTruncated) {
			return "", nil
		}
		marker = page.OriginAccessControlList.NextMarker
	}
}

// Ensure implements Resource.
func (o OriginAccessControl) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	id, err := o.find(ctx, c)
	if err != nil {
		return Outcome{}, err
	}
	if id != "" {
		o.record(out, id)
		return Outcome{ID: id}, nil
	}
	res, err := c.CloudFront.CreateOriginAccessControl(ctx, &cloudfront.CreateOriginAccessControlInput{
		OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
			Name:                          aws.String(o.OACName),
			Description:                   aws.String(cmp.Or(o.Description, "MyBlog: CloudFront reads the site and media buckets")),
			OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
			SigningBehavior:               cftypes.OriginAccessControlSigningBehaviorsAlways,
			SigningProtocol:               cftypes.OriginAccessControlSigningProtocolsSigv4,
		},
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("create origin access control: %w", err)
	}
	o.record(out, aws.ToString(res.OriginAccessControl.Id))
	return Outcome{Created: true, ID: aws.ToString(res.OriginAccessControl.Id)}, nil
}

// SiteBucketPolicy lets the blog's distribution, and nothing else, read this region's
// site and media buckets. It runs after Distribution, whose ARN the condition names.
type SiteBucketPolicy struct{}

var _ Resource = SiteBucketPolicy{}

// Kind implements Resource.
func (SiteBucketPolicy) Kind() string { return "s3 bucket policy" }

// Name implements Resource.
func (SiteBucketPolicy) Name() string { return "myblog buckets: read by the distribution" }

// Ensure implements Resource. The policy is put on every run (PutBucketPolicy is
// idempotent), so drift is repaired. The site bucket of another (home) region is left
// to that region's run.
func (p SiteBucketPolicy) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	buckets := []string{out.MediaBucket}
	if out.SiteBucket != "" && out.SiteBucketRegion == c.Region {
		buckets = append(buckets, out.SiteBucket)
	}
	for _, bucket := range buckets {
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

// MediaBucketCORS lets the admin page, served by the distribution under its own
// domain and every alias (and any extra origins), PUT uploads straight to this
// region's media bucket through presigned URLs. It runs after Distribution, whose
// domain it names, and is put on every run.
type MediaBucketCORS struct {
	Origins []string
}

var _ Resource = MediaBucketCORS{}

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
