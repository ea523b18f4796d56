package api

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/auth/authtest"
	"github.com/serverless-architect/serverless-architect/internal/svcmain"
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

// TestBuildNeedsOriginSecret: parsed from the environment as in production, blog-api
// refuses to start believing CloudFront-Viewer-Address (the default) without the origin
// secret that proves a request came through the distribution, naming the variable and
// the way out; CLIENT_ADDRESS_HEADER=none (no CDN) or a secret name lets it start.
func TestBuildNeedsOriginSecret(t *testing.T) {
	pool := authtest.NewPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := []string{"AWS_REGION=us-east-1", "DEV_MODE=true", "COGNITO_ISSUER=" + pool.Config().Issuer, "COGNITO_JWKS_URL=" + pool.Config().JWKSURL,
		"COGNITO_CLIENT_IDS=" + strings.Join(pool.Config().ClientIDs, ",")}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "ORIGIN_VERIFY_SECRET_ID must name"},
		{[]string{"CLIENT_ADDRESS_HEADER="}, "ORIGIN_VERIFY_SECRET_ID must name"},
		{[]string{"CLIENT_ADDRESS_HEADER=none"}, ""},
		{[]string{"ORIGIN_VERIFY_SECRET_ID=myblog-origin-verify"}, ""},
	} {
		cfg, err := svcmain.Parse[Config](append(slices.Clone(base), tc.env...))
		if err != nil {
			t.Fatalf("parse %v: %v", tc.env, err)
		}
		_, err = Build(ctx, cfg, log)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Build with %v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "CLIENT_ADDRESS_HEADER=none")):
			t.Errorf("Build with %v = %v, want a refusal containing %q and the way out", tc.env, err, tc.want)
		}
	}
}
