package sitedeploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// S3API is the part of the S3 client a deploy uses.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// CloudFrontAPI is the part of the CloudFront client a deploy uses.
type CloudFrontAPI interface {
	CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, opts ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
}

// Target is where a site is deployed.
type Target struct {
	S3     S3API
	Bucket string
	// CloudFront and DistributionID name the distribution whose cached pages are
	// invalidated; with no DistributionID nothing is invalidated.
	CloudFront     CloudFrontAPI
	DistributionID string
	// Concurrency bounds parallel requests (8).
	Concurrency int
}

// Result says what a deploy did.
type Result struct {
	// Uploaded are the keys written; Unchanged those already in the bucket with the
	// same content and headers.
	Uploaded, Unchanged []string
	// Stale are objects in the bucket that the site no longer has. They are left in
	// place: pages cached before the deploy may still name them.
	Stale []string
	// InvalidationID is the CloudFront invalidation created for the changed pages, ""
	// when no page changed or no distribution is configured.
	InvalidationID string
	// InvalidatedPaths are the paths of that invalidation.
	InvalidatedPaths []string
}

// remote is what the bucket holds for one key.
type remote struct {
	etag string
}

// Deploy uploads the files of site that the bucket does not already hold with the
// same content (MD5 = ETag) and headers, then invalidates the changed pages. Assets are
// uploaded before pages, so a page never names an asset that is not there yet.
func Deploy(ctx context.Context, site *Site, t Target) (Result, error) {
	if t.Concurrency <= 0 {
		t.Concurrency = 8
	}
	have, err := list(ctx, t)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var mu sync.Mutex
	// Two waves: fingerprinted assets, then pages.
	for _, wave := range []bool{true, false} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(t.Concurrency)
		for _, f := range site.Files {
			if f.Fingerprinted != wave {
				continue
			}
			g.Go(func() error {
				same, err := unchanged(gctx, t, f, have)
				if err != nil {
					return err
				}
				if !same {
					if err := put(gctx, t, f); err != nil {
						return err
					}
				}
				mu.Lock()
				defer mu.Unlock()
				if same {
					res.Unchanged = append(res.Unchanged, f.Key)
				} else {
					res.Uploaded = append(res.Uploaded, f.Key)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return Result{}, err
		}
	}
	slices.Sort(res.Uploaded)
	slices.Sort(res.Unchanged)
	keys := map[string]bool{}
	for _, f := range site.Files {
		keys[f.Key] = true
	}
	for k := range have {
		if !keys[k] {
			res.Stale = append(res.Stale, k)
		}
	}
	slices.Sort(res.Stale)

	res.InvalidatedPaths = InvalidationPaths(site, res.Uploaded)
	if t.DistributionID != "" && len(res.InvalidatedPaths) > 0 {
		id, err := invalidate(ctx, t, res.InvalidatedPaths)
		if err != nil {
			return res, err
		}
		res.InvalidationID = id
	}
	return res, nil
}

// list returns the bucket's objects by key.
func list(ctx context.Context, t Target) (map[string]remote, error) {
	have := map[string]remote{}
	p := s3.NewListObjectsV2Paginator(t.S3, &s3.ListObjectsV2Input{Bucket: aws.String(t.Bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s: %w", t.Bucket, err)
		}
		for _, o := range page.Contents {
			have[aws.ToString(o.Key)] = remote{etag: strings.Trim(aws.ToString(o.ETag), `"`)}
		}
	}
	return have, nil
}

// unchanged reports whether the bucket holds f with the same body and headers. The
// listing's ETag settles the body; a HEAD then checks the headers, because a changed
// caching policy alone must be uploaded too.
func unchanged(ctx context.Context, t Target, f File, have map[string]remote) (bool, error) {
	r, ok := have[f.Key]
	if !ok || r.etag != f.MD5() {
		return false, nil
	}
	h, err := t.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(f.Key)})
	if err != nil {
		return false, fmt.Errorf("head s3://%s/%s: %w", t.Bucket, f.Key, err)
	}
	return aws.ToString(h.ContentType) == f.ContentType && aws.ToString(h.CacheControl) == f.CacheControl, nil
}

func put(ctx context.Context, t Target, f File) error {
	_, err := t.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:       aws.String(t.Bucket),
		Key:          aws.String(f.Key),
		Body:         bytes.NewReader(f.Body),
		ContentType:  aws.String(f.ContentType),
		CacheControl: aws.String(f.CacheControl),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", t.Bucket, f.Key, err)
	}
	return nil
}

// InvalidationPaths are the URL paths to invalidate after uploading keys: each
// uploaded page, and for an index.html also its directory ("/" for the root).
// Fingerprinted assets are never invalidated: a changed asset is a new name.
func InvalidationPaths(site *Site, uploaded []string) []string {
	pages := map[string]bool{}
	for _, k := range site.Pages() {
		pages[k] = true
	}
	var paths []string
	for _, k := range uploaded {
		if !pages[k] {
			continue
		}
		paths = append(paths, "/"+k)
		if path.Base(k) == "index.html" {
			dir := path.Dir(k)
			if dir == "." {
				paths = append(paths, "/")
			} else {
				paths = append(paths, "/"+dir+"/")
			}
		}
	}
	slices.Sort(paths)
	return paths
}

// invalidate creates one invalidation of paths. The caller reference is unique per
// call (a deploy is a new request even when the paths repeat).
func invalidate(ctx context.Context, t Target, paths []string) (string, error) {
	if t.CloudFront == nil {
		return "", errors.New("invalidate: no CloudFront client")
	}
	sum := sha256.Sum256([]byte(strings.Join(paths, "\n")))
	ref := "sitedeploy-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + hex.EncodeToString(sum[:4])
	out, err := t.CloudFront.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(t.DistributionID),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		return "", fmt.Errorf("invalidate %d paths of distribution %s: %w", len(paths), t.DistributionID, err)
	}
	return aws.ToString(out.Invalidation.Id), nil
}
