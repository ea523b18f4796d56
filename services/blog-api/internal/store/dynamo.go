// Package store holds blog-api's AWS adapters, which implement the interfaces the blog
// and api packages declare: Store keeps MyBlog's posts, photos and subscribers in DynamoDB,
// Limiter counts subscribe requests, S3Presigner signs uploads to the media bucket and
// CloudFrontPurger invalidates the CDN. The photo and subscriber items, which other
// services read or write too (the thumbnailer, the welcome mailer), are laid out by
// their contracts, internal/contract/photoitem and internal/contract/subscriberitem
// (docs/events.md).
//
// Posts and photos share the posts table (pk/sk), with a `feed` index (feedPk/feedSk)
// that lists each kind newest first in one Query. Subscribers have their own table keyed
// by the normalised address, whose stream feeds the welcome mailer; the subscribe rate
// limits count in a table of their own (Limiter). Every write that must not clobber is
// conditional; nothing scans.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/contract/photoitem"
	"github.com/serverless-architect/serverless-architect/internal/contract/subscriberitem"
	"github.com/serverless-architect/serverless-architect/internal/ddbitem"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

// Key and index names of the posts table.
const (
	FeedIndex  = "feed"
	postPrefix = "POST#"
	postSK     = "POST"
	postsFeed  = "POSTS"
)

// API is the part of the DynamoDB API the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store is a blog.Store over DynamoDB.
type Store struct {
	db          API
	posts       string
	subscribers string
}

var _ blog.Store = (*Store)(nil)

// New returns a Store over the posts and subscribers tables.
func New(db API, postsTable, subscribersTable string) *Store {
	return &Store{db: db, posts: postsTable, subscribers: subscribersTable}
}

type postItem struct {
	PK          string   `dynamodbav:"pk"`
	SK          string   `dynamodbav:"sk"`
	FeedPK      string   `dynamodbav:"feedPk"`
	FeedSK      string   `dynamodbav:"feedSk"`
	Slug        string   `dynamodbav:"slug"`
	Title       string   `dynamodbav:"title"`
	Body        string   `dynamodbav:"body"`
	HTML        string   `dynamodbav:"html"`
	Tags        []string `dynamodbav:"tags"`
	PublishedAt string   `dynamodbav:"publishedAt"`
	UpdatedAt   string   `dynamodbav:"updatedAt"`
	Version     int64    `dynamodbav:"version"`
}

func postKey(slug string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: postPrefix + slug},
		"sk": &types.AttributeValueMemberS{Value: postSK},
	}
}

func photoKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		photoitem.AttrPK: &types.AttributeValueMemberS{Value: photoitem.PK(id)},
		photoitem.AttrSK: &types.AttributeValueMemberS{Value: photoitem.SortKey},
	}
}

func toPostItem(p blog.Post) postItem {
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	return postItem{
		PK: postPrefix + p.Slug, SK: postSK, FeedPK: postsFeed, FeedSK: blog.PostCursor(p),
		Slug: p.Slug, Title: p.Title, Body: p.Body, HTML: p.HTML, Tags: tags,
		PublishedAt: blog.FormatTime(p.PublishedAt), UpdatedAt: blog.FormatTime(p.UpdatedAt), Version: p.Version,
	}
}

func (it postItem) post() (blog.Post, error) {
	pub, err := time.Parse(blog.TimeLayout, it.PublishedAt)
	if err != nil {
		return blog.Post{}, fmt.Errorf("post %s: publishedAt: %w", it.Slug, err)
	}
	upd, err := time.Parse(blog.TimeLayout, it.UpdatedAt)
	if err != nil {
		return blog.Post{}, fmt.Errorf("post %s: updatedAt: %w", it.Slug, err)
	}
	tags := it.Tags
	if tags == nil {
		tags = []string{}
	}
	return blog.Post{Slug: it.Slug, Title: it.Title, Body: it.Body, HTML: it.HTML, Tags: tags, PublishedAt: pub, UpdatedAt: upd, Version: it.Version}, nil
}

