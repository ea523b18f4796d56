package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// TestTwoRegions runs MyBlog in two regions on one moto (`sa dev --regions
// us-east-1,eu-west-1`): each region its own blog-api, edge, sources and consumers, the
// global tables kept in step by the local replicator. A subscription made in one
// region and confirmed through the other gets exactly one welcome email in total; a
// post written in one is served by the other's edge once replicated; a photo uploaded
// in one is thumbnailed once, by that region.
func TestTwoRegions(t *testing.T) {
	// A stack of its own: run beside the other tests with stacks of their own, after the
	// ones on the shared stack (go test runs parallel tests once the others are done).
	t.Parallel()
	if !mototest.Enabled() {
		t.Skip("runs the whole local stack in two regions: set SA_INTEGRATION=1 (make test does)")
	}
	s := startStackWith(t, "--regions", "us-east-1,eu-west-1", "--region-port-base", fmt.Sprint(porttest.Block(t, 16)))
	st := s.stack
	if len(st.Regions) != 2 || st.Regions[0].Region != "us-east-1" || st.Regions[1].Region != "eu-west-1" {
		t.Fatalf("stack.json regions = %+v, want us-east-1 then eu-west-1", st.Regions)
	}
	east, west := st.Regions[0], st.Regions[1]
	if east.BlogURL != st.BlogURL || west.BlogURL == east.BlogURL || west.Tables["posts"] != east.Tables["posts"] ||
		west.Tables["subscribers"] != east.Tables["subscribers"] || west.Buckets["media"] == east.Buckets["media"] || west.Services["blog-api"].URL == "" {
		t.Fatalf("regions = %+v; want the first at the stack's blog URL, the tables named alike, a media bucket and services of its own each", st.Regions)
	}
	client := caClient(t, s)
	db := map[string]*dynamodb.Client{}
	for _, r := range st.Regions {
		db[r.Region] = dynamodb.NewFromConfig(regionAWS(t, st, r.Region))
	}

	t.Run("subscribe in one region, confirm through the other: one welcome email", func(t *testing.T) {
		ada := strings.ToLower(mototest.Name("ada")) + "@example.com"
		subscribe(t, client, east.BlogURL, ada)
		got := waitEmails(t, st.AWSEndpoint, 20*time.Second, ada)[ada]
		link := confirmLink(t, got[0], east.BlogURL)
		// The pending subscriber reaches the other region's replica...
		waitFor(t, 10*time.Second, "the pending subscriber replicated to eu-west-1", func() bool {
			return subscriberStatus(t, db["eu-west-1"], west.Tables["subscribers"], ada) == "pending"
		})
		// ...and the reader's confirmation lands there (as CloudFront might route it).
		u, _ := url.Parse(link)
		postConfirm(t, client, west.BlogURL+u.RequestURI())
		got = waitEmailCount(t, st.AWSEndpoint, 20*time.Second, ada, 2)
		if !strings.HasPrefix(got[1].Subject, "Welcome to ") {
			t.Fatalf("second email %q, want the welcome", got[1].Subject)
		}
		waitFor(t, 10*time.Second, "the confirmation replicated to us-east-1", func() bool {
			return subscriberStatus(t, db["us-east-1"], east.Tables["subscribers"], ada) == "confirmed"
		})
		time.Sleep(2 * time.Second) // both mailers have seen both records by now
		if n := len(sentEmails(t, st.AWSEndpoint, ada)[ada]); n != 2 {
			t.Errorf("%d emails to %s in total across both regions, want 2: one confirmation, one welcome", n, ada)
		}
	})

	t.Run("a post written in one region is served by the other's edge", func(t *testing.T) {
		token := adminToken(t, st)
		slug := fmt.Sprintf("from-the-east-%d", time.Now().UnixNano())
		if code, _, body := call(t, client, "POST", east.Services["blog-api"].URL+"/v1/posts", token,
			map[string]any{"slug": slug, "title": "Written in us-east-1", "body": "Replicated *everywhere*."}, nil); code != http.StatusCreated {
			t.Fatalf("create in us-east-1: %d %s", code, body)
		}
		key := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "POST#" + slug}, "sk": &ddbtypes.AttributeValueMemberS{Value: "POST"}}
		waitFor(t, 10*time.Second, "the post replicated to eu-west-1", func() bool {
			out, err := db["eu-west-1"].GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(west.Tables["posts"]), Key: key, ConsistentRead: aws.Bool(true)})
			return err == nil && out.Item != nil
		})
		code, _, body := call(t, client, "GET", west.BlogURL+"/v1/posts/"+slug, "", nil, nil)
		var got struct{ Title, HTML string }
		if err := json.Unmarshal(body, &got); code != http.StatusOK || err != nil || got.Title != "Written in us-east-1" || !strings.Contains(got.HTML, "<em>everywhere</em>") {
			t.Errorf("GET through eu-west-1's edge = %d %s, want the post", code, body)
		}
	})

	t.Run("a photo uploaded in one region is thumbnailed once", func(t *testing.T) {
		token := adminToken(t, st)
		blogAPI := east.Services["blog-api"].URL
		p := uploadPhoto(t, client, blogAPI, token, "image/jpeg", "two-regions.jpg", testJPEG(t, 800, 600))
		if got := waitPhoto(t, client, blogAPI, p.ID, 30*time.Second); got.Status != "ready" {
			t.Fatalf("photo = %+v, want ready", got)
		}
		// The record, ready, reaches the other region; the thumbnail exists once, in the
		// bucket of the region that took the upload.
		waitFor(t, 10*time.Second, "the ready photo replicated to eu-west-1", func() bool {
			code, _, body := call(t, client, "GET", west.Services["blog-api"].URL+"/v1/photos/"+p.ID, "", nil, nil)
			return code == http.StatusOK && strings.Contains(string(body), `"status":"ready"`)
		})
		counts := map[string]int{}
		for _, r := range st.Regions {
			s3c := s3.NewFromConfig(regionAWS(t, st, r.Region), func(o *s3.Options) { o.UsePathStyle = true })
			out, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(r.Buckets["media"]), Prefix: aws.String("thumbnails/" + p.ID)})
			if err != nil {
				t.Fatal(err)
			}
			counts[r.Region] = len(out.Contents)
		}
		// One thumbnail per output format (JPEG, and WebP where it is smaller).
		if counts["us-east-1"] < 1 || counts["us-east-1"] > 2 || counts["eu-west-1"] != 0 {
			t.Errorf("thumbnail objects of %s per region = %v, want one set (JPEG, maybe WebP), in us-east-1 only", p.ID, counts)
		}
		if lines := processLines(s.out.String(), "thumbnailer@eu-west-1"); strings.Contains(lines, p.ID) {
			t.Errorf("eu-west-1's thumbnailer handled %s:\n%s", p.ID, lines)
		}
	})
	stackAlive(t, s)
}

// regionAWS is the stack's AWS configuration in region.
func regionAWS(t *testing.T, st *stack.Stack, region string) aws.Config {
	t.Helper()
	cfg := stackAWS(t, st)
	cfg.Region = region
	return cfg
}

// processLines returns the lines of out printed by the process named name (sa dev pads
// the names to the longest one's width: "name     | ...").
func processLines(out, name string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok && strings.HasPrefix(strings.TrimLeft(rest, " "), "| ") {
			b.WriteString(line)
		}
	}
	return b.String()
}
