package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth"
	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/server"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/route"
)

// listService is a fake todo-api: each user's list, which a POST appends to.
type listService struct {
	srv   *httptest.Server
	mu    sync.Mutex
	lists map[string][]string
}

func newListService(t *testing.T) *listService {
	s := &listService{lists: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub := callerOf(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			s.lists[sub] = append(s.lists[sub], string(b))
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": s.lists[sub]})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// replicaFixture is one gateway replica with its peer listener, in this process.
type replicaFixture struct {
	gw   *Gateway
	url  string
	pool *authtest.Pool
}

// newReplicas starts gateways in front of up, each listing peerAddrs (their own
// first) as PEERS.
func newReplicas(t *testing.T, pool *authtest.Pool, up string, peerPorts []int, extraPeers ...string) []*replicaFixture {
	t.Helper()
	table, err := route.Parse([]byte(`
routes:
  - name: todos
    pathPrefix: /v1/todos
    upstream: {url: "${UP}"}
    auth: cognito
    cache: {ttl: 300s}
`), LookupEnv(map[string]string{"UP": up}))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, p := range peerPorts {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p))
	}
	addrs = append(addrs, extraPeers...)
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out []*replicaFixture
	for _, port := range peerPorts {
		v, err := auth.NewVerifier(pool.Config(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{CacheMaxEntries: 1000, CacheMaxBytes: 16 << 20, AuthCacheSize: 100, AuthCacheTTL: time.Minute, ThrottleMaxCallers: 100, UpstreamMaxIdleConns: 16,
			Peers: PeerConfig{Peers: addrs, Port: port, Key: key, Window: 2 * time.Second, Grace: 4 * time.Second}}
		gw, err := New(cfg, Deps{Table: table, Verifier: v, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		errc := make(chan error, 1)
		go func() { errc <- servePeers(context.Background(), gw.Peers(), "127.0.0.1", port, log, done) }()
		srv := httptest.NewServer(server.New(server.Config{MaxBodyBytes: 1 << 20}, log, gw).Handler())
		t.Cleanup(func() {
			srv.Close()
			close(done)
			if err := <-errc; err != nil {
				t.Errorf("peers of replica %d: %v", port, err)
			}
			gw.Close()
		})
		out = append(out, &replicaFixture{gw: gw, url: srv.URL, pool: pool})
	}
	return out
}

func (r *replicaFixture) do(t *testing.T, method, user, body string) (status int, cache string, items []string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.url+"/v1/todos", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.pool.IDToken(t, user, nil))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Items []string }
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &page)
	return resp.StatusCode, resp.Header.Get(HeaderCache), page.Items
}

// TestReplicasAgree: a write through one replica invalidates the writer's entries on
// the other; the other never serves the old list once it answered with the new one,
// and hits stay local.
func TestReplicasAgree(t *testing.T) {
	pool := authtest.NewPool(t)
	up := newListService(t)
	rs := newReplicas(t, pool, up.srv.URL, []int{porttest.Free(t), porttest.Free(t)})
	a, b := rs[0], rs[1]
	for _, r := range rs {
		waitFor(t, "the replicas heard from each other", r.gw.coherent)
	}
	step := func(name string, r *replicaFixture, method string, wantStatus int, wantCache string, wantItems int) {
		t.Helper()
		status, cache, items := r.do(t, method, "alice", "")
		if status != wantStatus || cache != wantCache || (wantItems >= 0 && len(items) != wantItems) {
			t.Fatalf("%s: %d %s %v; want %d %s with %d items", name, status, cache, items, wantStatus, wantCache, wantItems)
		}
	}
	step("A lists", a, "GET", 200, "Miss", 0)
	step("A lists again", a, "GET", 200, "Hit", 0)
	step("B lists", b, "GET", 200, "Miss", 0)
	step("B lists again", b, "GET", 200, "Hit", 0)
	if status, cache, _ := b.do(t, "GET", "bob", ""); status != 200 || cache != "Miss" {
		t.Fatalf("bob lists on B: %d %s", status, cache)
	}
	if status, _, _ := a.do(t, "POST", "alice", "milk"); status != 201 {
		t.Fatalf("write through A: %d", status)
	}
	step("A reads its write at once", a, "GET", 200, "Miss", 1)
	// B learns of the write within the window; once it has, the old list is gone.
	sawNew := false
	for deadline := time.Now().Add(10 * time.Second); !sawNew && time.Now().Before(deadline); {
		_, cache, items := b.do(t, "GET", "alice", "")
		switch len(items) {
		case 1:
			sawNew = true
		case 0:
			if cache != "Hit" {
				t.Fatalf("B fetched the old list from the upstream after the write: %s", cache)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if !sawNew {
		t.Fatal("B never saw the write")
	}
	step("B keeps the new list", b, "GET", 200, "Hit", 1)
	if status, cache, _ := b.do(t, "GET", "bob", ""); status != 200 || cache != "Hit" {
		t.Errorf("bob's entry on B after alice's write: %d %s, want a Hit (only the writer's entries go)", status, cache)
	}
}

// TestReplicaThatMissesAPeerServesUncached: a replica whose peer list names a replica
// that never speaks cannot know that replica's writes, so it answers every request
// from the upstream (and says so).
func TestReplicaThatMissesAPeerServesUncached(t *testing.T) {
	pool := authtest.NewPool(t)
	up := newListService(t)
	silent := fmt.Sprintf("127.0.0.1:%d", porttest.Free(t)) // nobody listens there
	rs := newReplicas(t, pool, up.srv.URL, []int{porttest.Free(t)}, silent)
	r := rs[0]
	for i := range 3 {
		if status, cache, _ := r.do(t, "GET", "alice", ""); status != 200 || cache != "Miss" {
			t.Fatalf("request %d: %d %s; want 200 Miss (no hits without every peer's lease)", i, status, cache)
		}
	}
	if err := r.gw.Peers().Ready(context.Background()); err != nil {
		t.Errorf("a replica that knows its peers is ready (it just serves uncached): %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}
