package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// CloudFrontPurger invalidates paths of one CloudFront distribution.
type CloudFrontPurger struct {
	Client         *cloudfront.Client
	DistributionID string
	Timeout        time.Duration
}

// Purge implements Purger with one CreateInvalidation (CloudFront bills invalidation
// paths beyond a monthly allowance; one wildcard path per write keeps that small).
func (p *CloudFrontPurger) Purge(ctx context.Context, paths []string) error {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	_, err := p.Client.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(p.DistributionID),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(fmt.Sprintf("blog-api-%d", time.Now().UnixNano())),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		return fmt.Errorf("invalidate %v on distribution %s: %w", paths, p.DistributionID, err)
	}
	return nil
}
