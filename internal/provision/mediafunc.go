package provision

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// MediaFunctionCode is the CloudFront Function (cloudfront-js-2.0, viewer request)
// on the /media/* behaviour: it strips the /media prefix, so /media/uploads/x.jpg is
// read from the media bucket as uploads/x.jpg. The source is media-function.js; its
// golden copy is testdata/media-function.js, and a test runs it under node when node
// is installed.
//
//go:embed media-function.js
var MediaFunctionCode []byte

// mediaPathPattern is the behaviour the function is attached to.
const mediaPathPattern = "/media/*"

// MediaFunction is the CloudFront Function that strips /media from media requests:
// created (or its code updated) in the DEVELOPMENT stage, then published to LIVE.
// Endpoints without the Functions API (moto) get Outcome{Skipped: true}.
type MediaFunction struct {
	FunctionName string
}

var _ Resource = MediaFunction{}

// Kind implements Resource.
func (MediaFunction) Kind() string { return "cloudfront function" }

// Name implements Resource.
func (f MediaFunction) Name() string { return f.FunctionName }

// Ensure implements Resource.
func (f MediaFunction) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	dev, err := c.CloudFront.GetFunction(ctx, &cloudfront.GetFunctionInput{Name: aws.String(f.FunctionName), Stage: cftypes.FunctionStageDevelopment})
	var missing *cftypes.NoSuchFunctionExists
	var etag string
	created, changed := false, false
	switch {
	case functionsUnsupported(err):
		return Outcome{Skipped: true, ID: "the endpoint has no CloudFront Functions API (moto): /media/* is not rewritten"}, nil
	case errors.As(err, &missing):
		res, err := c.CloudFront.CreateFunction(ctx, &cloudfront.CreateFunctionInput{
			Name:           aws.String(f.FunctionName),
			FunctionCode:   MediaFunctionCode,
			FunctionConfig: f.config(),
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("create function: %w", err)
		}
		etag, created = aws.ToString(res.ETag), true
	case err != nil:
		return Outcome{}, fmt.Errorf("get function: %w", err)
	case !slices.Equal(dev.FunctionCode, MediaFunctionCode):
		res, err := c.CloudFront.UpdateFunction(ctx, &cloudfront.UpdateFunctionInput{
			Name: aws.String(f.FunctionName), IfMatch: dev.ETag, FunctionCode: MediaFunctionCode, FunctionConfig: f.config(),
		})
		if err != nil {
			return Outcome{}, fmt.Errorf("update function code: %w", err)
		}
		etag, changed = aws.ToString(res.ETag), true
	default:
		etag = aws.ToString(dev.ETag)
	}
	live, err := c.CloudFront.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String(f.FunctionName), Stage: cftypes.FunctionStageLive})
	if errors.As(err, &missing) || (err == nil && (created || changed)) {
		if _, err := c.CloudFront.PublishFunction(ctx, &cloudfront.PublishFunctionInput{Name: aws.String(f.FunctionName), IfMatch: aws.String(etag)}); err != nil {
			return Outcome{}, fmt.Errorf("publish function: %w", err)
		}
		changed = true
		live, err = c.CloudFront.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String(f.FunctionName), Stage: cftypes.FunctionStageLive})
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("describe live function: %w", err)
	}
	out.BlogMediaFunctionARN = aws.ToString(live.FunctionSummary.FunctionMetadata.FunctionARN)
	return Outcome{Created: created, Applied: changed && !created, ID: out.BlogMediaFunctionARN}, nil
}

func (f MediaFunction) config() *cftypes.FunctionConfig {
	return &cftypes.FunctionConfig{
		Comment: aws.String("MyBlog: strip /media before reading the media bucket"),
		Runtime: cftypes.FunctionRuntimeCloudfrontJs20,
	}
}

// functionsUnsupported reports whether err says the endpoint lacks the Functions API:
// a 404 that is not CloudFront's NoSuchFunctionExists (moto answers a bare 404).
func functionsUnsupported(err error) bool {
	var missing *cftypes.NoSuchFunctionExists
	var re *awshttp.ResponseError
	return err != nil && !errors.As(err, &missing) && errors.As(err, &re) && re.HTTPStatusCode() == 404
}

// MediaFunctionAssociation attaches the published media function (recorded by
// MediaFunction) to the distribution's /media/* behaviour as a viewer-request
// function, updating a distribution made before it existed. Skipped when there is no
// function (moto).
type MediaFunctionAssociation struct {
	DistName string
}

var _ Resource = MediaFunctionAssociation{}

// Kind implements Resource.
func (MediaFunctionAssociation) Kind() string { return "cloudfront function association" }

// Name implements Resource.
func (a MediaFunctionAssociation) Name() string { return a.DistName + " " + mediaPathPattern }

// Ensure implements Resource.
func (a MediaFunctionAssociation) Ensure(ctx context.Context, c *Clients, out *stack.Resources) (Outcome, error) {
	if out.BlogMediaFunctionARN == "" {
		return Outcome{Skipped: true, ID: "no media function to attach (see the cloudfront function line)"}, nil
	}
	cur, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(out.BlogDistributionID)})
	if err != nil {
		return Outcome{}, fmt.Errorf("get distribution config: %w", err)
	}
	if !AttachMediaFunction(cur.DistributionConfig, out.BlogMediaFunctionARN) {
		return Outcome{}, nil
	}
	if _, err := c.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{
		Id: aws.String(out.BlogDistributionID), IfMatch: cur.ETag, DistributionConfig: cur.DistributionConfig,
	}); err != nil {
		return Outcome{}, fmt.Errorf("attach function to %s: %w", mediaPathPattern, err)
	}
	return Outcome{Applied: true}, nil
}

// AttachMediaFunction sets the /media/* behaviour of dc to run the function arn on
// viewer requests, and reports whether dc changed. Other events' functions are kept.
func AttachMediaFunction(dc *cftypes.DistributionConfig, arn string) bool {
	if dc == nil || dc.CacheBehaviors == nil {
		return false
	}
	for i := range dc.CacheBehaviors.Items {
		b := &dc.CacheBehaviors.Items[i]
		if aws.ToString(b.PathPattern) != mediaPathPattern {
			continue
		}
		var keep []cftypes.FunctionAssociation
		if b.FunctionAssociations != nil {
			for _, fa := range b.FunctionAssociations.Items {
				if fa.EventType == cftypes.EventTypeViewerRequest {
					if aws.ToString(fa.FunctionARN) == arn {
						return false
					}
					continue
				}
				keep = append(keep, fa)
			}
		}
		keep = append(keep, cftypes.FunctionAssociation{EventType: cftypes.EventTypeViewerRequest, FunctionARN: aws.String(arn)})
		b.FunctionAssociations = &cftypes.FunctionAssociations{Quantity: aws.Int32(int32(len(keep))), Items: keep}
		return true
	}
	return false
}
