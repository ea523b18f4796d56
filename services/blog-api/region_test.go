package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cogtypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/proctest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestTwoRegionsTwoProcesses runs two blog-api processes, one configured for
// us-east-1 and one for eu-west-1, against the same moto, each with tables of the
// same names created in its own region (as Global Table replicas are named). A post
// written through one is stored in that region's table only and is not visible
// through the other: each process reads and writes its own region. (Replication
// between the replicas is AWS's job and is not emulated by moto.)
func TestTwoRegionsTwoProcesses(t *testing.T) {
	ep := mototest.Endpoint(t)
	ctx := context.Background()
	prefix := mototest.Name("regions") + "-"
	regions := []string{"us-east-1", "eu-west-1"}

	// Tables in each region, with the provisioner's own definitions.
	tables := provision.BlogResources(prefix, provision.BlogOptions{})[:2]
	ddb := map[string]*dynamodb.Client{}
	for _, r := range regions {
		cfg := mototest.AWSConfig(t, ep)
		cfg.Region = r
		c := provision.NewClients(cfg)
		if _, err := provision.Ensure(ctx, c, tables, nil); err != nil {
			t.Fatalf("tables in %s: %v", r, err)
		}
		ddb[r] = c.DynamoDB
	}
	// One user pool (in us-east-1) signs the admin's token for both.
	cfg := mototest.AWSConfig(t, ep)
	auth, err := provision.Ensure(ctx, provision.NewClients(cfg), []provision.Resource{
		provision.UserPool{PoolName: prefix + "pool"}, provision.AppClient{ClientName: prefix + "web"},
		provision.Group{GroupName: "admins", Record: func(*stack.Resources, string) {}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := adminToken(t, cognitoidentityprovider.NewFromConfig(cfg), auth)

	bin := filepath.Join(t.TempDir(), "blog-api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	urls, metricsURLs := map[string]string{}, map[string]string{}
	for _, r := range regions {
		port, mport := porttest.Free(t), porttest.Free(t)
		urls[r] = "http://127.0.0.1:" + strconv.Itoa(port)
		metricsURLs[r] = "http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics"
		startProcess(t, bin, r, []string{
			"PORT=" + strconv.Itoa(port), "METRICS_PORT=" + strconv.Itoa(mport), "HOST=127.0.0.1", "DRAIN_DELAY=0s", "PATH=" + os.Getenv("PATH"),
			"AWS_REGION=" + r, "AWS_ENDPOINT_URL=" + ep, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"POSTS_TABLE=" + prefix + "posts", "SUBSCRIBERS_TABLE=" + prefix + "subscribers",
			"COGNITO_ISSUER=" + auth.Issuer, "COGNITO_JWKS_URL=" + auth.JWKSURL, "COGNITO_CLIENT_IDS=" + auth.UserPoolClientID,
			"UNSUBSCRIBE_KEY=" + base64.StdEncoding.EncodeToString(key),
			// No CloudFront in front: callers are counted by their TCP peer.
			"CLIENT_ADDRESS_HEADER=none",
		})
	}
	for _, r := range regions {
		proctest.WaitReady(t, urls[r], 30*time.Second)
	}

	slugs := map[string]string{"us-east-1": "written-in-us", "eu-west-1": "written-in-eu"}
	for _, r := range regions {
		body, _ := json.Marshal(map[string]string{"slug": slugs[r], "title": "From " + r, "body": "hello"})
		req, _ := http.NewRequest(http.MethodPost, urls[r]+"/v1/posts", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create through %s = %d", r, resp.StatusCode)
		}
	}
	// A post whose rendering is over DynamoDB's item limit is the client's 413 naming
	// the limit, not a 503 blaming a dependency.
	huge, _ := json.Marshal(map[string]string{"title": "Nested quotes", "body": strings.Repeat("> ", 32000)})
	req, _ := http.NewRequest(http.MethodPost, urls["us-east-1"]+"/v1/posts", bytes.NewReader(huge))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte("400 KB")) {
		t.Errorf("an oversized post: %d %s; want 413 naming DynamoDB's 400 KB limit", resp.StatusCode, body)
	}

	for _, via := range regions {
		for _, from := range regions {
			want := http.StatusNotFound
			if via == from {
				want = http.StatusOK
			}
			resp, err := http.Get(urls[via] + "/v1/posts/" + slugs[from])
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s (written in %s) through %s = %d, want %d", slugs[from], from, via, resp.StatusCode, want)
			}
			// The table of region via holds only what was written through via.
			item, err := ddb[via].GetItem(ctx, &dynamodb.GetItemInput{
				TableName: aws.String(prefix + "posts"),
				Key: map[string]ddbtypes.AttributeValue{
					"pk": &ddbtypes.AttributeValueMemberS{Value: "POST#" + slugs[from]},
					"sk": &ddbtypes.AttributeValueMemberS{Value: "POST"},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if has := item.Item != nil; has != (via == from) {
				t.Errorf("%s table in %s holds %s: %v, want %v", prefix+"posts", via, slugs[from], has, via == from)
			}
		}
	}

	// Each process's /metrics counts its requests by route template, never by slug.
	// Each request is counted when its handler returns, which for an answer larger than
	// the server's write buffer is after the client has read it: wait for all of them in
	// one scrape.
	var wants []metricstest.Want
	for _, c := range []struct{ route, method, code string }{
		{"/v1/posts", "POST", "201"}, {"/v1/posts", "POST", "413"}, {"/v1/posts/:slug", "GET", "200"}, {"/v1/posts/:slug", "GET", "404"},
	} {
		wants = append(wants, metricstest.Want{Name: "http_server_requests_total",
			Labels: map[string]string{"route": c.route, "method": c.method, "code": c.code}, Value: 1})
	}
	metricstest.WaitAll(t, metricsURLs["us-east-1"], wants...)
}

func adminToken(t *testing.T, c *cognitoidentityprovider.Client, res stack.Resources) string {
	t.Helper()
	ctx := context.Background()
	const email, password = "admin@example.com", "Passw0rd1x!"
	if _, err := c.SignUp(ctx, &cognitoidentityprovider.SignUpInput{
		ClientId: aws.String(res.UserPoolClientID), Username: aws.String(email), Password: aws.String(password),
		UserAttributes: []cogtypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AdminConfirmSignUp(ctx, &cognitoidentityprovider.AdminConfirmSignUpInput{UserPoolId: aws.String(res.UserPoolID), Username: aws.String(email)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AdminAddUserToGroup(ctx, &cognitoidentityprovider.AdminAddUserToGroupInput{
		UserPoolId: aws.String(res.UserPoolID), Username: aws.String(email), GroupName: aws.String("admins"),
	}); err != nil {
		t.Fatal(err)
	}
	out, err := c.InitiateAuth(ctx, &cognitoidentityprovider.InitiateAuthInput{
		ClientId: aws.String(res.UserPoolClientID), AuthFlow: cogtypes.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.AuthenticationResult.IdToken)
}

// startProcess runs bin with env until the test ends, then stops it with SIGTERM.
func startProcess(t *testing.T, bin, name string, env []string) {
	t.Helper()
	proctest.Start(t, bin, "blog-api ("+name+")", env)
}
