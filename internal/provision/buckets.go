package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

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

// SiteBucketPolicy lets the blog's distribution, and nothing else, read this region's
// site and media buckets. It runs after Distribution, whose ARN the condition names.
type SiteBucketPolicy struct{}

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

var _ Resource = SiteBucketPolicy{}

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
