package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/services/todo-api/internal/files"
)

// The files domain's ports with AWS: presigned S3 URLs and listings of the files bucket
// (Bucket), and temporary credentials from STS AssumeRole on the token-vending role
// (Vendor).

// NewS3 returns the S3 client for the files bucket. pathStyle puts the bucket in the
// path (moto needs it; S3_FORCE_PATH_STYLE). Checksums are computed only when an
// operation requires one, so presigned PUTs carry no checksum of an empty body.
func NewS3(cfg aws.Config, pathStyle bool) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// Bucket presigns and lists objects of one bucket.
type Bucket struct {
	name    string
	api     *s3.Client
	presign *s3.PresignClient
	now     func() time.Time
}

var _ files.Bucket = (*Bucket)(nil)

// NewBucket returns the Bucket named name, used through client.
func NewBucket(client *s3.Client, name string) *Bucket {
	return &Bucket{name: name, api: client, presign: s3.NewPresignClient(client), now: time.Now}
}

// lifetime is how long a URL signed now can be valid: want, or less when the signing
// credentials expire sooner (S3 refuses a URL signed by an expired session, whatever
// its X-Amz-Expires says). The SDK replaces temporary credentials
// awsconf.Options.CredentialsExpiryWindow before they expire, so this only bites when
// want is longer than that window.
func (b *Bucket) lifetime(ctx context.Context, want time.Duration) (time.Duration, time.Time, error) {
	now := b.now()
	creds, err := b.api.Options().Credentials.Retrieve(ctx)
	if err != nil {
		return 0, now, awsconf.DependencyError("credentials to sign with", err)
	}
	if creds.CanExpire {
		if left := creds.Expires.Sub(now).Truncate(time.Second); left < want {
			want = left
		}
	}
	if want < time.Second {
		return 0, now, apperr.New(apperr.Unavailable, "the service's credentials are being renewed; retry shortly")
	}
	return want, now, nil
}

// PresignUpload implements files.Bucket. The PUT URL signs Content-Type and
// Content-Length (S3 refuses the upload with SignatureDoesNotMatch when either
// differs); the POST form's policy pins the key and content type and bounds the size
// with content-length-range (S3 refuses a larger file with EntityTooLarge). Both expire
// after u.Expires, or when the signing credentials do if that is sooner; ExpiresAt
// says which.
func (b *Bucket) PresignUpload(ctx context.Context, u files.Upload) (files.SignedUpload, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.name),
		Key:           aws.String(u.Key),
		ContentType:   aws.String(u.ContentType),
		ContentLength: aws.Int64(u.Size),
	}
	expires, now, err := b.lifetime(ctx, u.Expires)
	if err != nil {
		return files.SignedUpload{}, err
	}
	u.Expires = expires
	put, err := b.presign.PresignPutObject(ctx, in, s3.WithPresignExpires(u.Expires))
	if err != nil {
		return files.SignedUpload{}, fmt.Errorf("presign put %s: %w", u.Key, err)
	}
	if put.SignedHeader.Get("Content-Length") != strconv.FormatInt(u.Size, 10) {
		return files.SignedUpload{}, fmt.Errorf("presign put %s: Content-Length was not signed", u.Key)
	}
	post, err := b.presign.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.name), Key: aws.String(u.Key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = u.Expires
			o.Conditions = []any{
				[]any{"content-length-range", 1, u.MaxBytes},
				[]any{"eq", "$Content-Type", u.ContentType},
			}
		})
	if err != nil {
		return files.SignedUpload{}, fmt.Errorf("presign post %s: %w", u.Key, err)
	}
	fields := make(map[string]string, len(post.Values)+1)
	for k, v := range post.Values {
		fields[k] = v
	}
	fields["Content-Type"] = u.ContentType
	headers := map[string]string{}
	for k, v := range put.SignedHeader {
		if k == "Host" || len(v) == 0 {
			continue
		}
		headers[http.CanonicalHeaderKey(k)] = v[0]
	}
	return files.SignedUpload{
		Method:    put.Method,
		URL:       put.URL,
		Headers:   headers,
		Post:      &files.SignedPost{URL: post.URL, Fields: fields},
		ExpiresAt: now.Add(u.Expires).UTC(),
	}, nil
}

// PresignDownload implements files.Bucket; like an upload, the URL expires no later
// than the signing credentials.
func (b *Bucket) PresignDownload(ctx context.Context, key string, expires time.Duration) (files.SignedDownload, error) {
	expires, now, err := b.lifetime(ctx, expires)
	if err != nil {
		return files.SignedDownload{}, err
	}
	get, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)}, s3.WithPresignExpires(expires))
	if err != nil {
		return files.SignedDownload{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	return files.SignedDownload{Method: get.Method, URL: get.URL, ExpiresAt: now.Add(expires).UTC()}, nil
}

// List implements files.Bucket with one ListObjectsV2 call (limit is at most 1000,
// S3's page).
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, limit int) ([]files.Object, bool, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(prefix), MaxKeys: aws.Int32(int32(min(limit, 1000)))}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	page, err := b.api.ListObjectsV2(ctx, in)
	if err != nil {
		return nil, false, awsconf.DependencyError("list "+prefix, err)
	}
	out := make([]files.Object, 0, len(page.Contents))
	for _, o := range page.Contents {
		out = append(out, files.Object{
			Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
			LastModified: aws.ToTime(o.LastModified), ETag: aws.ToString(o.ETag),
		})
	}
	return out, aws.ToBool(page.IsTruncated), nil
}

