// Package sitedeploy builds and publishes a static site: it fingerprints assets by
// content hash, rewrites the references to them, gives each file its Content-Type and
// Cache-Control, uploads only what changed to an S3 bucket, and invalidates the HTML
// paths of a CloudFront distribution. It is plain Go (no npm, no bundler).
//
// Caching model, the reason for the file classes:
//
//   - Assets (CSS, JS, images, fonts) get a content hash in their name
//     (style.css -> style.3f2a1b9c04d1.css) and are cached for a year as immutable:
//     a browser with a warm cache never asks for them again, and a changed file is a
//     new name.
//   - Pages (HTML) and the few files whose names others depend on (config.json,
//     favicon.ico, robots.txt) keep their names and get HTMLCacheControl: browsers
//     revalidate on every use (a 304 of a few hundred bytes), CloudFront keeps them
//     five minutes, and every deploy invalidates them at the edge.
//
// Old hashed assets are never deleted by a deploy: an HTML page cached before the
// deploy (in a browser or at the edge, for up to its TTL) still names them, and
// deleting them would break that page. They are small and content-addressed, so they
// are left in place (Result.Stale lists them).
package sitedeploy

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Cache-Control values of the two file classes.
const (
	// ImmutableCacheControl is sent with fingerprinted assets.
	ImmutableCacheControl = "public, max-age=31536000, immutable"
	// HTMLCacheControl is sent with pages and other fixed-name files: the browser
	// revalidates every time (cheap 304s), shared caches keep it five minutes.
	HTMLCacheControl = "public, max-age=0, must-revalidate, s-maxage=300"
)

// hashLen is how many hex digits of the SHA-256 go into a fingerprinted name
// (48 bits: collisions within one site are not a concern).
const hashLen = 12

// contentTypes maps a file extension to its Content-Type. A file with another
// extension is an error: it is more likely a stray file than a page asset.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "application/xml",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
}

// fixedNames are non-HTML files that keep their names: something outside the site's
// own HTML asks for them by name.
var fixedNames = map[string]bool{"config.json": true, "favicon.ico": true, "robots.txt": true, "site.webmanifest": true}

// ContentType is the Content-Type a file named name is served with, or an error for
// an extension the site does not know.
func ContentType(name string) (string, error) {
	ct, ok := contentTypes[strings.ToLower(path.Ext(name))]
	if !ok {
		return "", fmt.Errorf("%s: unknown file type %q (known: html, css, js, json, images, fonts)", name, path.Ext(name))
	}
	return ct, nil
}

// File is one object of the built site.
type File struct {
	// Key is the object key in the bucket (and the URL path without the leading /).
	Key string
	// Source is the path of the file it was built from ("" for generated files).
	Source string
	// Body is the content to upload, references already rewritten.
	Body []byte
	// ContentType and CacheControl are the headers it is stored with.
	ContentType  string
	CacheControl string
	// Fingerprinted is true when Key carries the content hash.
	Fingerprinted bool
}

// MD5 is the hex MD5 of the body: S3's ETag of a single-part upload.
func (f File) MD5() string {
	sum := md5.Sum(f.Body)
	return hex.EncodeToString(sum[:])
}

// Site is a built site.
type Site struct {
	// Files are in key order.
	Files []File
}

// Pages are the keys of the files that keep their names (HTML and fixed names): the
// paths a deploy invalidates.
func (s *Site) Pages() []string {
	var keys []string
	for _, f := range s.Files {
		if !f.Fingerprinted {
			keys = append(keys, f.Key)
		}
	}
	return keys
}

// File returns the file built from source (e.g. "style.css"), or false.
func (s *Site) File(source string) (File, bool) {
	for _, f := range s.Files {
		if f.Source == source {
			return f, true
		}
	}
	return File{}, false
}

// Build reads every file of fsys (dot files and Markdown documentation are skipped),
// adds the generated files extra (key -> content; they keep their names, e.g.
// config.json), and returns the site: assets fingerprinted, references in HTML and CSS
// rewritten.
func Build(fsys fs.FS, extra map[string][]byte) (*Site, error) {
	b := &builder{src: map[string][]byte{}, built: map[string]File{}, state: map[string]int{}}
	err := walkFiles(fsys, func(p string, body []byte) error {
		if strings.EqualFold(path.Ext(p), ".md") {
			return nil // documentation beside the site is not published
		}
		b.src[p] = body
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read site: %w", err)
	}
	for k, v := range extra {
		if _, clash := b.src[k]; clash {
			return nil, fmt.Errorf("generated file %s would replace the site's own %s", k, k)
		}
		b.src[k] = v
		b.generated = append(b.generated, k)
	}
	if len(b.src) == 0 {
		return nil, errors.New("read site: no files")
	}
	site := &Site{}
	for _, p := range slices.Sorted(mapKeys(b.src)) {
		f, err := b.file(p)
		if err != nil {
			return nil, err
		}
		if slices.Contains(b.generated, p) {
			f.Source = ""
		}
		site.Files = append(site.Files, f)
	}
	slices.SortFunc(site.Files, func(a, b File) int { return strings.Compare(a.Key, b.Key) })
	return site, nil
}

// walkFiles calls fn with the path and content of every file of fsys, dot files and
// dot directories left out.
func walkFiles(fsys fs.FS, fn func(p string, body []byte) error) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != "." {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return fn(p, body)
	})
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// builder resolves files on demand, so a CSS file is hashed after the images it
// names have been (their new names are part of its content).
type builder struct {
	src       map[string][]byte
	generated []string
	built     map[string]File
	state     map[string]int // 1 visiting, 2 done
}

