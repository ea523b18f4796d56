package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/telemetry"
	"github.com/serverless-architect/serverless-architect/services/gateway/internal/cache"
)

// hopByHop are the headers that concern one connection only (RFC 9110 §7.6.1) and are
// never forwarded, in either direction.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// isIdentityHeader reports whether a header name is, in any spelling, an X-Auth-*
// header (with '-' or '_'): a name that looks like an identity asserted by a proxy.
// The gateway sends none (upstreams verify the token, docs/trust.md) and drops every
// one a client sends, so no upstream can ever take a forged one for the gateway's.
func isIdentityHeader(name string) bool {
	if len(name) < 7 {
		return false
	}
	p := name[:7]
	return strings.EqualFold(p, "x-auth-") || strings.EqualFold(p, "x_auth_") || strings.EqualFold(p, "x-auth_") || strings.EqualFold(p, "x_auth-")
}

// stripIdentity removes every X-Auth-* header a client sent.
func stripIdentity(h http.Header) {
	for k := range h {
		if isIdentityHeader(k) {
			delete(h, k)
		}
	}
}

// removeHopByHop deletes the hop-by-hop headers and those the Connection header names.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// captured is a response read whole while it was streamed to the client.
type captured struct {
	status int
	header http.Header
	body   []byte
}

// forward sends the request upstream and streams the response back with X-Cache set
// to label. With capture it also returns the response when its body, read whole, is
// at most cache.MaxBodyBytes; otherwise it returns nil.
func (g *Gateway) forward(x *exchange, label string, capture bool) *captured {
	resp, ctx, cancel, err := g.send(x, nil)
	defer cancel()
	if err != nil {
		g.upstreamFailed(ctx, x, err)
		return nil
	}
	defer resp.Body.Close()
	body, ok := g.relay(x, resp, label, nil, capture)
	if !ok || !capture || body == nil {
		return nil
	}
	return &captured{status: resp.StatusCode, header: resp.Header, body: body}
}

// send sends the request upstream through the route's transport, with the header
// edit applies (nil: as outHeader makes it), bounded by the route's timeout. The
// response's hop-by-hop headers are removed. The caller calls cancel once done with
// the body; ctx is the exchange's context.
func (g *Gateway) send(x *exchange, edit func(http.Header)) (resp *http.Response, ctx context.Context, cancel context.CancelFunc, err error) {
	r, rt := x.r, x.rt
	deadline := time.Now().Add(rt.Timeout)
	t := g.transportFor(rt)
	client, direct := t.(*upstreamClient)
	if direct {
		// The synchronous client takes the deadline itself: no timer, no context.
		ctx, cancel = r.Context(), func() {}
	} else {
		ctx, cancel = context.WithDeadline(r.Context(), deadline)
	}

	up := rt.Upstream.URL
	u := &url.URL{Scheme: up.Scheme, Host: up.Host, Path: up.Path + r.URL.Path, RawQuery: r.URL.RawQuery}
	if r.URL.RawPath != "" {
		u.RawPath = up.Path + r.URL.RawPath
	}
	out := (&http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        g.outHeader(x),
		Host:          up.Host,
		ContentLength: r.ContentLength,
	}).WithContext(ctx)
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		out.Body = r.Body
	}
	if edit != nil {
		edit(out.Header)
	}

	traced := telemetry.Client(out)
	start := time.Now()
	if direct {
		resp, err = client.Do(out, deadline)
	} else {
		resp, err = t.RoundTrip(out)
	}
	g.upstreamSeconds(rt).Observe(time.Since(start).Seconds())
	if err != nil {
		traced(0, err)
		return nil, ctx, cancel, err
	}
	traced(resp.StatusCode, nil)
	removeHopByHop(resp.Header)
	return resp, ctx, cancel, nil
}

