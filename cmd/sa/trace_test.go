package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

func TestWriteWaterfall(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	spans := []devstack.Span{
		{TraceID: "t", SpanID: "a", ParentSpanID: "caller", Service: "gateway", Name: "GET", Kind: "server", Start: t0, End: t0.Add(40 * ms), Status: "unset"},
		{TraceID: "t", SpanID: "b", ParentSpanID: "a", Service: "todo-api", Name: "GET /v1/todos", Kind: "server", Start: t0.Add(10 * ms), End: t0.Add(30 * ms),
			Attributes: map[string]any{"http.route": "/v1/todos"}},
		{TraceID: "t", SpanID: "c", ParentSpanID: "b", Service: "todo-api", Name: "DynamoDB.Query", Kind: "client", Start: t0.Add(20 * ms), End: t0.Add(30 * ms),
			Status: "error", StatusMessage: "throttled", Attributes: map[string]any{"aws.dynamodb.table_names": []any{"todos"}}},
	}
	var b bytes.Buffer
	writeWaterfall(&b, "t", spans, 4)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want a title, a blank, a header and 3 spans:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[0], "3 spans, 2 services, 40.0ms") {
		t.Errorf("title %q", lines[0])
	}
	for i, want := range []struct{ name, bar, rest string }{
		{"GET (server)", "████", "ok"},
		{"  GET /v1/todos (server)", " ██ ", "http.route=/v1/todos"},
		{"    DynamoDB.Query (client)", "  █ ", `ERROR  aws.dynamodb.table_names=[todos] "throttled"`},
	} {
		line := lines[3+i]
		if !strings.Contains(line, want.name) || !strings.Contains(line, want.bar) || !strings.Contains(line, want.rest) {
			t.Errorf("line %d = %q, want %q, bar %q and %q", i, line, want.name, want.bar, want.rest)
		}
	}
}
