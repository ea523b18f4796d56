package sitedeploy

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// NewTarget builds a Target from an SDK configuration: S3 is addressed by path when
// the endpoint is overridden (moto), as everywhere in the project.
func NewTarget(cfg aws.Config, bucket, distributionID string) Target {
	return Target{
		S3:             s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil }),
		Bucket:         bucket,
		CloudFront:     cloudfront.NewFromConfig(cfg),
		DistributionID: distributionID,
	}
}

// Publish builds the site in dir, with config.json made from cfg, and deploys it to t.
func Publish(ctx context.Context, dir string, cfg SiteConfig, t Target) (Result, error) {
	if t.Bucket == "" {
		return Result{}, fmt.Errorf("deploy %s: no site bucket (provision the blog first)", dir)
	}
	conf, err := cfg.JSON()
	if err != nil {
		return Result{}, err
	}
	site, err := Build(os.DirFS(dir), map[string][]byte{ConfigKey: conf})
	if err != nil {
		return Result{}, fmt.Errorf("build %s: %w", dir, err)
	}
	res, err := Deploy(ctx, site, t)
	if err != nil {
		return res, fmt.Errorf("deploy %s to s3://%s: %w", dir, t.Bucket, err)
	}
	return res, nil
}

// Summary is a one-line account of a deploy for people.
func (r Result) Summary(bucket string) string {
	s := fmt.Sprintf("site deployed to s3://%s: %d uploaded, %d unchanged, %d old files kept", bucket, len(r.Uploaded), len(r.Unchanged), len(r.Stale))
	if r.InvalidationID != "" {
		s += fmt.Sprintf("; invalidation %s of %d paths", r.InvalidationID, len(r.InvalidatedPaths))
	}
	return s
}
