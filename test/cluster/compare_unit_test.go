package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLostFields(t *testing.T) {
	tests := []struct {
		name         string
		sent, stored map[string]any
		want         []string
	}{
		{
			name:   "defaults added",
			sent:   map[string]any{"spec": map[string]any{"a": "x"}},
			stored: map[string]any{"spec": map[string]any{"a": "x", "timeoutSeconds": int64(300)}},
		},
		{
			name:   "pruned field",
			sent:   map[string]any{"spec": map[string]any{"a": "x", "unknown": true}},
			stored: map[string]any{"spec": map[string]any{"a": "x"}},
			want:   []string{".spec.unknown: sent, not stored (pruned or dropped)"},
		},
		{
			name:   "changed value",
			sent:   map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "1"}}},
			stored: map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "2"}}},
			want:   []string{".metadata.labels.a: sent 1, stored 2"},
		},
		{
			name:   "quantity normalised",
			sent:   map[string]any{"cpu": "1000m", "memory": "128Mi"},
			stored: map[string]any{"cpu": "1", "memory": "128Mi"},
		},
		{
			name:   "JSON number types",
			sent:   map[string]any{"port": float64(8080)},
			stored: map[string]any{"port": int64(8080)},
		},
		{
			name:   "list item dropped",
			sent:   map[string]any{"env": []any{map[string]any{"name": "A"}, map[string]any{"name": "B"}}},
			stored: map[string]any{"env": []any{map[string]any{"name": "A"}}},
			want:   []string{".env: sent 2 items, stored 1"},
		},
		{
			name:   "field inside a list item pruned",
			sent:   map[string]any{"containers": []any{map[string]any{"name": "c", "bogus": "x"}}},
			stored: map[string]any{"containers": []any{map[string]any{"name": "c"}}},
			want:   []string{".containers[0].bogus: sent, not stored (pruned or dropped)"},
		},
		{
			name:   "explicit null",
			sent:   map[string]any{"a": nil},
			stored: map[string]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, lostFields(tt.sent, tt.stored)); diff != "" {
				t.Errorf("lostFields (-want +got):\n%s", diff)
			}
		})
	}
}
