package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/photo"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func newS3(t *testing.T) (S3, string) {
	t.Helper()
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := mototest.Name("thumbs")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return S3{Client: c}, bucket
}

func put(t *testing.T, s S3, bucket, key string, body []byte) {
	t.Helper()
	if _, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// TestS3AgainstMoto: the ranged probe (head, whole size, ETag), the conditional read
// (If-Match on GetObject, which moto honours), and the thumbnail's write.
func TestS3AgainstMoto(t *testing.T) {
	s, bucket := newS3(t)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	put(t, s, bucket, "uploads/big.jpg", big)
	put(t, s, bucket, "uploads/small.jpg", []byte("tiny"))
	put(t, s, bucket, "uploads/empty.jpg", nil)

	t.Run("probe", func(t *testing.T) {
		for _, tc := range []struct {
			key      string
			n        int64
			wantHead []byte
			wantSize int64
		}{
			{"uploads/big.jpg", 1000, big[:1000], int64(len(big))},
			{"uploads/small.jpg", 1000, []byte("tiny"), 4},
			{"uploads/empty.jpg", 1000, nil, 0},
		} {
			t.Run(tc.key, func(t *testing.T) {
				head, size, etag, err := s.Probe(ctx, bucket, tc.key, tc.n)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(head, tc.wantHead) || size != tc.wantSize {
					t.Errorf("Probe = %d bytes, size %d; want %d bytes, size %d", len(head), size, len(tc.wantHead), tc.wantSize)
				}
				if tc.wantSize > 0 && !strings.HasPrefix(etag, `"`) {
					t.Errorf("ETag %q, want S3's quoted ETag", etag)
				}
			})
		}
		if _, _, _, err := s.Probe(ctx, bucket, "uploads/none.jpg", 100); !errors.Is(err, photo.ErrObjectGone) {
			t.Errorf("probe of a missing key: %v, want ErrObjectGone", err)
		}
	})

	t.Run("conditional get", func(t *testing.T) {
		_, size, etag, err := s.Probe(ctx, bucket, "uploads/big.jpg", 100)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, bucket, "uploads/big.jpg", etag, size)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Get with the current ETag = %d bytes, %v; want the object", len(got), err)
		}
		// The object is replaced after the probe: the read must not mix versions.
		put(t, s, bucket, "uploads/big.jpg", bytes.Repeat([]byte("x"), len(big)))
		if _, err := s.Get(ctx, bucket, "uploads/big.jpg", etag, size); !errors.Is(err, photo.ErrObjectChanged) {
			t.Errorf("Get with a stale ETag: %v, want ErrObjectChanged", err)
		}
		// Larger than the probe said (replaced, no ETag to compare): changed too.
		if _, err := s.Get(ctx, bucket, "uploads/big.jpg", "", size-10); !errors.Is(err, photo.ErrObjectChanged) {
			t.Errorf("Get of an object longer than its size: %v, want ErrObjectChanged", err)
		}
		if _, err := s.Get(ctx, bucket, "uploads/none.jpg", etag, 10); !errors.Is(err, photo.ErrObjectGone) {
			t.Errorf("Get of a missing key: %v, want ErrObjectGone", err)
		}
	})

	t.Run("create", func(t *testing.T) {
		body := []byte("\xff\xd8\xff thumbnail")
		if err := s.Create(ctx, bucket, "thumbnails/a.jpg", body, "image/jpeg", "public, max-age=31536000, immutable"); err != nil {
			t.Fatal(err)
		}
		// A second write (a duplicate delivery) is refused by S3 and changes nothing.
		if err := s.Create(ctx, bucket, "thumbnails/a.jpg", []byte("other"), "image/png", "no-store"); !errors.Is(err, photo.ErrExists) {
			t.Errorf("Create over an existing object: %v, want ErrExists", err)
		}
		out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("thumbnails/a.jpg")})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		var got bytes.Buffer
		_, _ = got.ReadFrom(out.Body)
		if diff := cmp.Diff([]string{string(body), "image/jpeg", "public, max-age=31536000, immutable"},
			[]string{got.String(), aws.ToString(out.ContentType), aws.ToString(out.CacheControl)}); diff != "" {
			t.Errorf("stored thumbnail (-want +got):\n%s", diff)
		}
	})
}

