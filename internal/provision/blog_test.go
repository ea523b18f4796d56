package provision

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestCloudFrontReadPolicyGolden(t *testing.T) {
	got, err := CloudFrontReadPolicy("myblog-site", "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE").JSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/blog-site-bucket-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	// Nothing in it may open the bucket to everyone.
	for _, bad := range []string{`"*"`, `"AWS": "*"`, "s3:*", "s3:PutObject", "s3:ListBucket"} {
		if strings.Contains(string(got), bad) {
			t.Errorf("policy contains %s", bad)
		}
	}
}

func TestReplicaUpdates(t *testing.T) {
	region := func(r string) types.ReplicaDescription { return types.ReplicaDescription{RegionName: aws.String(r)} }
	for _, tc := range []struct {
		name    string
		regions []string
		have    []types.ReplicaDescription
		want    []string
	}{
		{"single region", []string{"us-east-1"}, nil, nil},
		{"none configured", nil, nil, nil},
		{"two more", []string{"us-east-1", "eu-west-1", "ap-southeast-2"}, nil, []string{"eu-west-1", "ap-southeast-2"}},
		{"one exists", []string{"us-east-1", "eu-west-1", "ap-southeast-2"}, []types.ReplicaDescription{region("us-east-1"), region("eu-west-1")}, []string{"ap-southeast-2"}},
		{"duplicates", []string{"eu-west-1", "eu-west-1", ""}, nil, []string{"eu-west-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups := GlobalTable{Regions: tc.regions}.replicaUpdates("us-east-1", &types.TableDescription{Replicas: tc.have})
			var got []string
			for _, u := range ups {
				if u.Delete != nil || u.Update != nil || u.Create == nil {
					t.Errorf("update %+v is not a plain Create", u)
					continue
				}
				got = append(got, aws.ToString(u.Create.RegionName))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("replica regions (-want +got):\n%s", diff)
			}
		})
	}
}

// updateTableRecorder captures every UpdateTable request at the SDK's Initialize step,
// as serialised parameters, and lets it go on to moto (which ignores ReplicaUpdates).
type updateTableRecorder struct {
	mu   sync.Mutex
	sent []*dynamodb.UpdateTableInput
}

