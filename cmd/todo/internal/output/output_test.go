package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
)

func todo(t *testing.T, raw string) api.Todo {
	t.Helper()
	var td api.Todo
	if err := json.Unmarshal([]byte(raw), &td); err != nil {
		t.Fatal(err)
	}
	td.Raw = json.RawMessage(raw)
	return td
}

func TestTable(t *testing.T) {
	milk := `{"id":"01JAAAAAAAAAAAAAAAAAAAAAAA","title":"Buy milk","notes":"","done":true,"dueAt":"2026-12-24T18:00:00Z","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","version":2}`
	taxes := `{"id":"01JBBBBBBBBBBBBBBBBBBBBBBB","title":"File\ttaxes\nsoon","done":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","version":1}`
	tests := []struct {
		name  string
		todos []api.Todo
		want  string
	}{
		{name: "empty", want: "no to-dos\n"},
		{
			name:  "two",
			todos: []api.Todo{todo(t, milk), todo(t, taxes)},
			want: "" +
				"ID                          TITLE            DONE  DUE\n" +
				"01JAAAAAAAAAAAAAAAAAAAAAAA  Buy milk         ✓     2026-12-24T18:00:00Z\n" +
				"01JBBBBBBBBBBBBBBBBBBBBBBB  File taxes soon        -\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Table(&b, tt.todos); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("Table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDetail(t *testing.T) {
	td := todo(t, `{"id":"01JA","title":"Buy milk","notes":"two litres","done":false,"dueAt":"2026-12-24T18:00:00+01:00","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00Z","version":3}`)
	var b bytes.Buffer
	if err := Detail(&b, td); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"id:      01JA\n" +
		"title:   Buy milk\n" +
		"notes:   two litres\n" +
		"done:    no\n" +
		"due:     2026-12-24T18:00:00+01:00\n" +
		"created: 2026-01-01T00:00:00Z\n" +
		"updated: 2026-01-02T00:00:00Z\n" +
		"version: 3\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("Detail (-want +got):\n%s", diff)
	}
}

func TestJSON(t *testing.T) {
	// An unknown field shows that the API's object passes through unchanged.
	raw := `{"id":"01JA","title":"Buy milk","done":false,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","version":1,"extra":"kept"}`
	td := todo(t, raw)

	var one bytes.Buffer
	if err := JSON(&one, td); err != nil {
		t.Fatal(err)
	}
	var gotOne, wantOne map[string]any
	mustUnmarshal(t, one.Bytes(), &gotOne)
	mustUnmarshal(t, []byte(raw), &wantOne)
	if diff := cmp.Diff(wantOne, gotOne); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}

	for _, todos := range [][]api.Todo{nil, {td, td}} {
		var list bytes.Buffer
		if err := Items(&list, todos); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Items []map[string]any `json:"items"`
		}
		mustUnmarshal(t, list.Bytes(), &got)
		if got.Items == nil || len(got.Items) != len(todos) {
			t.Errorf("Items printed %s, want %d items (an empty list as [])", list.String(), len(todos))
		}
		for _, it := range got.Items {
			if diff := cmp.Diff(wantOne, it); diff != "" {
				t.Errorf("Items item (-want +got):\n%s", diff)
			}
		}
		if !strings.HasSuffix(list.String(), "\n") {
			t.Error("Items output does not end with a newline")
		}
	}
}

func TestDueFormatting(t *testing.T) {
	if got := due(nil); got != "-" {
		t.Errorf("due(nil) = %q, want -", got)
	}
	d := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if got, want := due(&d), "2026-03-04T05:06:07Z"; got != want {
		t.Errorf("due = %q, want %q", got, want)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
}
