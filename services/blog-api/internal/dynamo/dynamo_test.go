package dynamo

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

	t.Run("a flood of duplicate subscribes makes one record", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				email := "Flood@Example.com"
				if i%2 == 1 {
					email = " flood@example.COM"
				}
				ok, err := svc.Subscribe(ctx, email)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					created++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if created != 1 {
			t.Errorf("%d subscribes reported a new record, want 1", created)
		}
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(store.subscribers), KeyConditionExpression: aws.String("email = :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberS{Value: "flood@example.com"}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.Count != 1 {
			t.Errorf("records for the address = %d, want 1", out.Count)
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
