package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Presigner presigns PUTs into one bucket.
type S3Presigner struct {
	Client *s3.PresignClient
	Bucket string
	TTL    time.Duration
}

// PresignUpload implements Presigner. The signature covers the content type, so the
// upload must send the same Content-Type.
func (p *S3Presigner) PresignUpload(ctx context.Context, key, contentType string) (string, error) {
	req, err := p.Client.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(p.Bucket), Key: aws.String(key), ContentType: aws.String(contentType),
	}, s3.WithPresignExpires(p.TTL))
	if err != nil {
		return "", fmt.Errorf("presign put %s: %w", key, err)
	}
	return req.URL, nil
}
