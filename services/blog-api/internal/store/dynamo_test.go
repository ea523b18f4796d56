package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/markdown"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// newStore provisions the blog tables in region (with the provisioner's own
// definitions) and returns a store over them.
func newStore(t *testing.T, ep, region, prefix string) (*Store, *dynamodb.Client) {
	t.Helper()
	cfg := mototest.AWSConfig(t, ep)
	cfg.Region = region
	c := provision.NewClients(cfg)
	var tables []provision.Resource
	for _, r := range provision.BlogResources(prefix, provision.BlogOptions{}) {
		if _, ok := r.(provision.GlobalTable); ok {
			tables = append(tables, r)
		}
	}
	out, err := provision.Ensure(context.Background(), c, tables, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(c.DynamoDB, out.PostsTable, out.SubscribersTable), c.DynamoDB
}

func TestStoreAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	store, db := newStore(t, ep, "us-east-1", mototest.Name("blogstore")+"-")
	svc := blog.NewService(store, markdown.New())

	t.Run("posts newest first, paged, slugs unique", func(t *testing.T) {
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for i := range 5 {
			svc.Now = func() time.Time { return base.Add(time.Duration(i) * time.Second) }
			if _, err := svc.CreatePost(ctx, blog.Draft{Title: fmt.Sprintf("Post %d", i), Body: "b"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.CreatePost(ctx, blog.Draft{Title: "Post 3", Body: "dup"}); apperr.CodeOf(err) != apperr.Conflict {
			t.Errorf("duplicate slug: %v, want conflict", err)
		}
		var got []string
		cursor := ""
		for range 5 {
			page, err := store.ListPosts(ctx, 2, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Items {
				got = append(got, p.Slug)
			}
			if cursor = page.Cursor; cursor == "" {
				break
			}
		}
		if diff := cmp.Diff([]string{"post-4", "post-3", "post-2", "post-1", "post-0"}, got); diff != "" {
			t.Errorf("slugs (-want +got):\n%s", diff)
		}
		if _, err := store.GetPost(ctx, "nope"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("unknown slug: %v", err)
		}
	})

	t.Run("a post over DynamoDB's item limit is 413 naming the limit", func(t *testing.T) {
		// 64 KB of Markdown nesting block quotes renders to over 800 KB of HTML.
		huge := strings.Repeat("> ", 32000)
		_, err := svc.CreatePost(ctx, blog.Draft{Title: "Nested quotes", Body: huge})
		e := apperr.As(err)
		if e == nil || e.Code != apperr.TooLarge || !strings.Contains(e.Message, "400 KB") {
			t.Fatalf("create: %v; want payload_too_large naming the 400 KB limit", err)
		}
		if _, err := svc.CreatePost(ctx, blog.Draft{Title: "Nested quotes", Body: "short"}); err != nil {
			t.Fatalf("a short post with that title: %v", err)
		}
		_, err = svc.ReplacePost(ctx, "nested-quotes", blog.Draft{Title: "Nested quotes", Body: huge})
		if apperr.CodeOf(err) != apperr.TooLarge {
			t.Errorf("replace: %v; want payload_too_large", err)
		}
	})

	t.Run("a flood of concurrent subscribes makes one pending record of this region", func(t *testing.T) {
		svc.Limiter = NewLimiter(db, limitsTable(t, ep), nil)
		svc.Rules.Region, svc.Rules.MailboxLimit = "us-east-1", 0
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				email := "Flood@Example.com"
				if i%2 == 1 {
					email = " flood@example.COM"
				}
				if err := svc.Subscribe(ctx, email, ""); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(store.subscribers), KeyConditionExpression: aws.String("email = :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: "flood@example.com"}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.Count != 1 {
			t.Fatalf("records for the address = %d, want 1", out.Count)
		}
		it := out.Items[0]
		if fmt.Sprint(it["status"]) != fmt.Sprint(&types.AttributeValueMemberS{Value: "pending"}) ||
			fmt.Sprint(it["region"]) != fmt.Sprint(&types.AttributeValueMemberS{Value: "us-east-1"}) || it["expiresAt"] == nil {
			t.Errorf("record = %v; want pending, region us-east-1, with expiresAt", it)
		}
	})

	t.Run("confirm: pending to confirmed once, region kept; expired and absent are not pending", func(t *testing.T) {
		now := time.Now().UTC()
		pending := func(email, region string, expires time.Time) {
			if ok, err := store.RequestSubscription(ctx, blog.Subscriber{Email: email, Region: region, SubscribedAt: now, ExpiresAt: expires}); err != nil || !ok {
				t.Fatalf("request %s: %v, %v", email, ok, err)
			}
		}
		pending("cleo@example.com", "eu-west-1", now.Add(time.Hour))
		for i, want := range []blog.Confirmation{blog.Confirmed, blog.AlreadyConfirmed} {
			if got, err := store.ConfirmSubscription(ctx, "cleo@example.com", now); err != nil || got != want {
				t.Errorf("confirm #%d = %v, %v; want %v", i+1, got, err, want)
			}
		}
		item, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(store.subscribers), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"email": &types.AttributeValueMemberS{Value: "cleo@example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := item.Item["region"].(*types.AttributeValueMemberS); r == nil || r.Value != "eu-west-1" || item.Item["expiresAt"] != nil || item.Item["confirmedAt"] == nil {
			t.Errorf("confirmed item = %v; want region eu-west-1 kept, expiresAt removed, confirmedAt set", item.Item)
		}
		// A confirmed subscriber is not made pending again by a new request.
		if ok, err := store.RequestSubscription(ctx, blog.Subscriber{Email: "cleo@example.com", Region: "us-east-1", SubscribedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil || ok {
			t.Errorf("request for a confirmed address = %v, %v; want nothing written", ok, err)
		}
		pending("dan@example.com", "us-east-1", now.Add(-time.Second)) // expired, not yet removed by TTL
		if got, err := store.ConfirmSubscription(ctx, "dan@example.com", now); err != nil || got != blog.NotPending {
			t.Errorf("confirm an expired pending = %v, %v; want NotPending", got, err)
		}
		pending("dan@example.com", "us-east-1", now.Add(time.Hour)) // a new request replaces it
		if got, err := store.ConfirmSubscription(ctx, "dan@example.com", now); err != nil || got != blog.Confirmed {
			t.Errorf("confirm after a new request = %v, %v; want Confirmed", got, err)
		}
		if got, err := store.ConfirmSubscription(ctx, "nobody@example.com", now); err != nil || got != blog.NotPending {
			t.Errorf("confirm an absent address = %v, %v; want NotPending", got, err)
		}
	})

	t.Run("limiter: a fixed window per key", func(t *testing.T) {
		at := time.Date(2026, 5, 1, 10, 3, 0, 0, time.UTC)
		l := NewLimiter(db, limitsTable(t, ep), func() time.Time { return at })
		for i := range 3 {
			if ok, _, err := l.Take(ctx, "client#192.0.2.1", 3, 10*time.Minute); err != nil || !ok {
				t.Fatalf("take %d = %v, %v", i+1, ok, err)
			}
		}
		ok, wait, err := l.Take(ctx, "client#192.0.2.1", 3, 10*time.Minute)
		if err != nil || ok || wait != 7*time.Minute {
			t.Errorf("take 4 = %v, %s, %v; want refused for the 7 minutes left of the window", ok, wait, err)
		}
		if ok, _, err := l.Take(ctx, "client#192.0.2.2", 3, 10*time.Minute); err != nil || !ok {
			t.Errorf("another key = %v, %v", ok, err)
		}
		at = at.Add(7 * time.Minute)
		if ok, _, err := l.Take(ctx, "client#192.0.2.1", 3, 10*time.Minute); err != nil || !ok {
			t.Errorf("the next window = %v, %v", ok, err)
		}
	})

	t.Run("photo record as the thumbnailer will update it", func(t *testing.T) {
		p, err := svc.CreatePhoto(ctx, "image/png", "a.png")
		if err != nil {
			t.Fatal(err)
		}
		// The update the README promises the thumbnailer.
		_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(store.posts),
			Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "PHOTO#" + p.ID}, "sk": &types.AttributeValueMemberS{Value: "PHOTO"},
			},
			UpdateExpression:         aws.String("SET #s = :ready, thumbnailKey = :k, updatedAt = :now REMOVE reason"),
			ConditionExpression:      aws.String("attribute_exists(pk) AND #s = :pending"),
			ExpressionAttributeNames: map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":ready": &types.AttributeValueMemberS{Value: "ready"}, ":pending": &types.AttributeValueMemberS{Value: "pending"},
				":k": &types.AttributeValueMemberS{Value: "thumbnails/" + p.ID + ".jpg"}, ":now": &types.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := store.GetPhoto(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != blog.PhotoReady || got.ThumbnailKey != "thumbnails/"+p.ID+".jpg" || got.OriginalKey != "uploads/"+p.ID+".png" {
			t.Errorf("photo after thumbnailer = %+v", got)
		}
		page, err := store.ListPhotos(ctx, 10, "")
		if err != nil || len(page.Items) != 1 {
			t.Errorf("ListPhotos = %+v, %v", page, err)
		}
	})
}

// TestCreateRetried: the SDK retries a put whose answer was lost (a timeout, a reset
// connection under load); the retry of a create that had succeeded finds its own item
// and is a success, not "exists" (seen as a 409 on a fresh photo id under load); another
// item under the same key still is a conflict.
func TestCreateRetried(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	store, _ := newStore(t, ep, "us-east-1", mototest.Name("blogretry")+"-")
	now := time.Now().UTC().Truncate(time.Millisecond)
	photo := blog.Photo{ID: "01RETRIEDCREATE" + strings.ToUpper(mototest.Name("x")), Status: "pending", ContentType: "image/png",
		Filename: "a.png", OriginalKey: "uploads/a.png", CreatedAt: now, UpdatedAt: now}
	if err := store.CreatePhoto(ctx, photo); err != nil {
		t.Fatal(err)
	}
	if err := store.CreatePhoto(ctx, photo); err != nil {
		t.Errorf("the same photo again (a retry) = %v, want nil", err)
	}
	other := photo
	other.Filename = "b.png"
	if err := store.CreatePhoto(ctx, other); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("another photo under the same id = %v, want a conflict", err)
	}
	post := blog.Post{Slug: mototest.Name("retried-post"), Title: "T", Body: "b", HTML: "<p>b</p>", Tags: []string{"z", "a", "m"},
		PublishedAt: now, UpdatedAt: now, Version: 1}
	if err := store.CreatePost(ctx, post); err != nil {
		t.Fatal(err)
	}
	if err := store.CreatePost(ctx, post); err != nil {
		t.Errorf("the same post again (a retry) = %v, want nil", err)
	}
	post.Title = "Another post, same slug"
	if err := store.CreatePost(ctx, post); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("another post under the same slug = %v, want a conflict", err)
	}
}

// limitsTable provisions a subscribe-limits table with the provisioner's definition.
func limitsTable(t *testing.T, ep string) string {
	t.Helper()
	c := provision.NewClients(mototest.AWSConfig(t, ep))
	prefix := mototest.Name("lim") + "-"
	var out stack.Resources
	for _, r := range provision.EventResources(prefix, provision.SenderOptions{}) {
		if r.Name() == prefix+"subscribe-limits" {
			if _, err := r.Ensure(context.Background(), c, &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out.SubscribeLimitsTable == "" {
		t.Fatal("the provisioner defines no subscribe-limits table")
	}
	return out.SubscribeLimitsTable
}

// TestRegionLocality: two stores configured for two regions use their own region's
// table. moto keeps regions apart and has no replication, so a write in one region is
// invisible in the other; in AWS the Global Table replicates it within seconds.
func TestRegionLocality(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	prefix := mototest.Name("blogregion") + "-"
	east, _ := newStore(t, ep, "us-east-1", prefix)
	west, _ := newStore(t, ep, "eu-west-1", prefix)
	r := markdown.New()
	if _, err := blog.NewService(east, r).CreatePost(ctx, blog.Draft{Title: "From the east", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := blog.NewService(west, r).CreatePost(ctx, blog.Draft{Title: "From the west", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store *Store
		want  []string
	}{{"us-east-1", east, []string{"from-the-east"}}, {"eu-west-1", west, []string{"from-the-west"}}} {
		page, err := tc.store.ListPosts(ctx, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range page.Items {
			got = append(got, p.Slug)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s lists (-want +got):\n%s", tc.name, diff)
		}
	}
}
