package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cogtypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
)

// TestBlogJourney drives MyBlog on the local stack: the site is in the site bucket,
// an admin (signed up, confirmed, added to the admins group, signed in through
// Cognito) writes a post over HTTPS, the public reads it with validators and caching
// headers, writes without the group or without a token are refused, and subscribing
// twice keeps one pending record.
func TestBlogJourney(t *testing.T) {
	s := sharedStack(t)
	blogPosts.Lock()
	defer blogPosts.Unlock()
	st := s.stack
	blogURL := st.Services["blog-api"].URL
	if blogURL == "" {
		t.Fatalf("stack.json has no blog-api service: %+v", st.Services)
	}
	client := caClient(t, s)
	cfg := mototest.AWSConfig(t, st.AWSEndpoint)
	cfg.Region = st.Region
	ctx := context.Background()

	t.Run("site in the bucket", func(t *testing.T) {
		checkSite(t, s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), st.Resources.SiteBucket, st.Resources.UserPoolClientID)
	})

	cog := cognitoidentityprovider.NewFromConfig(cfg)
	admin := signIn(t, cog, st.Resources.UserPoolID, st.Resources.UserPoolClientID, "admin", true)
	reader := signIn(t, cog, st.Resources.UserPoolID, st.Resources.UserPoolClientID, "reader", false)

	slug := fmt.Sprintf("hello-%d", time.Now().UnixNano())
	post := map[string]any{"slug": slug, "title": "Hello <b>world</b>", "body": "First *post*.\n\n<script>alert(1)</script>", "tags": []string{"news"}}
	if code, _, body := call(t, client, "POST", blogURL+"/v1/posts", "", post, nil); code != http.StatusUnauthorized {
		t.Errorf("POST without a token = %d %s, want 401", code, body)
	}
	if code, _, body := call(t, client, "POST", blogURL+"/v1/posts", reader, post, nil); code != http.StatusForbidden {
		t.Errorf("POST by a non-admin = %d %s, want 403", code, body)
	}
	// The newest posts as readers get them, through the edge: cached there, as at
	// CloudFront, for the API's s-maxage.
	// (Eventually: an invalidation by the test that published before this one may still
	// be on its way to the edge, and drop the list once more.)
	edgeList := st.BlogURL + "/v1/posts?limit=5"
	waitFor(t, 10*time.Second, "the post list cached at the edge", func() bool {
		code, h, _ := call(t, client, "GET", edgeList, "", nil, nil)
		return code == http.StatusOK && h.Get("X-Cache") == "Hit"
	})
	code, h, body := call(t, client, "POST", blogURL+"/v1/posts", admin, post, nil)
	if code != http.StatusCreated {
		t.Fatalf("POST by the admin = %d %s, want 201", code, body)
	}
	if h.Get("Location") != "/v1/posts/"+slug {
		t.Errorf("Location = %q", h.Get("Location"))
	}
	// The write invalidated the posts at the distribution (moto keeps the invalidation
	// as a control-plane object), and the edge, which applies the distribution's
	// invalidations and nothing else, serves the new list: without blog-api's
	// invalidation readers would get the cached one until s-maxage ran out.
	checkInvalidated(t, cloudfront.NewFromConfig(cfg), st.Resources.BlogDistributionID, "/v1/posts*")
	waitFor(t, 10*time.Second, "the edge serving the list with the new post", func() bool {
		code, _, body := call(t, client, "GET", edgeList, "", nil, nil)
		return code == http.StatusOK && strings.Contains(string(body), `"`+slug+`"`)
	})

	code, h, body = call(t, client, "GET", blogURL+"/v1/posts/"+slug, "", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("public GET = %d %s", code, body)
	}
	var got struct {
		Slug, Title, HTML string
		Body              *string
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Slug != slug || got.Title != "Hello <b>world</b>" || got.Body != nil || !strings.Contains(got.HTML, "<em>post</em>") || strings.Contains(got.HTML, "<script") {
		t.Errorf("public post = %+v", got)
	}
	etag, cc := h.Get("ETag"), h.Get("Cache-Control")
	if !strings.HasPrefix(etag, `"`) || !strings.Contains(cc, "max-age=") || !strings.Contains(cc, "public") {
		t.Errorf("ETag %q, Cache-Control %q: want a strong validator and a public max-age", etag, cc)
	}
	if code, _, body := call(t, client, "GET", blogURL+"/v1/posts/"+slug, "", nil, map[string]string{"If-None-Match": etag}); code != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match = %d with %d bytes, want 304 and no body", code, len(body))
	}
	if code, _, _ := call(t, client, "GET", blogURL+"/v1/posts/no-such-post-"+slug, "", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown slug = %d, want 404", code)
	}
	var list struct{ Items []struct{ Slug string } }
	code, _, body = call(t, client, "GET", blogURL+"/v1/posts?limit=5", "", nil, nil)
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Items) == 0 || list.Items[0].Slug != slug {
		t.Errorf("newest post in the list = %d %s, want %s first", code, body, slug)
	}

	email := fmt.Sprintf("fan-%d@example.com", time.Now().UnixNano())
	for i := range 2 {
		if code, _, body := call(t, client, "POST", blogURL+"/v1/subscribers", "", map[string]string{"email": email}, nil); code != http.StatusAccepted {
			t.Errorf("subscribe #%d = %d %s, want 202", i+1, code, body)
		}
	}
	scan, err := dynamodb.NewFromConfig(cfg).Scan(ctx, &dynamodb.ScanInput{
		TableName:                 aws.String(st.Resources.SubscribersTable),
		FilterExpression:          aws.String("email = :e"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":e": &ddbtypes.AttributeValueMemberS{Value: email}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Count != 1 {
		t.Errorf("subscriber records for %s = %d, want 1", email, scan.Count)
	} else if st, _ := scan.Items[0]["status"].(*ddbtypes.AttributeValueMemberS); st == nil || st.Value != "pending" {
		t.Errorf("subscriber %s = %v, want pending until the confirmation link is posted", email, scan.Items[0])
	}
	// SUBSCRIBE_CLIENT_LIMIT's default: 10 per client address in 10 minutes.
	t.Run("client address believed only through the distribution", func(t *testing.T) { checkViewerAddressTrust(t, s, client, 10) })
}

// checkSite: every page and asset of web/blog is in the bucket under its built name,
// with its Content-Type and Cache-Control, and config.json names the app client.
func checkSite(t *testing.T, c *s3.Client, bucket, clientID string) {
	t.Helper()
	ctx := context.Background()
	site, err := sitedeploy.Build(os.DirFS(repoRoot(t)+"/web/blog"), map[string][]byte{sitedeploy.ConfigKey: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	hashed := regexp.MustCompile(`\.[0-9a-f]{12}\.(css|js)$`)
	assets := 0
	for _, f := range site.Files {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(f.Key)})
		if err != nil {
			t.Errorf("%s is not in s3://%s: %v", f.Key, bucket, err)
			continue
		}
		if got := aws.ToString(h.ContentType); got != f.ContentType {
			t.Errorf("%s Content-Type = %q, want %q", f.Key, got, f.ContentType)
		}
		wantCC := sitedeploy.HTMLCacheControl
		if strings.HasSuffix(f.Key, ".css") || strings.HasSuffix(f.Key, ".js") {
			assets++
			wantCC = sitedeploy.ImmutableCacheControl
			if !hashed.MatchString(f.Key) {
				t.Errorf("%s has no content hash in its name", f.Key)
			}
		}
		if got := aws.ToString(h.CacheControl); got != wantCC {
			t.Errorf("%s Cache-Control = %q, want %q", f.Key, got, wantCC)
		}
	}
	if assets < 3 {
		t.Errorf("%d hashed CSS/JS files, want the stylesheet and both scripts", assets)
	}
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(sitedeploy.ConfigKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var conf sitedeploy.SiteConfig
	if err := json.NewDecoder(obj.Body).Decode(&conf); err != nil || conf.ClientID != clientID || conf.CognitoEndpoint == "" {
		t.Errorf("config.json = %+v (%v), want client %s and an endpoint", conf, err, clientID)
	}
}

// signIn signs a new user up, confirms them, optionally adds them to admins, and
// returns their id token from USER_PASSWORD_AUTH, as the admin page does.
func signIn(t *testing.T, c *cognitoidentityprovider.Client, poolID, clientID, name string, admin bool) string {
	t.Helper()
	ctx := context.Background()
	email := fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
	const password = "Passw0rd1x!"
	if _, err := c.SignUp(ctx, &cognitoidentityprovider.SignUpInput{
		ClientId: aws.String(clientID), Username: aws.String(email), Password: aws.String(password),
		UserAttributes: []cogtypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	}); err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	if _, err := c.ConfirmSignUp(ctx, &cognitoidentityprovider.ConfirmSignUpInput{
		ClientId: aws.String(clientID), Username: aws.String(email), ConfirmationCode: aws.String("123456"),
	}); err != nil {
		t.Fatalf("confirm %s: %v", email, err)
	}
	if admin {
		if _, err := c.AdminAddUserToGroup(ctx, &cognitoidentityprovider.AdminAddUserToGroupInput{
			UserPoolId: aws.String(poolID), Username: aws.String(email), GroupName: aws.String("admins"),
		}); err != nil {
			t.Fatalf("add %s to admins: %v", email, err)
		}
	}
	out, err := c.InitiateAuth(ctx, &cognitoidentityprovider.InitiateAuthInput{
		ClientId: aws.String(clientID), AuthFlow: cogtypes.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil || out.AuthenticationResult == nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	return aws.ToString(out.AuthenticationResult.IdToken)
}

// call sends a JSON request (body nil for none) with an optional bearer token.
func call(t *testing.T, c *http.Client, method, url, token string, body any, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// checkInvalidated fails unless the distribution has an invalidation of path.
func checkInvalidated(t *testing.T, cf *cloudfront.Client, distribution, path string) {
	t.Helper()
	ctx := context.Background()
	list, err := cf.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(distribution)})
	if err != nil {
		t.Fatalf("list invalidations of %s: %v", distribution, err)
	}
	for _, sum := range list.InvalidationList.Items {
		inv, err := cf.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(distribution), Id: sum.Id})
		if err != nil {
			t.Fatalf("get invalidation %s: %v", aws.ToString(sum.Id), err)
		}
		if slices.Contains(inv.Invalidation.InvalidationBatch.Paths.Items, path) {
			return
		}
	}
	t.Errorf("no invalidation of %s on distribution %s", path, distribution)
}
