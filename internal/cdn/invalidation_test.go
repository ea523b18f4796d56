package cdn

import (
	"net/http"
	"testing"
)

func TestKeyPath(t *testing.T) {
	r := &Resolved{Cache: CachePolicy{QueryStrings: Everything, Headers: []string{"Authorization"}}}
	for _, path := range []string{"/", "/v1/posts", "/a:b/12:x", "/media/%20x.jpg", ""} {
		key := r.CacheKey("GET", path, "limit=10&x=1:2", http.Header{"Authorization": {"Bearer 3:abc"}})
		if got, ok := KeyPath(key); !ok || got != path {
			t.Errorf("KeyPath(CacheKey(%q)) = %q, %v", path, got, ok)
		}
	}
	for _, key := range []string{"", "GET", "3:GET", "3:GET9:/short", "x:GET1:/", "-1:1:/"} {
		if p, ok := KeyPath(key); ok {
			t.Errorf("KeyPath(%q) = %q, true; want no path from a malformed key", key, p)
		}
	}
}

func TestInvalidationCovers(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/v1/posts", "/v1/posts", true},
		{"/v1/posts", "/v1/posts/a", false},
		{"/v1/posts", "/V1/posts", false},
		{"/v1/posts*", "/v1/posts", true},
		{"/v1/posts*", "/v1/posts/a", true},
		{"/v1/posts*", "/v1/postsX", true},
		{"/v1/posts*", "/v1/photos", false},
		{"/v1/posts/*", "/v1/posts", false},
		{"/*", "/anything/at/all", true},
		{"/index.html", "/", false},
		{"/", "/", true},
		{"/v1/posts?limit=10", "/v1/posts", true},
	} {
		if got := InvalidationCovers(tc.pattern, tc.path); got != tc.want {
			t.Errorf("InvalidationCovers(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}
