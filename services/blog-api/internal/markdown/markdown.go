// Package markdown turns a post's Markdown into HTML that is safe to put in a page.
//
// Two layers, each enough on its own for the common attacks: goldmark renders
// CommonMark plus GitHub's extensions with raw HTML disabled (inline and block HTML in
// the source is dropped, and link destinations with dangerous schemes are not
// rendered as links), and bluemonday's UGC policy then removes anything that is not
// plain formatting from the result: scripts, event handlers, style, iframes, forms,
// and URLs whose scheme is not http, https or mailto. Links get rel="nofollow
// noopener" and open in the same tab.
package markdown

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// Renderer renders Markdown to sanitised HTML. It is safe for concurrent use.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// New returns a Renderer.
func New() *Renderer {
	md := goldmark.New(goldmark.WithExtensions(
		extension.Table, extension.Strikethrough, extension.Linkify, extension.TaskList,
	))
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(false)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[a-zA-Z0-9+#_-]{1,32}$`)).OnElements("code")
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").OnElements("input")
	return &Renderer{md: md, policy: p}
}

// Render returns the sanitised HTML of src.
func (r *Renderer) Render(src string) (string, error) {
	var buf bytes.Buffer
	if err := r.md.Convert([]byte(src), &buf); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return r.policy.Sanitize(buf.String()), nil
}
