package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cipt "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbt "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
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
	mototest.CreateTable(t, db, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbt.BillingModePayPerRequest,
		AttributeDefinitions: []ddbt.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbt.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbt.ScalarAttributeTypeS}},
		KeySchema:            []ddbt.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbt.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbt.KeyTypeRange}},
	})
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
	childproc.Prepare(cmd, false)
	if _, err := childproc.Start(cmd); err != nil {
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
	base    string
	client  *http.Client
	metrics string // its /metrics
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
// in front of it, with the production route table; the gateways are each other's
// peers (PEERS, a shared PEER_KEY).
func startAll(t *testing.T, s stackEnv, extraEnv ...string) (gw, gw) {
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

	peerA, peerB := porttest.Free(t), porttest.Free(t)
	gwEnv := append(slices.Clone(s.env), "ROUTES_FILE=routes.yaml", "TODO_API_URL="+apiURL,
		fmt.Sprintf("PEERS=127.0.0.1:%d,127.0.0.1:%d", peerA, peerB), "PEER_KEY="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	gwEnv = append(gwEnv, extraEnv...)
	portA, portB, metricsA, metricsB := porttest.Free(t), porttest.Free(t), porttest.Free(t), porttest.Free(t)
	a := gw{fmt.Sprintf("https://localhost:%d", portA), tlsClient, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsA)}
	b := gw{fmt.Sprintf("http://127.0.0.1:%d", portB), plain, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsB)}
	start(t, gateway, append(slices.Clone(gwEnv), fmt.Sprintf("PORT=%d", portA), fmt.Sprintf("PEER_PORT=%d", peerA), fmt.Sprintf("METRICS_PORT=%d", metricsA), "TLS_CERT_FILE="+paths.Cert, "TLS_KEY_FILE="+paths.Key), a.base, a.client)
	start(t, gateway, append(slices.Clone(gwEnv), fmt.Sprintf("PORT=%d", portB), fmt.Sprintf("PEER_PORT=%d", peerB), fmt.Sprintf("METRICS_PORT=%d", metricsB)), b.base, b.client)
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

// TestTwoGateways runs two gateway processes, peers of each other, in front of one
// todo-api: each keeps its own cache and answers hits locally; a write through one
// reaches the other's cache, so the caller reads it there without asking for a fresh
// answer.
func TestTwoGateways(t *testing.T) {
	ep := mototest.Endpoint(t)
	s := newStackEnv(t, ep, 1)
	// A replica answers hits only while it has heard from its peer within the window: a
	// wider one than the 1s default keeps a loaded machine's stalls from turning the
	// hits below into misses.
	const window = 3 * time.Second
	a, b := startAll(t, s, "PEER_WINDOW="+window.String())
	for _, g := range []gw{a, b} {
		metricstest.WaitValue(t, g.metrics, "gateway_peer_coherent", nil, 1)
	}
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
	written := time.Now() // A invalidated, and queued the invalidation for B, before it answered
	step("A: read own write", a, "GET", "/v1/todos", "", nil, 200, "Miss", 2)
	// B hears of the write within the peer window (PEER_WINDOW): until then it may
	// still answer its old entry; a request sent later than that must not get it,
	// however slow the machine (B's lease from A then ran out before B decided).
	for guard := time.Now().Add(30 * time.Second); ; {
		sent := time.Now()
		status, h, got := b.do(t, "GET", "/v1/todos", token, "", nil)
		n := len(titles(t, got))
		if status == 200 && n == 2 {
			break
		}
		if n != 1 || h.Get("X-Cache") != "Hit" {
			t.Fatalf("B after the write: %d X-Cache %q with %d to-dos", status, h.Get("X-Cache"), n)
		}
		if sent.After(written.Add(window)) {
			t.Fatalf("B served the list from before the write to a request sent %s after it, past the peer window", sent.Sub(written))
		}
		if time.Now().After(guard) {
			t.Fatal("B never saw the write")
		}
		time.Sleep(5 * time.Millisecond)
	}
	step("B: fresh entry kept", b, "GET", "/v1/todos", "", nil, 200, "Hit", 2)
	step("forged identity changes nothing", b, "GET", "/v1/todos", "", map[string]string{"X-Auth-Sub": "someone-else"}, 200, "Hit", 2)
	step("B: caller asks for fresh", b, "GET", "/v1/todos", "", map[string]string{"Cache-Control": "max-age=0"}, 200, "Miss", 2)
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

// TestTransportHeaders: every answer of the to-do gateway (the production route
// table) carries HSTS and nosniff: probes, errors, hits, misses, writes.
func TestTransportHeaders(t *testing.T) {
	ep := mototest.Endpoint(t)
	s := newStackEnv(t, ep, 1)
	a, _ := startAll(t, s)
	var token string
	for _, tok := range s.tokens {
		token = tok
	}
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"liveness", "GET", "/healthz", "", "", 200},
		{"readiness", "GET", "/readyz", "", "", 200},
		{"no route", "GET", "/nope", token, "", 404},
		{"not canonical", "GET", "/v1//todos", token, "", 400},
		{"no token", "GET", "/v1/todos", "", "", 401},
		{"write", "POST", "/v1/todos", token, `{"title":"x"}`, 201},
		{"miss", "GET", "/v1/todos", token, "", 200},
		{"hit", "GET", "/v1/todos", token, "", 200},
		{"upstream 404", "GET", "/v1/todos/01ARZ3NDEKTSV4RRFFQ69G5FAV", token, "", 404},
	} {
		status, h, body := a.do(t, c.method, c.path, c.token, c.body, nil)
		if status != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, status, c.status, body)
		}
		if got := h.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
			t.Errorf("%s: Strict-Transport-Security %q", c.name, got)
		}
		if got := h.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", c.name, got)
		}
	}
}

