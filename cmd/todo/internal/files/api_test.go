package files

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
)

// pagedAPI serves GET /v1/files in pages of one object, as todo-api does with
// limit=1, stating the folder on every page; prefix "" of its own when omitPrefix.
func pagedAPI(t *testing.T, keys []string, omitPrefix, repeat bool) *API {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/files" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		i := 0
		if tok := r.URL.Query().Get("nextToken"); tok != "" {
			i = int(tok[len(tok)-1] - '0')
		}
		l := Listing{Prefix: "users/sub-1/", Items: []Item{{Key: keys[i], Size: 1}}}
		if omitPrefix {
			l.Prefix = ""
		}
		if i+1 < len(keys) {
			l.NextToken = "page-" + string(rune('0'+i+1))
			if repeat {
				l.NextToken = "page-1"
			}
		}
		_ = json.NewEncoder(w).Encode(l)
	}))
	t.Cleanup(srv.Close)
	c, err := api.New(srv.URL, srv.Client(), func(context.Context) (string, error) { return "tok", nil })
	if err != nil {
		t.Fatal(err)
	}
	return &API{Client: c, HTTP: srv.Client()}
}

// TestListAllAndFolder: the CLI follows nextToken to the last page and takes the
// folder from the API's prefix; an API that states none, or repeats a token, is an
// error rather than a guess.
func TestListAllAndFolder(t *testing.T) {
	ctx := context.Background()
	a := pagedAPI(t, []string{"a", "b", "c"}, false, false)
	folder, items, err := a.ListAll(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, keys); diff != "" || folder != "users/sub-1/" {
		t.Errorf("ListAll: folder %q, keys (-want +got):\n%s", folder, diff)
	}
	if f, err := a.Folder(ctx); err != nil || f != "users/sub-1/" {
		t.Errorf("Folder = %q, %v", f, err)
	}
	if _, err := pagedAPI(t, []string{"a"}, true, false).Folder(ctx); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("Folder from an API without prefix: %v, want an error naming prefix", err)
	}
	if _, _, err := pagedAPI(t, []string{"a", "b", "c"}, false, true).ListAll(ctx, ""); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Errorf("ListAll with a repeated token: %v, want an error", err)
	}
}