func toPhotoItem(p blog.Photo) photoitem.Item {
	return photoitem.Item{
		PK: photoitem.PK(p.ID), SK: photoitem.SortKey, FeedPK: photoitem.Feed, FeedSK: p.ID,
		ID: p.ID, Status: p.Status, ContentType: p.ContentType, Filename: p.Filename,
		OriginalKey: p.OriginalKey, ThumbnailKey: p.ThumbnailKey, ThumbnailWebPKey: p.ThumbnailWebPKey, Reason: p.Reason,
		CreatedAt: blog.FormatTime(p.CreatedAt), UpdatedAt: blog.FormatTime(p.UpdatedAt),
	}
}

func photoOf(it photoitem.Item) blog.Photo {
	// Times are parsed leniently: items the thumbnailer finished before it wrote
	// contract.TimeLayout have updatedAt in RFC 3339 with trimmed fractions.
	parse := func(s string) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, s)
		return t
	}
	return blog.Photo{
		ID: it.ID, Status: it.Status, ContentType: it.ContentType, Filename: it.Filename,
		OriginalKey: it.OriginalKey, ThumbnailKey: it.ThumbnailKey, ThumbnailWebPKey: it.ThumbnailWebPKey, Reason: it.Reason,
		CreatedAt: parse(it.CreatedAt), UpdatedAt: parse(it.UpdatedAt),
	}
}

// MaxItemBytes is DynamoDB's limit on one item: attribute names and values together.
const MaxItemBytes = 400 << 10

// tooLarge reports DynamoDB's refusal of an item over MaxItemBytes: a ValidationException
// (a client error, which would otherwise be taken for a bug) whose message says so.
func tooLarge(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException" && strings.Contains(api.ErrorMessage(), "Item size")
}

// postTooLarge is the client's error for a post whose item DynamoDB refused for its size.
func postTooLarge(item map[string]types.AttributeValue, err error) error {
	return apperr.Wrap(err, apperr.TooLarge, fmt.Sprintf(
		"the post is too large to store: its Markdown and its rendered HTML come to about %d KB, over DynamoDB's limit of %d KB per item; shorten it",
		ItemBytes(item)>>10, MaxItemBytes>>10))
}

// ItemBytes is about the size DynamoDB counts for an item: the UTF-8 length of every
// attribute name and value (numbers counted as their digits, a little over what
// DynamoDB counts for them).
func ItemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueBytes(v)
	}
	return n
}

func valueBytes(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueBytes(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + ItemBytes(v.Value)
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	default:
		return 1
	}
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// CreatePost implements blog.PostStore with a put conditional on the slug being free.
func (s *Store) CreatePost(ctx context.Context, p blog.Post) error {
	item, err := attributevalue.MarshalMap(toPostItem(p))
	if err != nil {
		return fmt.Errorf("marshal post: %w", err)
	}
	err = ddbitem.PutNew(ctx, s.db, s.posts, item, "pk", "sk")
	if conditionFailed(err) {
		return apperr.New(apperr.Conflict, "a post with slug %q exists", p.Slug)
	}
	if tooLarge(err) {
		return postTooLarge(item, err)
	}
	return awsconf.DependencyError("put post", err)
}

// GetPost implements blog.PostStore. The read is eventually consistent: posts are
// rarely written and every reader sits behind a cache anyway.
func (s *Store) GetPost(ctx context.Context, slug string) (blog.Post, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.posts), Key: postKey(slug)})
	if err != nil {
		return blog.Post{}, awsconf.DependencyError("get post", err)
	}
	if out.Item == nil {
		return blog.Post{}, apperr.New(apperr.NotFound, "no such post")
	}
	var it postItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return blog.Post{}, fmt.Errorf("unmarshal post %s: %w", slug, err)
	}
	return it.post()
}

