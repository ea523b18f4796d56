// Package store is the gateway's AWS adapter: it makes an S3 bucket an HTTP upstream
// of the gateway, as CloudFront's S3 origins are: a Transport turns a GET or HEAD into GetObject or HeadObject and the
// object into an HTTP response with the object's own Content-Type, Cache-Control,
// ETag and Last-Modified. Conditional (If-None-Match, If-Modified-Since) and single
// byte-range requests go to S3 as such, so a revalidation costs S3 a 304.
//
// The object key is the request path without its leading "/"; the root, "/", is the
// root object (CloudFront's DefaultRootObject, index.html). As with CloudFront, no
// other path gets an index document: "/docs/" is the key "docs/". A missing key is
// 404: the API contract's JSON error envelope, or a small HTML page when the client
// asked for HTML.
package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logging"
)

// API is the part of the S3 client the transport uses.
type API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Transport is an http.RoundTripper that reads objects of one bucket.
type Transport struct {
	// S3 is the client; it may be built lazily (see Client).
	S3 func(ctx context.Context) (API, error)
	// Bucket is the bucket read.
	Bucket string
	// RootObject is the key served for the root path "/" (index.html).
	RootObject string
}

// Key is the object key for an upstream path.
func (t *Transport) Key(p string) string {
	key := strings.TrimPrefix(p, "/")
	if key == "" {
		key = t.RootObject
	}
	return key
}

// RoundTrip implements http.RoundTripper. Only GET and HEAD are served (405
// otherwise); S3 errors other than a missing key or a failed precondition are
// returned as errors, which the gateway answers with 502.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errorResponse(r, apperr.New(apperr.MethodNotAllowed, "method %s is not allowed here", r.Method), "GET, HEAD"), nil
	}
	client, err := t.S3(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	key := t.Key(r.URL.Path)
	cond := conditions{ifNoneMatch: r.Header.Get("If-None-Match"), ifModifiedSince: r.Header.Get("If-Modified-Since"), rng: singleByteRange(r.Header.Get("Range"))}

	if r.Method == http.MethodHead {
		in := &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(key)}
		cond.head(in)
		out, err := client.HeadObject(ctx, in)
		if err != nil {
			return t.failed(r, client, key, cond.rng, err)
		}
		h := header(meta{out.ContentType, out.CacheControl, out.ETag, out.LastModified, out.ContentEncoding, out.ContentDisposition, out.ContentLanguage, out.ExpiresString})
		return response(r, statusOf(cond, out.ContentRange), h, aws.ToInt64(out.ContentLength), out.ContentRange, http.NoBody), nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(key)}
	cond.get(in)
	out, err := client.GetObject(ctx, in)
	if err != nil {
		return t.failed(r, client, key, cond.rng, err)
	}
	h := header(meta{out.ContentType, out.CacheControl, out.ETag, out.LastModified, out.ContentEncoding, out.ContentDisposition, out.ContentLanguage, out.ExpiresString})
	return response(r, statusOf(cond, out.ContentRange), h, aws.ToInt64(out.ContentLength), out.ContentRange, out.Body), nil
}