// relay writes resp's status and headers (X-Cache set to label), then head (bytes of
// the body already read) and the rest of the body. With capture it also returns the
// whole body when it is at most cache.MaxBodyBytes. ok is false when the client went
// away or the upstream broke off.
func (g *Gateway) relay(x *exchange, resp *http.Response, label string, head []byte, capture bool) (body []byte, ok bool) {
	h := x.w.Header()
	own := g.table.ResponseHeaders
	for k, v := range resp.Header {
		if _, set := own[k]; set || k == "X-Request-Id" || k == telemetry.TraceIDHeader {
			continue // the gateway's own value stays
		}
		h[k] = v
	}
	h.Set(HeaderCache, label)
	x.answering()
	x.w.WriteHeader(resp.StatusCode)
	if len(head) > 0 {
		if _, err := x.w.Write(head); err != nil {
			return nil, false
		}
		capture = false
	}

	if capture && resp.ContentLength <= cache.MaxBodyBytes {
		body = make([]byte, 0, max(resp.ContentLength, 512))
	}
	flush := resp.ContentLength < 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	bp := g.buffers.Get().(*[]byte)
	defer g.buffers.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := x.w.Write(buf[:n]); werr != nil {
				return nil, false // the client went away
			}
			if body != nil {
				if len(body)+n > cache.MaxBodyBytes {
					body = nil
				} else {
					body = append(body, buf[:n]...)
				}
			}
			if flush {
				_ = http.NewResponseController(x.w).Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			g.log.WarnContext(x.r.Context(), "upstream response broke off", "route", x.rt.Name, "err", rerr)
			return nil, false
		}
	}
	return body, true
}

// upstreamFailed answers 504 when the route's timeout passed, 502 when the upstream
// could not be reached or broke the exchange, and nothing when the client went away.
func (g *Gateway) upstreamFailed(ctx context.Context, x *exchange, err error) {
	rctx := x.r.Context()
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		g.fail(x, apperr.New(apperr.TooLarge, "request body is larger than %d bytes", mbe.Limit))
	case rctx.Err() != nil:
		x.w.code = 499 // client closed the request; nobody reads an answer
		g.log.InfoContext(rctx, "client went away before the upstream answered", "route", x.rt.Name)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		g.log.WarnContext(rctx, "upstream timed out", "route", x.rt.Name, "timeout", x.rt.Timeout.String())
		g.fail(x, apperr.New(apperr.GatewayTimeout, "the upstream did not answer within %s", x.rt.Timeout))
	default:
		g.log.WarnContext(rctx, "upstream failed", "route", x.rt.Name, "err", err)
		g.fail(x, apperr.New(apperr.BadGateway, "the upstream could not be reached"))
	}
}

// Header values shared by every request; the upstream clients only read them.
var (
	protoHTTP   = []string{"http"}
	protoHTTPS  = []string{"https"}
	noUserAgent = []string{""}
)

// outHeader is the header sent upstream: the client's minus hop-by-hop and identity
// headers, plus X-Forwarded-* and, on routes with an authorizer, the identity.
func (g *Gateway) outHeader(x *exchange) http.Header {
	r := x.r
	h := make(http.Header, len(r.Header)+8)
	var named []string
	for _, v := range r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				named = append(named, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	for k, v := range r.Header {
		if slices.Contains(hopByHop, k) || isIdentityHeader(k) || slices.Contains(named, k) {
			continue
		}
		h[k] = v
	}

	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		h["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + peer}
	} else {
		h["X-Forwarded-For"] = []string{peer}
	}
	if g.hops == 0 || r.Header.Get("X-Forwarded-Proto") == "" {
		h["X-Forwarded-Proto"] = protoHTTP
		if r.TLS != nil {
			h["X-Forwarded-Proto"] = protoHTTPS
		}
	}
	if _, ok := h["User-Agent"]; !ok {
		// Present and empty: net/http would otherwise send its own, and the upstream
		// would see a user agent the client never sent.
		h["User-Agent"] = noUserAgent
	}
	if g.hops == 0 || r.Header.Get("X-Forwarded-Host") == "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	return h
}