// ListPosts implements blog.PostStore: one Query on the feed index, newest first.
func (s *Store) ListPosts(ctx context.Context, limit int, cursor string) (blog.PostPage, error) {
	var start map[string]types.AttributeValue
	if cursor != "" {
		_, slug, err := blog.ParsePostCursor(cursor)
		if err != nil {
			return blog.PostPage{}, err
		}
		start = postKey(slug)
		start["feedPk"] = &types.AttributeValueMemberS{Value: postsFeed}
		start["feedSk"] = &types.AttributeValueMemberS{Value: cursor}
	}
	items, more, err := s.feed(ctx, postsFeed, limit, start)
	if err != nil {
		return blog.PostPage{}, err
	}
	var page blog.PostPage
	for _, raw := range items {
		var it postItem
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			return blog.PostPage{}, fmt.Errorf("unmarshal post: %w", err)
		}
		p, err := it.post()
		if err != nil {
			return blog.PostPage{}, err
		}
		page.Items = append(page.Items, p)
	}
	if more {
		page.Cursor = blog.PostCursor(page.Items[len(page.Items)-1])
	}
	return page, nil
}

// feed queries one feed of the feed index, newest first, and reports whether more
// items follow. It asks for limit+1 so the last page carries no useless cursor.
func (s *Store) feed(ctx context.Context, feed string, limit int, start map[string]types.AttributeValue) ([]map[string]types.AttributeValue, bool, error) {
	var items []map[string]types.AttributeValue
	for {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.posts),
			IndexName:                 aws.String(FeedIndex),
			KeyConditionExpression:    aws.String("feedPk = :f"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberS{Value: feed}},
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(int32(limit + 1 - len(items))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, false, awsconf.DependencyError("query "+strings.ToLower(feed), err)
		}
		items = append(items, out.Items...)
		if len(items) > limit {
			return items[:limit], true, nil
		}
		if out.LastEvaluatedKey == nil {
			return items, false, nil
		}
		start = out.LastEvaluatedKey
	}
}

// ReplacePost implements blog.PostStore with a put conditional on the version.
func (s *Store) ReplacePost(ctx context.Context, p blog.Post, prev int64) error {
	item, err := attributevalue.MarshalMap(toPostItem(p))
	if err != nil {
		return fmt.Errorf("marshal post: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.posts), Item: item,
		ConditionExpression:       aws.String("attribute_exists(pk) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(prev)}},
	})
	if conditionFailed(err) {
		return apperr.New(apperr.PreconditionFailed, "the post was changed or deleted meanwhile; read it again")
	}
	if tooLarge(err) {
		return postTooLarge(item, err)
	}
	return awsconf.DependencyError("replace post", err)
}

// DeletePost implements blog.PostStore.
func (s *Store) DeletePost(ctx context.Context, slug string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.posts), Key: postKey(slug),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if conditionFailed(err) {
		return apperr.New(apperr.NotFound, "no such post")
	}
	return awsconf.DependencyError("delete post", err)
}

