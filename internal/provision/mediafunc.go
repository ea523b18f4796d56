package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// MediaFunctionCode is the CloudFront Function on the /media/* behaviour
// (cdn.MediaFunctionCode: it strips /media before the media bucket is read).
var MediaFunctionCode = cdn.MediaFunctionCode

// MediaFunction is the CloudFront Function that strips /media from media requests:
// created (or its code updated) in the DEVELOPMENT stage, then published to LIVE. The
// distribution associates it with /media/* once it has an ARN. Endpoints without the
// Functions API (moto) get Outcome{Skipped: true}; the local edge runs the function's
// Go twin (cdn.StripMedia) either way.
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
	case c.functionsUnsupported(ctx, err):
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
// moto (moto.go decides) answering a 404 that is not CloudFront's
// NoSuchFunctionExists. The same from AWS fails the run.
func (c *Clients) functionsUnsupported(ctx context.Context, err error) bool {
	var missing *cftypes.NoSuchFunctionExists
	return err != nil && !errors.As(err, &missing) && httpStatus(err) == http.StatusNotFound && c.isMoto(ctx, cloudFrontEndpoint(c))
}
