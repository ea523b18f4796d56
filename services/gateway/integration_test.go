package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cipt "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbt "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// stackEnv is a moto user pool with signed-in users, a to-dos table, and the
// environment todo-api and the gateway need for them.
type stackEnv struct {
	env    []string
	tokens map[string]string // username -> id token
}

func newStackEnv(t *testing.T, ep string, users int) stackEnv {
	t.Helper()
	ctx := context.Background()
	cfg := mototest.AWSConfig(t, ep)
	table := mototest.Name("gw-todos")
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbt.BillingModePayPerRequest,
		AttributeDefinitions: []ddbt.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbt.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbt.ScalarAttributeTypeS}},
		KeySchema:            []ddbt.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbt.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbt.KeyTypeRange}},
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	c := cip.NewFromConfig(cfg)
	pool, err := c.CreateUserPool(ctx, &cip.CreateUserPoolInput{PoolName: aws.String(mototest.Name("gw"))})
	if err != nil {
		t.Fatalf("CreateUserPool: %v", err)
	}
	poolID := aws.ToString(pool.UserPool.Id)
	client, err := c.CreateUserPoolClient(ctx, &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(poolID), ClientName: aws.String("app"),
		ExplicitAuthFlows: []cipt.ExplicitAuthFlowsType{cipt.ExplicitAuthFlowsTypeAllowUserPasswordAuth, cipt.ExplicitAuthFlowsTypeAllowRefreshTokenAuth},
	})
	if err != nil {
		t.Fatalf("CreateUserPoolClient: %v", err)
	}
	clientID := aws.ToString(client.UserPoolClient.ClientId)
	const password = "Corr3ct-Horse-Battery!"
	s := stackEnv{tokens: map[string]string{}}
	for i := range users {
		name := fmt.Sprintf("user%02d-%s", i, mototest.Name("u"))
		if _, err := c.AdminCreateUser(ctx, &cip.AdminCreateUserInput{UserPoolId: aws.String(poolID), Username: aws.String(name), MessageAction: cipt.MessageActionTypeSuppress}); err != nil {
			t.Fatalf("AdminCreateUser: %v", err)
		}
		if _, err := c.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{UserPoolId: aws.String(poolID), Username: aws.String(name), Password: aws.String(password), Permanent: true}); err != nil {
			t.Fatalf("AdminSetUserPassword: %v", err)
		}
		out, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: cipt.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(clientID), AuthParameters: map[string]string{"USERNAME": name, "PASSWORD": password}})
		if err != nil || out.AuthenticationResult == nil {
			t.Fatalf("InitiateAuth: %v", err)
		}
		s.tokens[name] = aws.ToString(out.AuthenticationResult.IdToken)
	}
	s.env = []string{
		"AWS_REGION=" + mototest.Region, "AWS_ENDPOINT_URL=" + ep, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"TODOS_TABLE=" + table, "PAGE_TOKEN_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"COGNITO_ISSUER=https://cognito-idp." + mototest.Region + ".amazonaws.com/" + poolID,
		"COGNITO_JWKS_URL=" + ep + "/" + poolID + "/.well-known/jwks.json",
		"COGNITO_CLIENT_IDS=" + clientID,
		"HOST=127.0.0.1", "LOG_LEVEL=warn", "DRAIN_DELAY=0s",
	}
	return s
}

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join("..", "..")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// start runs bin with env and waits for base+/readyz.
func start(t *testing.T, bin string, env []string, base string, client *http.Client) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not get ready at %s", bin, base)
}

type gw struct {
	base   string
	client *http.Client
}

func (g gw) do(t *testing.T, method, path, token, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, g.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// startAll runs todo-api and two gateways (A over HTTPS with the dev CA, B over HTTP)
// in front of it.
func startAll(t *testing.T, s stackEnv) (gw, gw) {
	t.Helper()
	dir := t.TempDir()
	api := build(t, dir, "./services/todo-api")
	gateway := build(t, dir, "./services/gateway")
	plain := &http.Client{Timeout: 10 * time.Second}

	apiPort := porttest.Free(t)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	start(t, api, append(s.env, fmt.Sprintf("PORT=%d", apiPort)), apiURL, plain)

	paths, err := devtls.Ensure(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(paths.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 64}}

	gwEnv := append(s.env, "ROUTES_FILE=routes.yaml", "TODO_API_URL="+apiURL)
	portA, portB := porttest.Free(t), porttest.Free(t)
	a := gw{fmt.Sprintf("https://localhost:%d", portA), tlsClient}
	b := gw{fmt.Sprintf("http://127.0.0.1:%d", portB), plain}
	start(t, gateway, append(gwEnv, fmt.Sprintf("PORT=%d", portA), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(t)), "TLS_CERT_FILE="+paths.Cert, "TLS_KEY_FILE="+paths.Key), a.base, a.client)
	start(t, gateway, append(gwEnv, fmt.Sprintf("PORT=%d", portB), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(t))), b.base, b.client)
	return a, b
}

