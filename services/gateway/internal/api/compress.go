package api

import (
	"bytes"
	"compress/gzip"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/serverless-architect/serverless-architect/internal/cdn"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
)

// minCompressBytes is the smallest body compressed: CloudFront's lower bound (1,000
// bytes); below it the encoding's framing eats most of the gain.
const minCompressBytes = 1000

// Compression levels: brotli's 6 and gzip's default trade a few milliseconds per
// stored entry (compression happens once per fetch, not per hit) for most of the gain.
const (
	brotliQuality = 6
	gzipLevel     = gzip.DefaultCompression
)

// compressible reports whether a response of n bytes with header h is worth
// compressing: a text type, not already encoded, not marked no-transform.
func compressible(h http.Header, n int) bool {
	if n < minCompressBytes {
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false // never compress twice
	}
	if _, nt := cdn.Directives(h)["no-transform"]; nt {
		return false
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true // application/ld+json, image/svg+xml, application/atom+xml, ...
	}
	switch mt {
	case "application/json", "application/javascript", "application/x-javascript", "application/xml",
		"application/wasm", "application/manifest+json", "font/ttf", "font/otf", "application/vnd.ms-fontobject":
		return true
	}
	return false // images, video, archives, woff/woff2 are compressed already
}

// encode returns brotli and gzip copies of body, smallest first, keeping only those
// smaller than body.
func encode(body []byte) []cache.Encoded {
	var out []cache.Encoded
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotliQuality)
	if _, err := bw.Write(body); err == nil && bw.Close() == nil && br.Len() < len(body) {
		out = append(out, cache.Encoded{Coding: "br", Body: slices.Clip(br.Bytes())})
	}
	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzipLevel)
	if _, err := gw.Write(body); err == nil && gw.Close() == nil && gz.Len() < len(body) {
		out = append(out, cache.Encoded{Coding: "gzip", Body: slices.Clip(gz.Bytes())})
	}
	slices.SortStableFunc(out, func(a, b cache.Encoded) int { return len(a.Body) - len(b.Body) })
	return out
}

// pickEncoding chooses among encs (smallest first) the one the Accept-Encoding values
// weigh highest (q > 0, directly or through *; "x-gzip" is gzip), the smallest among
// equals, or nil for the identity body: when none is acceptable, or when the client
// weighs identity above every coding it accepts.
func pickEncoding(accept []string, encs []cache.Encoded) *cache.Encoded {
	if len(accept) == 0 {
		return nil
	}
	q := map[string]float64{}
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if name == "x-gzip" {
				name = "gzip"
			}
			weight := 1.0
			if p, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(p) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					weight = f
				}
			}
			q[name] = weight
		}
	}
	best, bestW := -1, 0.0
	for i := range encs {
		w, ok := q[encs[i].Coding]
		if !ok {
			w, ok = q["*"]
		}
		if ok && w > bestW {
			best, bestW = i, w
		}
	}
	if best < 0 {
		return nil
	}
	if w, ok := q["identity"]; ok && w > bestW {
		return nil
	}
	return &encs[best]
}

// appendVary adds name to a Vary header's values unless it is there already.
func appendVary(vary []string, name string) []string {
	for _, v := range vary {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return vary
			}
		}
	}
	return append(slices.Clip(vary), name)
}
