package api

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
)

// TestBuildNeedsPageTokenKey: outside dev mode todo-api refuses to start without
// PAGE_TOKEN_KEY (a random key per process would break page tokens across replicas and
// restarts), saying where the key comes from; DEV_MODE=true allows a throwaway key.
func TestBuildNeedsPageTokenKey(t *testing.T) {
	pool := authtest.NewPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Auth: pool.Config(), DefaultPageSize: 50, MaxPageSize: 100, TodosTable: "todos"}
	_, err := Build(ctx, cfg, log)
	if err == nil || !strings.Contains(err.Error(), "PAGE_TOKEN_KEY is not set") || !strings.Contains(err.Error(), "todo-api-page-token") {
		t.Errorf("Build without a key = %v, want a refusal naming the Secret", err)
	}
	cfg.DevMode = true
	if _, err := Build(ctx, cfg, log); err != nil {
		t.Errorf("Build in dev mode: %v", err)
	}
	cfg.DevMode, cfg.PageTokenKey = false, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	if _, err := Build(ctx, cfg, log); err != nil {
		t.Errorf("Build with a key: %v", err)
	}
}
