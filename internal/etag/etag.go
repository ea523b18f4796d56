// Package etag is the one comparison of entity tags the HTTP services make: an
// If-None-Match header against the tag of what they would answer (RFC 9110 §13.1.2).
package etag

import "strings"

// NoneMatchHit reports whether the If-None-Match header value header names tag, so that
// a GET or HEAD is answered 304 Not Modified. The comparison is the weak one RFC 9110
// prescribes for If-None-Match: a "W/" prefix on either side is ignored and the quoted
// opaque parts must be equal. "*" names any tag. An empty tag (an answer with no ETag)
// is never named.
func NoneMatchHit(header, tag string) bool {
	if tag == "" || header == "" {
		return false
	}
	tag = strings.TrimPrefix(tag, "W/")
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == tag {
			return true
		}
	}
	return false
}