// DeleteAll implements files.Bucket: ListObjectsV2 pages of up to 1,000 keys, each
// deleted with one DeleteObjects, then every unfinished multipart upload under prefix
// aborted (their parts are stored and billed too). A key S3 could not delete fails
// the call, naming it; deleting what is already gone is not an error, so a retry
// finishes the job.
func (b *Bucket) DeleteAll(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, fmt.Errorf("delete all: refusing an empty prefix (the whole bucket)")
	}
	deleted := 0
	pages := s3.NewListObjectsV2Paginator(b.api, &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return deleted, awsconf.DependencyError("list "+prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]s3types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, s3types.ObjectIdentifier{Key: o.Key})
		}
		out, err := b.api.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(b.name), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return deleted, awsconf.DependencyError("delete objects under "+prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return deleted, apperr.New(apperr.Unavailable, "S3 could not delete %d of %d objects (first: %s: %s %s); retry",
				len(out.Errors), len(ids), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		deleted += len(ids)
	}
	uploads := s3.NewListMultipartUploadsPaginator(b.api, &s3.ListMultipartUploadsInput{Bucket: aws.String(b.name), Prefix: aws.String(prefix)})
	for uploads.HasMorePages() {
		page, err := uploads.NextPage(ctx)
		if err != nil {
			return deleted, awsconf.DependencyError("list multipart uploads under "+prefix, err)
		}
		for _, u := range page.Uploads {
			_, err := b.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b.name), Key: u.Key, UploadId: u.UploadId})
			var missing *s3types.NoSuchUpload
			if err != nil && !errors.As(err, &missing) {
				return deleted, awsconf.DependencyError("abort multipart upload of "+aws.ToString(u.Key), err)
			}
		}
	}
	return deleted, nil
}

// CallerIdentityAPI is the STS call DescribeSigner makes (it needs no permission).
type CallerIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// DescribeSigner tells whether creds are a role's session, which makes every
// AssumeRole todo-api calls role chaining. Long-term keys (no session token) are not;
// otherwise STS says whose credentials they are, and a role's session has an ARN of the
// form arn:<partition>:sts::<account>:assumed-role/<role>/<session>. When the
// credentials or STS cannot be reached, the answer is a role session (the safe side)
// together with the error, for the log.
func DescribeSigner(ctx context.Context, creds aws.CredentialsProvider, api CallerIdentityAPI) (files.Signer, error) {
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return files.Signer{RoleSession: true}, fmt.Errorf("retrieve credentials: %w", err)
	}
	if c.SessionToken == "" && !c.CanExpire {
		return files.Signer{}, nil
	}
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return files.Signer{RoleSession: true}, fmt.Errorf("sts:GetCallerIdentity: %w", err)
	}
	arn := aws.ToString(out.Arn)
	return files.Signer{RoleSession: strings.Contains(arn, ":assumed-role/"), Identity: arn}, nil
}

// Vendor issues sessions of the token-vending role.
type Vendor struct {
	api     *sts.Client
	roleARN string
}

var _ files.Vendor = (*Vendor)(nil)

// NewVendor returns a Vendor assuming roleARN through client.
func NewVendor(client *sts.Client, roleARN string) *Vendor {
	return &Vendor{api: client, roleARN: roleARN}
}

// Vend implements files.Vendor with sts:AssumeRole, passing the session policy and
// session tags (the role's trust policy must allow sts:TagSession).
func (v *Vendor) Vend(ctx context.Context, r files.SessionRequest) (files.Credentials, error) {
	tags := make([]ststypes.Tag, 0, len(r.Tags))
	for k, val := range r.Tags {
		tags = append(tags, ststypes.Tag{Key: aws.String(k), Value: aws.String(val)})
	}
	out, err := v.api.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(v.roleARN),
		RoleSessionName: aws.String(r.SessionName),
		Policy:          aws.String(r.Policy),
		Tags:            tags,
		DurationSeconds: aws.Int32(int32(r.Duration / time.Second)),
	})
	if err != nil {
		return files.Credentials{}, awsconf.DependencyError("assume the vending role", err)
	}
	c := out.Credentials
	if c == nil {
		return files.Credentials{}, fmt.Errorf("assume the vending role: STS returned no credentials")
	}
	return files.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      aws.ToTime(c.Expiration).UTC(),
	}, nil
}
