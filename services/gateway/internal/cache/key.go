package cache

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Key builds the cache key of a request: its method, its path, the values of the
// route's key query parameters (queryKeys, sorted), and the caller's identity (empty on
// routes without an authorizer). Every part is length-prefixed, so two requests that
// differ in any part never share a key, whatever bytes the parts hold.
//
// ok is false when the request cannot be cached: its query does not parse, or it holds
// a parameter that is not among queryKeys (a response for other parameters must never
// answer it). Parameter order in the query does not change the key; the order of the
// values of one repeated parameter does.
func Key(method, path, rawQuery string, queryKeys []string, identity string) (key string, ok bool) {
	var b strings.Builder
	b.Grow(len(method) + len(path) + len(rawQuery) + len(identity) + 32)
	part(&b, method)
	part(&b, path)
	part(&b, identity)
	if rawQuery == "" {
		b.WriteByte('q')
		return b.String(), true
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", false
	}
	for name := range q {
		if !slices.Contains(queryKeys, name) {
			return "", false
		}
	}
	b.WriteByte('q')
	for _, name := range queryKeys {
		vals, present := q[name]
		if !present {
			continue
		}
		part(&b, name)
		b.WriteString(strconv.Itoa(len(vals)))
		b.WriteByte('#')
		for _, v := range vals {
			part(&b, v)
		}
	}
	return b.String(), true
}

// part writes s as "<len>:<s>".
func part(b *strings.Builder, s string) {
	var n [20]byte
	b.Write(strconv.AppendInt(n[:0], int64(len(s)), 10))
	b.WriteByte(':')
	b.WriteString(s)
}
