package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cogtypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// TestSeed fills a running stack with `sa seed`'s demo data, twice: the demo user signs
// in with the printed password and finds its to-do through the gateway, the posts are
// public, the photo gets its thumbnail, and the second run keeps what exists.
func TestSeed(t *testing.T) {
	s := sharedStack(t)
	blogPosts.Lock()
	defer blogPosts.Unlock()
	st := s.stack
	ctx := context.Background()
	var out bytes.Buffer
	if err := devstack.Seed(ctx, s.dir, &out); err != nil {
		t.Fatalf("seed: %v\n%s", err, out.String())
	}
	var again bytes.Buffer
	if err := devstack.Seed(ctx, s.dir, &again); err != nil {
		t.Fatalf("second seed: %v\n%s", err, again.String())
	}
	if !strings.Contains(again.String(), "post  welcome (already there)") {
		t.Errorf("second seed did not keep the posts:\n%s", again.String())
	}
	if !strings.Contains(out.String(), devstack.SeedPassword) || !strings.Contains(out.String(), "todo login --email "+devstack.SeedUser) {
		t.Errorf("seed did not say how to sign in:\n%s", out.String())
	}

	cfg := mototest.AWSConfig(t, st.AWSEndpoint)
	cfg.Region = st.Region
	auth, err := cognitoidentityprovider.NewFromConfig(cfg).InitiateAuth(ctx, &cognitoidentityprovider.InitiateAuthInput{
		ClientId: aws.String(st.Resources.UserPoolClientID), AuthFlow: cogtypes.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": devstack.SeedUser, "PASSWORD": devstack.SeedPassword},
	})
	if err != nil {
		t.Fatalf("the demo user cannot sign in with the printed password: %v", err)
	}
	client := caClient(t, s)
	code, _, body := call(t, client, "GET", st.APIURL+"/v1/todos", aws.ToString(auth.AuthenticationResult.IdToken), nil, nil)
	if code != http.StatusOK || strings.Count(string(body), "Try the local stack") != 1 {
		t.Errorf("the demo user's to-dos = %d %s, want the seeded one, once", code, body)
	}
	blog := st.Services["blog-api"].URL
	for _, slug := range []string{"welcome", "local-stack", "photos"} {
		if code, _, body := call(t, client, "GET", blog+"/v1/posts/"+slug, "", nil, nil); code != http.StatusOK {
			t.Errorf("GET post %s = %d %s", slug, code, body)
		}
	}
	m := regexp.MustCompile(`photo (\S+) `).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("seed did not name its photo:\n%s", out.String())
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, _, body := call(t, client, "GET", blog+"/v1/photos/"+m[1], "", nil, nil)
		var p struct{ Status, ThumbnailURL string }
		_ = json.Unmarshal(body, &p)
		if code == http.StatusOK && p.Status == "ready" && p.ThumbnailURL != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seeded photo is not ready after 2 minutes: %d %s", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
