package api

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
)

// TestBuildNeedsUnsubscribeKey: outside dev mode blog-api refuses to start without
// UNSUBSCRIBE_KEY (a random key would verify no link the welcome mailer signs), saying
// where the key comes from; DEV_MODE=true allows a throwaway key.
func TestBuildNeedsUnsubscribeKey(t *testing.T) {
	pool := authtest.NewPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Config{Auth: pool.Config(), DefaultPageSize: 10, MaxPageSize: 50, UploadURLTTL: 60e9,
		PendingTTL: 48 * time.Hour, ClientWindow: time.Minute, MailboxWindow: time.Hour}
	_, err := Build(ctx, cfg, log)
	if err == nil || !strings.Contains(err.Error(), "UNSUBSCRIBE_KEY is not set") || !strings.Contains(err.Error(), "unsubscribe-key") {
		t.Errorf("Build without a key = %v, want a refusal naming the Secret", err)
	}
	cfg.DevMode = true
	if _, err := Build(ctx, cfg, log); err != nil {
		t.Errorf("Build in dev mode: %v", err)
	}
}
