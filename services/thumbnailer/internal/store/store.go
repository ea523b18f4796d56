// Package store holds the thumbnailer's AWS adapters: the media bucket (S3) and the
// photo items of the blog's posts table (DynamoDB), whose key, attributes and statuses
// come from their contract, internal/contract/photoitem.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/contract"
	"github.com/serverless-architect/serverless-architect/internal/contract/photoitem"
	"github.com/serverless-architect/serverless-architect/services/thumbnailer/internal/photo"
)

// S3 is the media bucket.
type S3 struct {
	Client *s3.Client
}

var _ photo.Objects = S3{}

// Probe implements photo.Objects with a ranged GET.
func (s S3) Probe(ctx context.Context, bucket, key string, n int64) ([]byte, int64, string, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=0-" + strconv.FormatInt(n-1, 10)),
	})
	if err != nil {
		switch apiCode(err) {
		case "NoSuchKey", "NotFound":
			return nil, 0, "", photo.ErrObjectGone
		case "InvalidRange": // an empty object
			return nil, 0, "", nil
		}
		return nil, 0, "", fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, n))
	if err != nil {
		return nil, 0, "", fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	size := int64(len(head))
	if cr := aws.ToString(out.ContentRange); cr != "" {
		// bytes 0-262143/12345678
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if total, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				size = total
			}
		}
	}
	return head, size, aws.ToString(out.ETag), nil
}

// Get implements photo.Objects.
func (s S3) Get(ctx context.Context, bucket, key, etag string, size int64) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	out, err := s.Client.GetObject(ctx, in)
	if err != nil {
		switch apiCode(err) {
		case "NoSuchKey", "NotFound":
			return nil, photo.ErrObjectGone
		case "PreconditionFailed":
			return nil, photo.ErrObjectChanged
		}
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	// Exactly size bytes, allocated once: the memory reserved for this job.
	b := make([]byte, size)
	if _, err := io.ReadFull(out.Body, b); err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	if n, _ := out.Body.Read(make([]byte, 1)); n > 0 {
		return nil, photo.ErrObjectChanged
	}
	return b, nil
}

// Create implements photo.Objects with a conditional PutObject (If-None-Match: *,
// which S3 and moto honour): 412 PreconditionFailed, or 409 ConditionalRequestConflict
// while another such write is in flight, mean the object is there.
func (s S3) Create(ctx context.Context, bucket, key string, body []byte, contentType, cacheControl string) error {
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(contentType), CacheControl: aws.String(cacheControl),
		ContentLength: aws.Int64(int64(len(body))), IfNoneMatch: aws.String("*"),
	})
	switch code := apiCode(err); {
	case err == nil:
		return nil
	case code == "PreconditionFailed", code == "ConditionalRequestConflict":
		return photo.ErrExists
	default:
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Photos are the photo items of the posts table.
type Photos struct {
	Client *dynamodb.Client
	Table  string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ photo.Photos = Photos{}

// Status implements photo.Photos with a consistent read.
func (p Photos) Status(ctx context.Context, id string) (string, error) {
	out, err := p.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(p.Table), Key: key(id), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#s"), ExpressionAttributeNames: map[string]string{"#s": photoitem.AttrStatus},
	})
	if err != nil {
		return "", fmt.Errorf("get photo %s: %w", id, err)
	}
	if out.Item == nil {
		return "", photo.ErrNoPhoto
	}
	s, _ := out.Item[photoitem.AttrStatus].(*ddbtypes.AttributeValueMemberS)
	if s == nil {
		return "", fmt.Errorf("photo %s has no status", id)
	}
	return s.Value, nil
}

// MarkReady implements photo.Photos.
func (p Photos) MarkReady(ctx context.Context, id string, t photo.Thumbnails) (bool, error) {
	values := map[string]ddbtypes.AttributeValue{
		":ready": &ddbtypes.AttributeValueMemberS{Value: photo.Ready},
		":k":     &ddbtypes.AttributeValueMemberS{Value: t.JPEG},
	}
	names := map[string]string{"#k": photoitem.AttrThumbnailKey, "#r": photoitem.AttrReason}
	expr := "SET #s = :ready, #k = :k, #u = :now REMOVE #r"
	if t.WebP != "" {
		values[":w"] = &ddbtypes.AttributeValueMemberS{Value: t.WebP}
		names["#w"] = photoitem.AttrThumbnailWebPKey
		expr = "SET #s = :ready, #k = :k, #w = :w, #u = :now REMOVE #r"
	}
	return p.update(ctx, id, expr, names, values)
}

// MarkRejected implements photo.Photos.
func (p Photos) MarkRejected(ctx context.Context, id, reason string) (bool, error) {
	return p.finish(ctx, id, photo.Rejected, reason)
}

// MarkFailed implements photo.Photos.
func (p Photos) MarkFailed(ctx context.Context, id, reason string) (bool, error) {
	return p.finish(ctx, id, photo.Failed, reason)
}

func (p Photos) finish(ctx context.Context, id, status, reason string) (bool, error) {
	return p.update(ctx, id, "SET #s = :status, #r = :why, #u = :now", map[string]string{"#r": photoitem.AttrReason}, map[string]ddbtypes.AttributeValue{
		":status": &ddbtypes.AttributeValueMemberS{Value: status},
		":why":    &ddbtypes.AttributeValueMemberS{Value: reason},
	})
}

func key(id string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		photoitem.AttrPK: &ddbtypes.AttributeValueMemberS{Value: photoitem.PK(id)},
		photoitem.AttrSK: &ddbtypes.AttributeValueMemberS{Value: photoitem.SortKey},
	}
}

// update applies expr only to a pending photo and reports whether it did. A failed
// condition is a duplicate delivery (the photo is already done: false, nil) or an
// unregistered upload (ErrNoPhoto). names are expr's attribute names besides #s
// (status), #u (updatedAt) and #pk.
func (p Photos) update(ctx context.Context, id, expr string, names map[string]string, values map[string]ddbtypes.AttributeValue) (bool, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	values[":pending"] = &ddbtypes.AttributeValueMemberS{Value: photo.Pending}
	values[":now"] = &ddbtypes.AttributeValueMemberS{Value: contract.FormatTime(now())}
	names["#s"], names["#u"], names["#pk"] = photoitem.AttrStatus, photoitem.AttrUpdatedAt, photoitem.AttrPK
	_, err := p.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(p.Table),
		Key:                       key(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #s = :pending"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		if err != nil {
			return false, fmt.Errorf("update photo %s: %w", id, err)
		}
		return true, nil
	}
	got, err := p.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(p.Table), Key: key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("get photo %s: %w", id, err)
	}
	if got.Item == nil {
		return false, photo.ErrNoPhoto
	}
	return false, nil
}
