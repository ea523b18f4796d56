package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func createTable(t *testing.T, ep, name string) {
	t.Helper()
	c := provision.NewClients(mototest.AWSConfig(t, ep))
	if _, err := provision.Ensure(context.Background(), c, []provision.Resource{provision.TodosTable{TableName: name}}, nil); err != nil {
		t.Fatalf("create table: %v", err)
	}
}

// TestRecoversWhenDatabaseReturns runs the whole service (run, as main does) against a
// moto of its own, stops moto, expects prompt 503s with a clear message and a healthy
// process, restarts moto and expects the service to work again by itself.
func TestRecoversWhenDatabaseReturns(t *testing.T) {
	moto := mototest.Private(t)
	createTable(t, moto.Endpoint, "todos")
	pool := authtest.NewPool(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	// The AWS SDK reads its standard variables from the process environment itself.
	t.Setenv("AWS_ENDPOINT_URL", moto.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	environ := []string{
		fmt.Sprintf("PORT=%d", port), "HOST=127.0.0.1", "DRAIN_DELAY=0s", "AWS_REGION=us-east-1",
		"COGNITO_ISSUER=" + pool.Issuer, "COGNITO_JWKS_URL=" + pool.JWKSURL, "COGNITO_CLIENT_IDS=" + pool.ClientID,
		"PAGE_TOKEN_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, environ, logs) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	token := pool.IDToken(t, "alice", nil)
	call := func(method, path, body string) (int, string, http.Header) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	waitReady(t, base)

	if status, body, _ := call("POST", "/v1/todos", `{"title":"before the outage"}`); status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}

	moto.Stop()
	start := time.Now()
	status, body, hdr := call("GET", "/v1/todos", "")
	if status != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("with moto down: %d %s (Retry-After %q), want 503", status, body, hdr.Get("Retry-After"))
	}
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &env)
	if env.Error.Code != "dependency_unavailable" || strings.Contains(body, "127.0.0.1") {
		t.Errorf("outage body = %s, want code dependency_unavailable and no internal detail", body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the 503 took %s; it must come promptly", took)
	}
	if status, _, _ := call("POST", "/v1/todos", `{"title":"during the outage"}`); status != 503 {
		t.Errorf("write during outage: %d, want 503", status)
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz during outage: %v", err)
	}
	if !strings.Contains(logs.String(), "dependency unavailable") {
		t.Errorf("the outage was not logged for the operator:\n%s", logs.String())
	}

	if err := moto.Start(); err != nil {
		t.Fatal(err)
	}
	createTable(t, moto.Endpoint, "todos")
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, _ = call("POST", "/v1/todos", `{"title":"after the outage"}`)
		if status == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not recover after moto came back: %d %s", status, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	status, body, _ = call("GET", "/v1/todos", "")
	if status != 200 || !strings.Contains(body, "after the outage") || strings.Contains(body, "during the outage") {
		t.Errorf("after recovery: %d %s", status, body)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("todo-api was not ready within 10 s")
}