// TestBadTokenFlood: one address floods the gateway with bad tokens from 32
// connections while a signed-in user on another address lists their to-dos. The route
// bucket of the production table is scaled down (200/s) so that the flood this machine
// makes drains it many times over; the test checks that it did. With the per-address
// limit of failed authentications (the default) every request of the user succeeds;
// without it (AUTH_FAILURE_RATE=0) most are refused: the test tells the two apart.
func TestBadTokenFlood(t *testing.T) {
	ep := mototest.Endpoint(t)
	s := newStackEnv(t, ep, 1)
	var token string
	for _, tok := range s.tokens {
		token = tok
	}
	prod, err := os.ReadFile("routes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const prodLimit, testLimit = "route: {rate: 2000, burst: 4000}", "route: {rate: 200, burst: 200}"
	if !bytes.Contains(prod, []byte(prodLimit)) {
		t.Fatalf("routes.yaml no longer has %q: update the test", prodLimit)
	}
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, bytes.Replace(prod, []byte(prodLimit), []byte(testLimit), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	api := build(t, dir, "./services/todo-api")
	gateway := build(t, dir, "./services/gateway")
	plain := &http.Client{Timeout: 10 * time.Second}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", porttest.Free(t))
	start(t, api, append(slices.Clone(s.env), "PORT="+apiURL[strings.LastIndex(apiURL, ":")+1:]), apiURL, plain)

	from := func(ip string, conns int) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	}
	for _, tc := range []struct {
		name        string
		env         string
		wantStarved bool
	}{
		{"limited per address", "AUTH_FAILURE_RATE=1", false},
		{"not limited", "AUTH_FAILURE_RATE=0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := porttest.Free(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			start(t, gateway, append(slices.Clone(s.env), "ROUTES_FILE="+routes, "TODO_API_URL="+apiURL, tc.env,
				fmt.Sprintf("PORT=%d", port), fmt.Sprintf("METRICS_PORT=%d", porttest.Free(t))), base, plain)

			flood := from("127.0.0.2", 32)
			stop := make(chan struct{})
			var sent, refused atomic.Int64
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						req, _ := http.NewRequest("GET", base+"/v1/todos", nil)
						req.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImR1bW15In0.e30.c2ln")
						resp, err := flood.Do(req)
						if err != nil {
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						sent.Add(1)
						if resp.StatusCode == 429 {
							refused.Add(1)
						}
					}
				})
			}
			user := from("127.0.0.3", 1)
			began := time.Now()
			codes := map[int]int{}
			for range 30 {
				req, _ := http.NewRequest("GET", base+"/v1/todos", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := user.Do(req)
				if err != nil {
					t.Fatalf("the user's request: %v", err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[resp.StatusCode]++
				time.Sleep(100 * time.Millisecond) // within the user's own limit (20/s)
			}
			close(stop)
			wg.Wait()
			took := time.Since(began)
			// What the route's bucket let through in that time, at most.
			capacity := 200 + 200*took.Seconds()
			t.Logf("flood: %d requests (%d refused with 429) in %s; the route bucket holds %.0f; the user got %v", sent.Load(), refused.Load(), took.Round(time.Millisecond), capacity, codes)
			if float64(sent.Load()) < 3*capacity {
				t.Fatalf("the flood sent %d requests, not enough to drain the route bucket (%.0f) three times over: the test proves nothing on this machine", sent.Load(), capacity)
			}
			if starved := codes[200] < 15; starved != tc.wantStarved {
				t.Errorf("the signed-in user got %v during the flood; starved = %v, want %v", codes, starved, tc.wantStarved)
			}
			if !tc.wantStarved && codes[200] != 30 {
				t.Errorf("the signed-in user got %v; want every request answered 200", codes)
			}
		})
	}
}