func (r *updateTableRecorder) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("recordUpdateTable",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if u, ok := in.Parameters.(*dynamodb.UpdateTableInput); ok {
				r.mu.Lock()
				r.sent = append(r.sent, u)
				r.mu.Unlock()
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

func TestBlogResourcesAgainstMoto(t *testing.T) {
	ep := mototest.Endpoint(t)
	cfg := mototest.AWSConfig(t, ep)
	ctx := context.Background()
	prefix := mototest.Name("blog") + "-"
	rec := &updateTableRecorder{}
	c := NewClients(cfg)
	c.DynamoDB = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, rec.middleware) })

	rs := BlogResources(prefix, BlogOptions{Regions: []string{"us-east-1", "eu-west-1"}, APIHost: "blog.example.com"})
	var log strings.Builder
	first, err := Ensure(ctx, c, rs, &log)
	if err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	// moto has no CloudFront Functions or policy API: the function and the policies
	// are reported as skipped, with the reason, not as done.
	for _, want := range []string{
		"skipped  cloudfront function " + prefix + "myblog-media-path (the endpoint has no CloudFront Functions API (moto): /media/* is not rewritten)",
		"skipped  cloudfront cache policy " + prefix + "myblog-api (moto has no CloudFront cache policy API: recorded in the stack file as " + LocalPolicyID("cache policy", prefix+"myblog-api") + ")",
		"skipped  cloudfront origin request policy " + prefix + "myblog-api (moto has no CloudFront origin request policy API: recorded in the stack file as " + LocalPolicyID("origin request policy", prefix+"myblog-api") + ")",
		"skipped  cloudfront response headers policy " + prefix + "myblog-security (moto has no CloudFront response headers policy API: recorded in the stack file as " + LocalPolicyID("response headers policy", prefix+"myblog-security") + ")",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("provisioning log lacks %q:\n%s", want, log.String())
		}
	}
	if first.BlogMediaFunctionARN != "" {
		t.Errorf("media function ARN = %q under moto", first.BlogMediaFunctionARN)
	}
	if first.PostsTable != prefix+"posts" || first.SubscribersTable != prefix+"subscribers" || first.SiteBucket == "" || first.MediaBucket == "" ||
		first.BlogOACID == "" || first.BlogDistributionID == "" || first.BlogDistributionARN == "" {
		t.Fatalf("outputs incomplete: %+v", first)
	}

	t.Run("replica requests", func(t *testing.T) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var got []string
		for _, u := range rec.sent {
			for _, r := range u.ReplicaUpdates {
				got = append(got, aws.ToString(u.TableName)+" create "+aws.ToString(r.Create.RegionName))
			}
		}
		sort.Strings(got)
		want := []string{prefix + "posts create eu-west-1", prefix + "subscribers create eu-west-1"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UpdateTable ReplicaUpdates sent (-want +got):\n%s", diff)
		}
	})

	t.Run("tables", func(t *testing.T) {
		posts, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(first.PostsTable)})
		if err != nil {
			t.Fatal(err)
		}
		if len(posts.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(posts.Table.GlobalSecondaryIndexes[0].IndexName) != "feed" {
			t.Errorf("posts indexes = %+v, want one named feed", posts.Table.GlobalSecondaryIndexes)
		}
		subs, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(first.SubscribersTable)})
		if err != nil {
			t.Fatal(err)
		}
		if s := subs.Table.StreamSpecification; s == nil || !aws.ToBool(s.StreamEnabled) || s.StreamViewType != types.StreamViewTypeNewImage {
			t.Errorf("subscribers stream = %+v, want NEW_IMAGE", s)
		}
	})

	t.Run("buckets are private", func(t *testing.T) {
		for _, b := range []string{first.SiteBucket, first.MediaBucket} {
			pab, err := c.S3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(b)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(PrivateBucketAccessBlock(), pab.PublicAccessBlockConfiguration, cmpopts.IgnoreUnexported(s3types.PublicAccessBlockConfiguration{})); diff != "" {
				t.Errorf("%s public access block (-want +got):\n%s", b, diff)
			}
			pol, err := c.S3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(b)})
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			wantDoc, _ := CloudFrontReadPolicy(b, first.BlogDistributionARN).JSON()
			_ = json.Unmarshal(wantDoc, &want)
			if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s policy (-want +got):\n%s", b, diff)
			}
		}
	})

	t.Run("media bucket cors", func(t *testing.T) {
		got, err := c.S3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(first.MediaBucket)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.CORSRules) != 1 {
			t.Fatalf("rules = %+v, want one", got.CORSRules)
		}
		r := got.CORSRules[0]
		if diff := cmp.Diff([]string{"https://" + first.BlogDistributionDomain}, r.AllowedOrigins); diff != "" {
			t.Errorf("origins (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"PUT"}, r.AllowedMethods); diff != "" {
			t.Errorf("methods (-want +got):\n%s", diff)
		}
	})

	t.Run("distribution", func(t *testing.T) {
		d, err := c.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(first.BlogDistributionID)})
		if err != nil {
			t.Fatal(err)
		}
		dc := d.DistributionConfig
		got := map[string]string{"default": aws.ToString(dc.DefaultCacheBehavior.TargetOriginId) + " " + string(dc.DefaultCacheBehavior.ViewerProtocolPolicy)}
		for _, b := range dc.CacheBehaviors.Items {
			got[aws.ToString(b.PathPattern)] = aws.ToString(b.TargetOriginId) + " " + string(b.ViewerProtocolPolicy)
		}
		want := map[string]string{"default": "site redirect-to-https", "/v1/*": "api redirect-to-https", "/media/*": "media redirect-to-https"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("behaviours (-want +got):\n%s", diff)
		}
		origins := map[string]string{}
		for _, o := range dc.Origins.Items {
			origins[aws.ToString(o.Id)] = aws.ToString(o.DomainName)
		}
		want = map[string]string{
			"site": first.SiteBucket + ".s3.us-east-1.amazonaws.com", "api": "blog.example.com",
			"media-us-east-1": first.MediaBucket + ".s3.us-east-1.amazonaws.com",
			"media-eu-west-1": strings.Replace(first.MediaBucket, "-us-east-1", "-eu-west-1", 1) + ".s3.eu-west-1.amazonaws.com",
		}
		if diff := cmp.Diff(want, origins); diff != "" {
			t.Errorf("origins (-want +got):\n%s", diff)
		}
		if n := aws.ToInt32(dc.OriginGroups.Quantity); n != 1 || aws.ToString(dc.OriginGroups.Items[0].Id) != "media" {
			t.Errorf("origin groups = %+v, want the two media buckets as group media", dc.OriginGroups)
		}
		// What moto holds is the document the local edge runs, but for the fields moto
		// drops (MotoGaps).
		if diff := cdn.Diff(WithoutMotoGaps(APIView(first.BlogEdge)), WithoutMotoGaps(DistributionFromAPI(dc))); len(diff) > 0 {
			t.Errorf("moto's distribution differs from the recorded document:\n%s", strings.Join(diff, "\n"))
		}
	})

	second, err := Ensure(ctx, c, rs, nil)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second run's outputs differ (-first +second):\n%s", diff)
	}
	out := second
	o, err := (Distribution{DistName: prefix + "myblog", Prefix: prefix, Options: BlogOptions{Regions: []string{"us-east-1", "eu-west-1"}, APIHost: "blog.example.com"}}).Ensure(ctx, c, &out)
	if err != nil || out.BlogDistributionID != first.BlogDistributionID || o.Created || o.Applied {
		t.Errorf("distribution found again as %q (%+v, %v), want %q unchanged", out.BlogDistributionID, o, err, first.BlogDistributionID)
	}
}

func TestUploadCORSRule(t *testing.T) {
	r := UploadCORSRule("d111.cloudfront.net", []string{"https://blog.example.com", "", "https://d111.cloudfront.net"})
	if diff := cmp.Diff([]string{"https://d111.cloudfront.net", "https://blog.example.com"}, r.AllowedOrigins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PUT"}, r.AllowedMethods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
}