// RequestSubscription implements blog.SubscriberStore with a put conditional on the
// address being absent or pending: concurrent duplicates make one item, a pending one
// is replaced (each replacement is a stream record, and a new confirmation email), and
// a confirmed subscriber is left alone. (An item of the single opt-in era, without a
// status, counts as confirmed.)
func (s *Store) RequestSubscription(ctx context.Context, sub blog.Subscriber) (bool, error) {
	item, err := attributevalue.MarshalMap(subscriberitem.Item{
		Email: sub.Email, Status: blog.SubscriberPending, Region: sub.Region,
		SubscribedAt: blog.FormatTime(sub.SubscribedAt), ExpiresAt: sub.ExpiresAt.Unix(),
	})
	if err != nil {
		return false, fmt.Errorf("marshal subscriber: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.subscribers), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(email) OR #status = :pending"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": &types.AttributeValueMemberS{Value: blog.SubscriberPending}},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, awsconf.DependencyError("put subscriber", err)
	}
	return true, nil
}

// ConfirmSubscription implements blog.SubscriberStore with an update conditional on
// the subscriber being pending and unexpired (DynamoDB's TTL deletes expired items
// only eventually). The region is not written: the region that took the request acts
// on the confirmation too. When the condition fails a consistent read tells a
// subscriber confirmed before from one with nothing pending.
func (s *Store) ConfirmSubscription(ctx context.Context, email string, now time.Time) (blog.Confirmation, error) {
	key := map[string]types.AttributeValue{"email": &types.AttributeValueMemberS{Value: email}}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.subscribers),
		Key:                      key,
		UpdateExpression:         aws.String("SET #status = :confirmed, confirmedAt = :at REMOVE expiresAt"),
		ConditionExpression:      aws.String("#status = :pending AND expiresAt > :now"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":confirmed": &types.AttributeValueMemberS{Value: blog.SubscriberConfirmed},
			":pending":   &types.AttributeValueMemberS{Value: blog.SubscriberPending},
			":at":        &types.AttributeValueMemberS{Value: blog.FormatTime(now)},
			":now":       &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Unix(), 10)},
		},
	})
	if err == nil {
		return blog.Confirmed, nil
	}
	if !conditionFailed(err) {
		return 0, awsconf.DependencyError("confirm subscriber", err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.subscribers), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, awsconf.DependencyError("get subscriber", err)
	}
	if out.Item == nil {
		return blog.NotPending, nil
	}
	if st, _ := out.Item["status"].(*types.AttributeValueMemberS); st == nil || st.Value != blog.SubscriberPending {
		return blog.AlreadyConfirmed, nil
	}
	return blog.NotPending, nil // pending but expired
}

// RemoveSubscriber implements blog.SubscriberStore.
func (s *Store) RemoveSubscriber(ctx context.Context, email string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.subscribers),
		Key:       map[string]types.AttributeValue{"email": &types.AttributeValueMemberS{Value: email}},
	})
	return awsconf.DependencyError("delete subscriber", err)
}

// CreatePhoto implements blog.PhotoStore.
func (s *Store) CreatePhoto(ctx context.Context, p blog.Photo) error {
	item, err := attributevalue.MarshalMap(toPhotoItem(p))
	if err != nil {
		return fmt.Errorf("marshal photo: %w", err)
	}
	err = ddbitem.PutNew(ctx, s.db, s.posts, item, "pk", "sk")
	if conditionFailed(err) {
		return apperr.New(apperr.Conflict, "photo %s exists", p.ID)
	}
	return awsconf.DependencyError("put photo", err)
}

// GetPhoto implements blog.PhotoStore.
func (s *Store) GetPhoto(ctx context.Context, id string) (blog.Photo, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.posts), Key: photoKey(id)})
	if err != nil {
		return blog.Photo{}, awsconf.DependencyError("get photo", err)
	}
	if out.Item == nil {
		return blog.Photo{}, apperr.New(apperr.NotFound, "no such photo")
	}
	var it photoitem.Item
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return blog.Photo{}, fmt.Errorf("unmarshal photo %s: %w", id, err)
	}
	return photoOf(it), nil
}

// ListPhotos implements blog.PhotoStore.
func (s *Store) ListPhotos(ctx context.Context, limit int, cursor string) (blog.PhotoPage, error) {
	var start map[string]types.AttributeValue
	if cursor != "" {
		if !blog.ValidPhotoID(cursor) {
			return blog.PhotoPage{}, apperr.Field("nextToken", "is invalid; list again from the start")
		}
		start = photoKey(cursor)
		start["feedPk"] = &types.AttributeValueMemberS{Value: photoitem.Feed}
		start["feedSk"] = &types.AttributeValueMemberS{Value: cursor}
	}
	items, more, err := s.feed(ctx, photoitem.Feed, limit, start)
	if err != nil {
		return blog.PhotoPage{}, err
	}
	var page blog.PhotoPage
	for _, raw := range items {
		var it photoitem.Item
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			return blog.PhotoPage{}, fmt.Errorf("unmarshal photo: %w", err)
		}
		page.Items = append(page.Items, photoOf(it))
	}
	if more {
		page.Cursor = page.Items[len(page.Items)-1].ID
	}
	return page, nil
}
