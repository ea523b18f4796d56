package api

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/emailaddr"
	"github.com/serverless-architect/serverless-architect/internal/jsonapi"
	"github.com/serverless-architect/serverless-architect/internal/maillink"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

type subscribeRequest struct {
	Email *string `json:"email"`
}

// subscribeAnswer is the answer to every accepted subscribe request, whatever the
// address's state: it tells nobody who is subscribed.
var subscribeAnswer = gin.H{"status": "accepted",
	"message": "If this address can be subscribed, a confirmation email is on its way: open the link in it to start the subscription."}

// subscribe takes a subscribe request: a pending subscriber, whose confirmation email
// the welcome mailer sends. The answer is 202 and the same whether the address was
// new, pending, confirmed or over its mailbox's limit; only an invalid address (400)
// and a client over its own limit (429) are told apart.
func (h *handlers) subscribe(c *gin.Context) {
	var req subscribeRequest
	if err := jsonapi.Decode(c.Request, &req); err != nil {
		h.fail(c, err)
		return
	}
	if req.Email == nil {
		h.fail(c, apperr.Field("email", "is required"))
		return
	}
	if _, err := emailaddr.Normalise(*req.Email); err != nil {
		h.fail(c, err)
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	header := ""
	if b.Origin.Verify(c.Request) {
		header = h.ClientHeader
	}
	if err := b.Service.Subscribe(c.Request.Context(), *req.Email, ClientKey(c.Request, header)); err != nil {
		h.fail(c, err)
		return
	}
	private(c, http.StatusAccepted, subscribeAnswer)
}

// ClientKey is what a client's subscribe requests are counted under: its IP address,
// taken from header when the request carries it (CloudFront-Viewer-Address, which
// CloudFront sets from the connection it accepted, as "ip:port") and from the TCP peer
// otherwise; an IPv6 address counts as its /64, which one subscriber line usually
// holds whole. X-Forwarded-For is not used: CloudFront appends to whatever the client
// sent, and every proxy after it appends again. "" when no address can be read.
func ClientKey(r *http.Request, header string) string {
	var addr netip.Addr
	if header != "" {
		if v := strings.TrimSpace(r.Header.Get(header)); v != "" {
			addr = viewerAddress(v)
		}
	}
	if !addr.IsValid() {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			addr = ap.Addr()
		}
	}
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// viewerAddress reads CloudFront-Viewer-Address: "198.51.100.10:46532", an IPv6 address
// followed by ":port" without brackets, or either without a port.
func viewerAddress(v string) netip.Addr {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr()
	}
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if _, err := strconv.ParseUint(v[i+1:], 10, 16); err == nil {
			if a, err := netip.ParseAddr(v[:i]); err == nil {
				return a
			}
		}
	}
	a, _ := netip.ParseAddr(v)
	return a
}

// linkToken is the token of a link's request: in the query (the link itself, a
// one-click unsubscribe), or in the form its page posts.
func linkToken(c *gin.Context) string {
	if tok := c.Query(maillink.Param); tok != "" {
		return tok
	}
	return c.PostForm(maillink.Param)
}

// confirmPage is what the confirmation link opens: a page with a button that POSTs to
// the same URL. The GET changes nothing, so mail scanners that follow links confirm
// nobody.
func (h *handlers) confirmPage(c *gin.Context) {
	tok := c.Query(maillink.Param)
	email, _, err := h.Links.VerifyConfirm(tok, time.Now())
	switch {
	case errors.Is(err, maillink.ErrExpired):
		h.writePage(c, http.StatusBadRequest, pageData{Title: "Link expired", Message: "This confirmation link has expired. Subscribe again on the blog to get a new one."})
		return
	case err != nil:
		h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This confirmation link is damaged or not ours. Copy the whole link from the email and try again."})
		return
	}
	h.writePage(c, http.StatusOK, pageData{
		Title: "Confirm your subscription", Message: "Send MyBlog's new posts to " + email + "?",
		Token: tok, Action: maillink.ConfirmPath + "?" + url.Values{maillink.Param: {tok}}.Encode(), Button: "Confirm subscription",
	})
}

// confirm confirms the subscription signed into the token: the only request that does.
// It answers HTML to browsers and JSON otherwise; confirming twice is not an error.
func (h *handlers) confirm(c *gin.Context) {
	email, _, err := h.Links.VerifyConfirm(linkToken(c), time.Now())
	if err != nil {
		msg := "is not a valid confirmation token"
		if errors.Is(err, maillink.ErrExpired) {
			msg = "has expired; subscribe again to get a new link"
		}
		if wantsHTML(c) {
			h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This confirmation link " + msg + "."})
			return
		}
		h.fail(c, apperr.Field("token", "%s", msg))
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	outcome, err := b.Service.Confirm(c.Request.Context(), email)
	if err != nil {
		h.fail(c, err)
		return
	}
	if outcome == blog.NotPending {
		if wantsHTML(c) {
			h.writePage(c, http.StatusNotFound, pageData{Title: "Nothing to confirm", Message: "There is no subscription waiting for " + email + ": it expired or was cancelled. Subscribe again on the blog."})
			return
		}
		h.fail(c, apperr.New(apperr.NotFound, "there is no pending subscription for this address; subscribe again"))
		return
	}
	if wantsHTML(c) {
		msg := email + " is subscribed. A welcome email is on its way."
		if outcome == blog.AlreadyConfirmed {
			msg = email + " was already subscribed."
		}
		h.writePage(c, http.StatusOK, pageData{Title: "Subscribed", Message: msg})
		return
	}
	private(c, http.StatusOK, gin.H{"confirmed": true})
}

// unsubscribePage shows a confirmation form: a GET changes nothing, so mail scanners
// that follow links do not unsubscribe anyone.
func (h *handlers) unsubscribePage(c *gin.Context) {
	tok := c.Query(maillink.Param)
	email, err := h.Links.VerifyUnsubscribe(tok)
	if err != nil {
		h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This unsubscribe link is damaged or not ours. Copy the whole link from the email and try again."})
		return
	}
	h.writePage(c, http.StatusOK, pageData{
		Title: "Unsubscribe", Message: "Stop sending MyBlog emails to " + email + "?",
		Token: tok, Action: maillink.UnsubscribePath, Button: "Unsubscribe",
	})
}

// unsubscribe removes the address signed into the token. It takes the token from the
// query (one-click List-Unsubscribe-Post) or a form field, and answers HTML to
// browsers and JSON otherwise.
func (h *handlers) unsubscribe(c *gin.Context) {
	email, err := h.Links.VerifyUnsubscribe(linkToken(c))
	if err != nil {
		if wantsHTML(c) {
			h.writePage(c, http.StatusBadRequest, pageData{Title: "Link not valid", Message: "This unsubscribe link is damaged or not ours."})
			return
		}
		h.fail(c, apperr.Field("token", "is not a valid unsubscribe token"))
		return
	}
	b, ok := h.backend(c)
	if !ok {
		return
	}
	if err := b.Service.Unsubscribe(c.Request.Context(), email); err != nil {
		h.fail(c, err)
		return
	}
	if wantsHTML(c) {
		h.writePage(c, http.StatusOK, pageData{Title: "Unsubscribed", Message: email + " will get no more emails from MyBlog."})
		return
	}
	private(c, http.StatusOK, gin.H{"unsubscribed": true})
}
