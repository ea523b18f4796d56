package cache

import (
	"net/url"
	"slices"
	"testing"
)

var queryKeys = []string{"limit", "nextToken"}

func TestKey(t *testing.T) {
	base, ok := Key("GET", "/v1/todos", "limit=5&nextToken=abc", queryKeys, "user-a")
	if !ok {
		t.Fatal("base key refused")
	}
	cases := []struct {
		name                      string
		method, path, query, user string
		same, ok                  bool
	}{
		{"params reordered", "GET", "/v1/todos", "nextToken=abc&limit=5", "user-a", true, true},
		{"other user", "GET", "/v1/todos", "limit=5&nextToken=abc", "user-b", false, true},
		{"anonymous", "GET", "/v1/todos", "limit=5&nextToken=abc", "", false, true},
		{"other method", "HEAD", "/v1/todos", "limit=5&nextToken=abc", "user-a", false, true},
		{"other path", "GET", "/v1/todos/", "limit=5&nextToken=abc", "user-a", false, true},
		{"other value", "GET", "/v1/todos", "limit=6&nextToken=abc", "user-a", false, true},
		{"param missing", "GET", "/v1/todos", "limit=5", "user-a", false, true},
		{"repeated param", "GET", "/v1/todos", "limit=5&limit=5&nextToken=abc", "user-a", false, true},
		{"unknown param", "GET", "/v1/todos", "limit=5&nextToken=abc&x=1", "user-a", false, false},
		{"bad query", "GET", "/v1/todos", "limit=%zz", "user-a", false, false},
		{"user smuggled into path", "GET", "/v1/todos", "limit=5&nextToken=abc", "user-a\x00", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, ok := Key(c.method, c.path, c.query, queryKeys, c.user)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if ok && (k == base) != c.same {
				t.Errorf("key %q vs base %q: same = %v, want %v", k, base, k == base, c.same)
			}
		})
	}
	empty1, _ := Key("GET", "/a", "", queryKeys, "")
	empty2, _ := Key("GET", "/a", "limit", queryKeys, "")
	if empty1 == empty2 {
		t.Error("no query and an empty limit share a key")
	}
}

// FuzzCacheKey checks that Key is injective: two requests share a key only when they
// agree on method, path, caller and every key parameter, so no caller is ever served
// an entry made for another.
func FuzzCacheKey(f *testing.F) {
	f.Add("GET", "/v1/todos", "limit=5", "alice", "GET", "/v1/todos", "limit=5", "bob")
	f.Add("GET", "/v1/todos", "", "a", "GET", "/v1/todos", "", "a")
	f.Add("GET", "/a", "limit=1&nextToken=2", "", "GET", "/a", "nextToken=2&limit=1", "")
	f.Add("GET", "/a1:", "", "b", "GET", "/a", "", "1:b")
	f.Fuzz(func(t *testing.T, m1, p1, q1, id1, m2, p2, q2, id2 string) {
		k1, ok1 := Key(m1, p1, q1, queryKeys, id1)
		k2, ok2 := Key(m2, p2, q2, queryKeys, id2)
		if again, _ := Key(m1, p1, q1, queryKeys, id1); again != k1 {
			t.Fatal("Key is not deterministic")
		}
		if ok1 {
			v, err := url.ParseQuery(q1)
			if err != nil {
				t.Fatalf("query %q does not parse but got a key", q1)
			}
			for name := range v {
				if !slices.Contains(queryKeys, name) {
					t.Fatalf("query %q has %q, not a key parameter, but got a key", q1, name)
				}
			}
		}
		if !ok1 || !ok2 || k1 != k2 {
			return
		}
		if m1 != m2 || p1 != p2 || id1 != id2 {
			t.Fatalf("(%q %q %q) and (%q %q %q) share key %q", m1, p1, id1, m2, p2, id2, k1)
		}
		v1, _ := url.ParseQuery(q1)
		v2, _ := url.ParseQuery(q2)
		for _, name := range queryKeys {
			if !slices.Equal(v1[name], v2[name]) || (v1.Has(name) != v2.Has(name)) {
				t.Fatalf("queries %q and %q differ in %s but share a key", q1, q2, name)
			}
		}
	})
}