// singleByteRange is the Range header S3 is sent: one byte range ("bytes=a-b",
// "bytes=a-" or "bytes=-n"), else "". Other ranges (other units, several ranges,
// malformed ones) are ignored and the object is answered whole, as RFC 9110 §14.2
// allows and as S3 itself answers several ranges.
func singleByteRange(v string) string {
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return ""
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	digits := func(s string) bool {
		if s == "" || len(s) > 19 {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	switch {
	case !ok:
		return ""
	case first == "":
		ok = digits(last) // a suffix: the last n bytes
	case last == "":
		ok = digits(first)
	default:
		ok = digits(first) && digits(last)
		if ok {
			a, _ := strconv.ParseInt(first, 10, 64)
			b, _ := strconv.ParseInt(last, 10, 64)
			ok = a <= b
		}
	}
	if !ok {
		return ""
	}
	return "bytes=" + first + "-" + last
}

// conditions are the request's conditional and range headers, passed to S3.
type conditions struct{ ifNoneMatch, ifModifiedSince, rng string }

func (c conditions) get(in *s3.GetObjectInput) {
	if c.ifNoneMatch != "" {
		in.IfNoneMatch = aws.String(c.ifNoneMatch)
	} else if t, err := http.ParseTime(c.ifModifiedSince); err == nil {
		in.IfModifiedSince = aws.Time(t)
	}
	if c.rng != "" {
		in.Range = aws.String(c.rng)
	}
}

func (c conditions) head(in *s3.HeadObjectInput) {
	if c.ifNoneMatch != "" {
		in.IfNoneMatch = aws.String(c.ifNoneMatch)
	} else if t, err := http.ParseTime(c.ifModifiedSince); err == nil {
		in.IfModifiedSince = aws.Time(t)
	}
	if c.rng != "" {
		in.Range = aws.String(c.rng)
	}
}

func statusOf(c conditions, contentRange *string) int {
	if c.rng != "" && aws.ToString(contentRange) != "" {
		return http.StatusPartialContent
	}
	return http.StatusOK
}

// meta is the object metadata that becomes response headers.
type meta struct {
	contentType, cacheControl, etag *string
	lastModified                    *time.Time
	contentEncoding, disposition    *string
	language                        *string
	expires                         *string // as S3 sent it: CloudFront passes it on verbatim
}

func header(m meta) http.Header {
	h := http.Header{"Accept-Ranges": {"bytes"}}
	set := func(k string, v *string) {
		if s := aws.ToString(v); s != "" {
			h[k] = []string{s}
		}
	}
	if aws.ToString(m.contentType) == "" {
		h["Content-Type"] = []string{"application/octet-stream"}
	}
	set("Content-Type", m.contentType)
	set("Cache-Control", m.cacheControl)
	set("Etag", m.etag)
	set("Content-Encoding", m.contentEncoding)
	set("Content-Disposition", m.disposition)
	set("Content-Language", m.language)
	if m.lastModified != nil {
		h["Last-Modified"] = []string{m.lastModified.UTC().Format(http.TimeFormat)}
	}
	set("Expires", m.expires)
	return h
}

func response(r *http.Request, status int, h http.Header, length int64, contentRange *string, body io.ReadCloser) *http.Response {
	if s := aws.ToString(contentRange); s != "" {
		h["Content-Range"] = []string{s}
	}
	h["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	if r.Method == http.MethodHead {
		if body != nil && body != http.NoBody {
			_ = body.Close()
		}
		body = http.NoBody
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: body, ContentLength: length, Request: r,
	}
}

// failed maps an S3 error: a missing key is 404, a failed If-None-Match or
// If-Modified-Since 304 (with the validators S3 sent), an unsatisfiable range rng 416
// (with the object's size in Content-Range when a HEAD finds it); anything else is an
// error.
func (t *Transport) failed(r *http.Request, client API, key, rng string, err error) (*http.Response, error) {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return notFound(r, key), nil
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		switch re.HTTPStatusCode() {
		case http.StatusNotModified:
			h := http.Header{}
			for _, k := range []string{"Etag", "Cache-Control", "Last-Modified", "Expires"} {
				if v := re.Response.Header.Get(k); v != "" {
					h[k] = []string{v}
				}
			}
			return &http.Response{Status: "304 Not Modified", StatusCode: http.StatusNotModified, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: h, Body: http.NoBody, Request: r}, nil
		case http.StatusNotFound:
			return notFound(r, key), nil
		case http.StatusRequestedRangeNotSatisfiable:
			resp := errorResponse(r, apperr.New(apperr.RangeNotSatisfiable, "the range %q starts past the end of the file", rng), "")
			if out, herr := client.HeadObject(r.Context(), &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(key)}); herr == nil {
				resp.Header["Content-Range"] = []string{fmt.Sprintf("bytes */%d", aws.ToInt64(out.ContentLength))}
			}
			return resp, nil
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
		return notFound(r, key), nil
	}
	return nil, fmt.Errorf("s3 get %s/%s: %w", t.Bucket, key, err)
}

// notFoundPage is the 404 page HTML clients get.
const notFoundPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found</title>
<meta name="viewport" content="width=device-width,initial-scale=1"></head>
<body><h1>Not found</h1><p>There is no page at this address. <a href="/">Go to the home page</a>.</p></body></html>
`

// notFound is the 404 answer: an HTML page for browsers, else the error envelope.
// Neither is cached by shared caches (no-store), as CloudFront's default error caching
// would otherwise hide a page uploaded a moment later.
func notFound(r *http.Request, key string) *http.Response {
	if wantsHTML(r) {
		h := http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Cache-Control": {"no-store"}}
		return response(r, http.StatusNotFound, h, int64(len(notFoundPage)), nil, io.NopCloser(strings.NewReader(notFoundPage)))
	}
	return errorResponse(r, apperr.New(apperr.NotFound, "no object %q", key), "")
}

// errorResponse renders err as the contract's error envelope.
func errorResponse(r *http.Request, err error, allow string) *http.Response {
	w := &bufferWriter{h: http.Header{}}
	apperr.Write(w, err, logging.RequestID(r.Context()))
	w.h["Cache-Control"] = []string{"no-store"}
	if allow != "" {
		w.h["Allow"] = []string{allow}
	}
	return response(r, w.code, w.h, int64(w.b.Len()), nil, io.NopCloser(&w.b))
}

// wantsHTML reports whether the client's Accept prefers HTML (a browser navigating).
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// bufferWriter is an http.ResponseWriter that keeps what is written.
type bufferWriter struct {
	h    http.Header
	code int
	b    bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.h }

func (w *bufferWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.b.Write(p)
}
