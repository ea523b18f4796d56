package markdown

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
)

// dangerous finds what must never survive sanitising, checked on the parsed DOM so
// that escaped text (which is harmless) does not count.
func dangerous(t *testing.T, out string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parse output: %v", err)
	}
	var found []string
	badElem := map[string]bool{"script": true, "iframe": true, "object": true, "embed": true, "style": true, "svg": true, "math": true, "form": true, "meta": true, "base": true, "link": true, "details": true}
	safeURL := regexp.MustCompile(`^(https?://|mailto:|/|#|[a-zA-Z0-9._~-]+(/|$))`)
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if badElem[n.Data] {
				found = append(found, "element "+n.Data)
			}
			for _, a := range n.Attr {
				k := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(k, "on"), k == "style", k == "srcdoc", k == "formaction":
					found = append(found, "attribute "+k+" on "+n.Data)
				case k == "href" || k == "src" || k == "action" || k == "xlink:href":
					if !safeURL.MatchString(strings.TrimSpace(a.Val)) {
						found = append(found, "url "+a.Val+" on "+n.Data)
					}
				case n.Data == "input" && k == "type" && a.Val != "checkbox":
					found = append(found, "input type "+a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return found
}

func TestHostileCorpus(t *testing.T) {
	f, err := os.Open("testdata/xss.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := New()
	var all []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	if len(all) < 30 {
		t.Fatalf("corpus has %d lines; expected the full corpus", len(all))
	}
	for i, line := range all {
		t.Run(line, func(t *testing.T) {
			out, err := r.Render(line)
			if err != nil {
				t.Fatal(err)
			}
			if bad := dangerous(t, out); len(bad) > 0 {
				t.Errorf("line %d rendered as %q keeps %v", i+1, out, bad)
			}
		})
	}
	// The whole corpus as one document too: block constructs (code fences, tables)
	// span lines.
	out, err := r.Render(strings.Join(all, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if bad := dangerous(t, out); len(bad) > 0 {
		t.Errorf("whole corpus keeps %v", bad)
	}
}

// TestDetectorCatches makes sure the checker above would notice the attacks, so the
// corpus test cannot pass vacuously.
func TestDetectorCatches(t *testing.T) {
	for _, raw := range []string{
		`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<a href="javascript:alert(1)">x</a>`,
		`<iframe src="https://e"></iframe>`, `<div style="x">y</div>`,
	} {
		if len(dangerous(t, raw)) == 0 {
			t.Errorf("detector misses %s", raw)
		}
	}
}

func TestRendersFormatting(t *testing.T) {
	r := New()
	for _, tc := range []struct{ in, want string }{
		{"# Title\n\nSome *em* and **strong**.", "<h1>Title</h1>\n<p>Some <em>em</em> and <strong>strong</strong>.</p>\n"},
		{"[link](https://example.com)", `<p><a href="https://example.com" rel="nofollow">link</a></p>` + "\n"},
		{"```go\nx := 1\n```", `<pre><code class="language-go">x := 1` + "\n</code></pre>\n"},
		{"a <b>tag</b>", "<p>a tag</p>\n"},
		{"~~gone~~", "<p><del>gone</del></p>\n"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := r.Render(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Render (-want +got):\n%s", diff)
			}
		})
	}
}