func isPage(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".html" || fixedNames[path.Base(p)]
}

// file builds the file at source path p.
func (b *builder) file(p string) (File, error) {
	if f, ok := b.built[p]; ok {
		return f, nil
	}
	if b.state[p] == 1 {
		return File{}, fmt.Errorf("%s: circular references between stylesheets", p)
	}
	b.state[p] = 1
	ct, err := ContentType(p)
	if err != nil {
		return File{}, err
	}
	body := b.src[p]
	switch strings.ToLower(path.Ext(p)) {
	case ".html":
		body, err = b.rewrite(p, body, htmlRef)
	case ".css":
		body, err = b.rewrite(p, body, cssRef)
	}
	if err != nil {
		return File{}, err
	}
	f := File{Key: p, Source: p, Body: body, ContentType: ct, CacheControl: HTMLCacheControl}
	if !isPage(p) {
		sum := sha256.Sum256(body)
		ext := path.Ext(p)
		f.Key = strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:])[:hashLen] + ext
		f.CacheControl = ImmutableCacheControl
		f.Fingerprinted = true
	}
	b.built[p] = f
	b.state[p] = 2
	return f, nil
}

// References: attribute values in HTML (src, href, poster, and each URL of a
// srcset), url(...) and @import "..." in CSS. The site's own HTML is simple and
// trusted, so regular expressions over it are enough; the first submatch group that
// matched is the reference.
var (
	htmlRef = regexp.MustCompile(`(?i)\b(?:src|href|poster)\s*=\s*(?:"([^"]*)"|'([^']*)')|\bsrcset\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	cssRef  = regexp.MustCompile(`url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')`)
)

// rewrite replaces, in body of the file at p, every reference to a fingerprinted file
// of the site with the fingerprinted name, keeping the reference's form (absolute
// path, or relative to p) and its query and fragment.
func (b *builder) rewrite(p string, body []byte, re *regexp.Regexp) ([]byte, error) {
	var firstErr error
	out := re.ReplaceAllFunc(body, func(m []byte) []byte {
		idx := re.FindSubmatchIndex(m)
		for g := 1; g < len(idx)/2; g++ {
			start, end := idx[2*g], idx[2*g+1]
			if start < 0 {
				continue
			}
			val := string(m[start:end])
			var nv string
			var err error
			if strings.Contains(strings.ToLower(string(m[:start])), "srcset") {
				nv, err = b.rewriteSrcset(p, val)
			} else {
				nv, err = b.rewriteRef(p, val)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
			return slices.Concat(m[:start], []byte(nv), m[end:])
		}
		return m
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func (b *builder) rewriteSrcset(p, v string) (string, error) {
	parts := strings.Split(v, ",")
	for i, part := range parts {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		nv, err := b.rewriteRef(p, fields[0])
		if err != nil {
			return "", err
		}
		lead := part[:strings.Index(part, fields[0])]
		parts[i] = lead + nv + part[strings.Index(part, fields[0])+len(fields[0]):]
	}
	return strings.Join(parts, ","), nil
}

// rewriteRef maps one reference. References that are not to a file of the site
// (other hosts, data: URLs, API paths, anchors) and references to pages come back
// unchanged.
func (b *builder) rewriteRef(from, ref string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "//") || strings.Contains(strings.SplitN(ref, "/", 2)[0], ":") {
		return ref, nil
	}
	target, suffix := ref, ""
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		target, suffix = ref[:i], ref[i:]
	}
	var resolved string
	if strings.HasPrefix(target, "/") {
		resolved = strings.TrimPrefix(path.Clean(target), "/")
	} else {
		resolved = path.Join(path.Dir(from), target)
	}
	if _, ok := b.src[resolved]; !ok || isPage(resolved) {
		return ref, nil
	}
	f, err := b.file(resolved)
	if err != nil {
		return "", fmt.Errorf("%s (named in %s): %w", resolved, from, err)
	}
	dir, _ := path.Split(target)
	return dir + path.Base(f.Key) + suffix, nil
}
