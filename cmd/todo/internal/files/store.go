package files

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/filekey"
)

// Transfer defaults: parts of 8 MiB, 8 in flight.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 8
)

// CleanKey checks key by the rules todo-api applies (filekey.Clean) before any network
// call and returns it as todo-api would store it (Unicode NFC), so that a name means one
// object whether the file goes through presigned URLs or straight to S3. IAM (in AWS)
// and todo-api are what enforce the folder; this gives the same answer, early.
func CleanKey(key string) (string, error) {
	k, err := filekey.Clean(key)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", key, err)
	}
	return k, nil
}

// CleanPrefix is CleanKey for a listing prefix: it may be empty or end in "/".
func CleanPrefix(prefix string) (string, error) {
	p, err := filekey.CleanPrefix(prefix)
	if err != nil {
		return "", fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return p, nil
}

// Store works on the user's folder with S3 directly, with temporary credentials.
type Store struct {
	S3     *s3.Client
	Bucket string
	// Folder is the user's folder, "users/<id>/".
	Folder string
	// PartSize and Concurrency tune multipart transfers (defaults above).
	PartSize    int64
	Concurrency int
}

// NewS3 returns an S3 client using creds; endpoint overrides S3's (moto), and pathStyle
// puts the bucket in the path.
func NewS3(cfg aws.Config, creds aws.CredentialsProvider, endpoint string, pathStyle bool) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Credentials = aws.NewCredentialsCache(creds, func(c *aws.CredentialsCacheOptions) { c.ExpiryWindow = RefreshMargin })
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

func (s *Store) transfers() *tm.Client {
	return tm.New(s.S3, func(o *tm.Options) {
		o.PartSizeBytes = s.PartSize
		if o.PartSizeBytes == 0 {
			o.PartSizeBytes = DefaultPartSize
		}
		o.MultipartUploadThreshold = o.PartSizeBytes
		o.Concurrency = s.Concurrency
		if o.Concurrency == 0 {
			o.Concurrency = DefaultConcurrency
		}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.DisableChecksumValidation = true
	})
}

// fullKey is the whole S3 key of key in the folder, after CleanKey.
func (s *Store) fullKey(key string) (string, error) {
	k, err := CleanKey(key)
	if err != nil {
		return "", err
	}
	full, err := filekey.Join(s.Folder, k)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", key, err)
	}
	return full, nil
}

// Put uploads body to key (multipart with concurrent parts above one part's size).
func (s *Store) Put(ctx context.Context, key string, body io.Reader, contentType string) error {
	full, err := s.fullKey(key)
	if err != nil {
		return err
	}
	in := &tm.UploadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(full), Body: body}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	if _, err := s.transfers().UploadObject(ctx, in); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// Get downloads key into w (parts fetched concurrently) and returns its size.
func (s *Store) Get(ctx context.Context, key string, w io.WriterAt) (int64, error) {
	full, err := s.fullKey(key)
	if err != nil {
		return 0, err
	}
	out, err := s.transfers().DownloadObject(ctx, &tm.DownloadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(full), WriterAt: w})
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// List lists the folder's objects under prefix, keys relative to the folder.
func (s *Store) List(ctx context.Context, prefix string) ([]Item, error) {
	p, err := CleanPrefix(prefix)
	if err != nil {
		return nil, err
	}
	full, err := filekey.Join(s.Folder, p)
	if err != nil {
		return nil, fmt.Errorf("prefix %q: %w", prefix, err)
	}
	var items []Item
	pages := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(full)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			items = append(items, Item{Key: strings.TrimPrefix(aws.ToString(o.Key), s.Folder), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
		}
	}
	return items, nil
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	full, err := s.fullKey(key)
	if err != nil {
		return err
	}
	if _, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(full)}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// PutPresigned uploads size bytes of body with a presigned upload, sending exactly the
// signed headers.
func PutPresigned(ctx context.Context, hc *http.Client, u SignedUpload, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, u.Method, u.URL, body)
	if err != nil {
		return fmt.Errorf("presigned upload: %w", err)
	}
	for k, v := range u.Headers {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		req.Header.Set(k, v)
	}
	req.ContentLength = size
	if n, ok := u.Headers["Content-Length"]; ok && n != strconv.FormatInt(size, 10) {
		return fmt.Errorf("presigned upload: signed for %s bytes, have %d", n, size)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("presigned upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("presigned upload: S3 answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// GetPresigned downloads a presigned GET into w and returns the bytes written.
func GetPresigned(ctx context.Context, hc *http.Client, d SignedDownload, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return 0, fmt.Errorf("presigned download: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("presigned download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("presigned download: S3 answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("presigned download: %w", err)
	}
	return n, nil
}