// TestPhotosAgainstMoto: the photo updates blog-api documents, on its posts table
// provisioned by the project's own definition: the status read; pending -> ready,
// rejected or failed once; duplicates change nothing, succeed and say so; an
// unregistered photo is ErrNoPhoto.
func TestPhotosAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	var res stack.Resources
	posts := provision.BlogResources(mototest.Name("thumbs")+"-", provision.BlogOptions{})[0]
	if _, err := posts.Ensure(ctx, provision.NewClients(cfg), &res); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := Photos{Client: db, Table: res.PostsTable, Now: func() time.Time { return clock }}
	pending := func(id string) {
		t.Helper()
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(res.PostsTable), Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "PHOTO#" + id}, "sk": &ddbtypes.AttributeValueMemberS{Value: "PHOTO"},
			"id": &ddbtypes.AttributeValueMemberS{Value: id}, "status": &ddbtypes.AttributeValueMemberS{Value: "pending"},
			"feedPk": &ddbtypes.AttributeValueMemberS{Value: "PHOTOS"}, "feedSk": &ddbtypes.AttributeValueMemberS{Value: id},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(id string) map[string]string {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(res.PostsTable), Key: key(id), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range []string{"status", "thumbnailKey", "thumbnailWebpKey", "reason", "updatedAt"} {
			if v, ok := out.Item[a].(*ddbtypes.AttributeValueMemberS); ok {
				got[a] = v.Value
			}
		}
		return got
	}
	// Times are written in the contract's fixed-width layout (contract.TimeLayout).
	const at = "2026-03-01T12:00:00.000000000Z"

	mark := func(what string, done bool, err error, wantDone bool) {
		t.Helper()
		if err != nil || done != wantDone {
			t.Errorf("%s: %v, %v; want %v, nil", what, done, err, wantDone)
		}
	}
	pending("READY1")
	if st, err := p.Status(ctx, "READY1"); st != "pending" || err != nil {
		t.Errorf("Status = %q, %v; want pending", st, err)
	}
	done, err := p.MarkReady(ctx, "READY1", photo.Thumbnails{JPEG: "thumbnails/READY1.jpg", WebP: "thumbnails/READY1.webp"})
	mark("MarkReady", done, err, true)
	want := map[string]string{"status": "ready", "thumbnailKey": "thumbnails/READY1.jpg", "thumbnailWebpKey": "thumbnails/READY1.webp", "updatedAt": at}
	if diff := cmp.Diff(want, read("READY1")); diff != "" {
		t.Errorf("after MarkReady (-want +got):\n%s", diff)
	}
	if st, err := p.Status(ctx, "READY1"); st != "ready" || err != nil {
		t.Errorf("Status = %q, %v; want ready", st, err)
	}
	// A duplicate delivery, even one that now fails, changes nothing.
	clock = clock.Add(time.Hour)
	done, err = p.MarkFailed(ctx, "READY1", "late duplicate")
	mark("MarkFailed on a ready photo", done, err, false)
	done, err = p.MarkRejected(ctx, "READY1", "late duplicate")
	mark("MarkRejected on a ready photo", done, err, false)
	done, err = p.MarkReady(ctx, "READY1", photo.Thumbnails{JPEG: "thumbnails/other.jpg"})
	mark("MarkReady again", done, err, false)
	if diff := cmp.Diff(want, read("READY1")); diff != "" {
		t.Errorf("after duplicates (-want +got):\n%s", diff)
	}

	pending("FAILED1")
	done, err = p.MarkFailed(ctx, "FAILED1", "the upload no longer exists")
	mark("MarkFailed", done, err, true)
	if diff := cmp.Diff(map[string]string{"status": "failed", "reason": "the upload no longer exists", "updatedAt": "2026-03-01T13:00:00.000000000Z"}, read("FAILED1")); diff != "" {
		t.Errorf("after MarkFailed (-want +got):\n%s", diff)
	}
	pending("REJECTED1")
	done, err = p.MarkRejected(ctx, "REJECTED1", "not an image")
	mark("MarkRejected", done, err, true)
	if diff := cmp.Diff(map[string]string{"status": "rejected", "reason": "not an image", "updatedAt": "2026-03-01T13:00:00.000000000Z"}, read("REJECTED1")); diff != "" {
		t.Errorf("after MarkRejected (-want +got):\n%s", diff)
	}

	for name, f := range map[string]func() error{
		"status": func() error { _, err := p.Status(ctx, "NOBODY"); return err },
		"ready": func() error {
			_, err := p.MarkReady(ctx, "NOBODY", photo.Thumbnails{JPEG: "thumbnails/NOBODY.jpg"})
			return err
		},
		"rejected": func() error { _, err := p.MarkRejected(ctx, "NOBODY", "x"); return err },
		"failed":   func() error { _, err := p.MarkFailed(ctx, "NOBODY", "x"); return err },
	} {
		if err := f(); !errors.Is(err, photo.ErrNoPhoto) {
			t.Errorf("%s on an unregistered photo: %v, want ErrNoPhoto", name, err)
		}
	}
	if out, _ := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(res.PostsTable), Key: key("NOBODY")}); len(out.Item) != 0 {
		t.Errorf("marking an unregistered photo created an item: %v", out.Item)
	}
}
