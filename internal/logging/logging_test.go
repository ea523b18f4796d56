package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRequestIDOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "info", "svc").With("component", "x")
	ctx := WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "with id")
	log.Info("without id")
	log.DebugContext(ctx, "filtered out")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["requestId"] != "req-1" || first["service"] != "svc" || first["component"] != "x" {
		t.Errorf("first line = %v", first)
	}
	if _, ok := second["requestId"]; ok {
		t.Errorf("a line without a request context has a requestId: %v", second)
	}
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123":                 true,
		"0af7651916cd43dd8448eb2": true,
		"":                        false,
		"has space":               false,
		"quote\"":                 false,
		"new\nline":               false,
		strings.Repeat("a", 129):  false,
	} {
		if got := ValidRequestID(id); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", id, got, want)
		}
	}
	if a, b := NewRequestID(), NewRequestID(); a == b || !ValidRequestID(a) {
		t.Errorf("NewRequestID: %q, %q", a, b)
	}
}
