package api

import (
	"html"
	"strings"

	"github.com/gin-gonic/gin"
)

// renderPage writes the small HTML pages of the confirmation and unsubscribe links.
// It is built with html.EscapeString rather than html/template on purpose: executing a
// template links reflect's method lookup, which stops the linker from dropping unused
// methods and nearly doubles the binary (and the image). Every value goes into element
// text or a double-quoted attribute, where EscapeString is the right escaping.
func renderPage(d pageData) []byte {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex">
<title>`)
	b.WriteString(e(d.Title))
	b.WriteString(` · MyBlog</title>
<style>body{font:1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem}</style>
</head><body><main><h1>`)
	b.WriteString(e(d.Title))
	b.WriteString(`</h1><p>`)
	b.WriteString(e(d.Message))
	b.WriteString("</p>\n")
	if d.Token != "" {
		b.WriteString(`<form method="post" action="` + e(d.Action) + `"><input type="hidden" name="token" value="` + e(d.Token) + `"><button type="submit">` + e(d.Button) + `</button></form>` + "\n")
	}
	b.WriteString("<p><a href=\"/\">Back to the blog</a></p></main></body></html>\n")
	return []byte(b.String())
}

// pageData is what a link's page shows: a title and a message, and with a token a form
// that POSTs it to Action behind a button labelled Button.
type pageData struct {
	Title, Message, Token, Action, Button string
}

func (h *handlers) writePage(c *gin.Context, status int, d pageData) {
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(status, "text/html; charset=utf-8", renderPage(d))
}

// wantsHTML reports whether the client reads HTML (a browser posting a link's form)
// rather than JSON.
func wantsHTML(c *gin.Context) bool { return strings.Contains(c.GetHeader("Accept"), "text/html") }