func titles(t *testing.T, body string) []string {
	t.Helper()
	var page struct {
		Items []struct{ Title string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("list body %q: %v", body, err)
	}
	var out []string
	for _, it := range page.Items {
		out = append(out, it.Title)
	}
	return out
}

// TestTwoGateways runs two gateway processes in front of one todo-api: each keeps its
// own cache; a write invalidates the writer's entries on the gateway that carried it;
// the other serves its entry until the TTL ends or the caller asks for a fresh answer.
func TestTwoGateways(t *testing.T) {
	ep := mototest.Endpoint(t)
	s := newStackEnv(t, ep, 1)
	a, b := startAll(t, s)
	var token string
	for _, tok := range s.tokens {
		token = tok
	}
	step := func(name string, g gw, method, path, body string, hdr map[string]string, wantStatus int, wantCache string, wantTitles int) {
		t.Helper()
		status, h, got := g.do(t, method, path, token, body, hdr)
		if status != wantStatus || h.Get("X-Cache") != wantCache {
			t.Fatalf("%s: %d X-Cache %q, want %d %q: %s", name, status, h.Get("X-Cache"), wantStatus, wantCache, got)
		}
		if wantTitles >= 0 {
			if n := len(titles(t, got)); n != wantTitles {
				t.Errorf("%s: %d to-dos listed, want %d", name, n, wantTitles)
			}
		}
	}
	step("create through A", a, "POST", "/v1/todos", `{"title":"one"}`, nil, 201, "Bypass", -1)
	step("list through A", a, "GET", "/v1/todos", "", nil, 200, "Miss", 1)
	step("list through A again", a, "GET", "/v1/todos", "", nil, 200, "Hit", 1)
	step("list through B", b, "GET", "/v1/todos", "", nil, 200, "Miss", 1)
	step("list through B again", b, "GET", "/v1/todos", "", nil, 200, "Hit", 1)
	step("create through A", a, "POST", "/v1/todos", `{"title":"two"}`, nil, 201, "Bypass", -1)
	step("A: read own write", a, "GET", "/v1/todos", "", nil, 200, "Miss", 2)
	step("B: still its own entry", b, "GET", "/v1/todos", "", nil, 200, "Hit", 1)
	step("B: caller asks for fresh", b, "GET", "/v1/todos", "", map[string]string{"Cache-Control": "max-age=0"}, 200, "Miss", 2)
	step("B: fresh entry kept", b, "GET", "/v1/todos", "", nil, 200, "Hit", 2)
	step("forged identity changes nothing", b, "GET", "/v1/todos", "", map[string]string{"X-Auth-Sub": "someone-else"}, 200, "Hit", 2)
}

// TestManyUsersNoLeak: users with to-dos of their own read identical paths through
// the gateway at the same time; nobody ever sees another's to-do.
func TestManyUsersNoLeak(t *testing.T) {
	ep := mototest.Endpoint(t)
	s := newStackEnv(t, ep, 12)
	a, _ := startAll(t, s)
	for name, tok := range s.tokens {
		if status, _, body := a.do(t, "POST", "/v1/todos", tok, fmt.Sprintf(`{"title":%q}`, name), nil); status != 201 {
			t.Fatalf("create for %s: %d %s", name, status, body)
		}
	}
	var wg sync.WaitGroup
	var leaks, failures, hits atomic.Int64
	for round := range 4 {
		for name, tok := range s.tokens {
			wg.Go(func() {
				for _, p := range []string{"/v1/todos", "/v1/todos?limit=10"} {
					req, _ := http.NewRequest("GET", a.base+p, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := a.client.Do(req)
					if err != nil {
						failures.Add(1)
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failures.Add(1)
						continue
					}
					if resp.Header.Get("X-Cache") == "Hit" {
						hits.Add(1)
					}
					var page struct {
						Items []struct{ Title string } `json:"items"`
					}
					if json.Unmarshal(b, &page) != nil || len(page.Items) != 1 || page.Items[0].Title != name {
						leaks.Add(1)
						t.Errorf("round %d: %s got %s", round, name, b)
					}
				}
			})
		}
	}
	wg.Wait()
	if leaks.Load() > 0 || failures.Load() > 0 {
		t.Errorf("%d answers for another user, %d failures", leaks.Load(), failures.Load())
	}
	if hits.Load() == 0 {
		t.Error("no request was answered from the cache, so the test proves nothing")
	}
}
