package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// email is an email as moto's SES holds it, parsed as a mail client would.
type email = mototest.Email

// sentEmails returns the emails moto's SES sent to each address in to, in order.
func sentEmails(t *testing.T, motoURL string, to ...string) map[string][]email {
	t.Helper()
	all, err := mototest.SentEmails(motoURL)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]email{}
	for _, a := range to {
		if got := mototest.EmailsTo(all, a); len(got) > 0 {
			out[a] = got
		}
	}
	return out
}

// subscribe POSTs an address to blog (blog-api, or the edge in front of it) and
// expects 202.
func subscribe(t *testing.T, client *http.Client, blog, address string) {
	t.Helper()
	resp, err := client.Post(blog+"/v1/subscribers", "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q}`, address)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe %s: %d %s, want 202", address, resp.StatusCode, b)
	}
}

// waitEmails polls moto until every address has at least one email, and returns them.
func waitEmails(t *testing.T, motoURL string, timeout time.Duration, to ...string) map[string][]email {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := sentEmails(t, motoURL, to...)
		missing := 0
		for _, a := range to {
			if len(got[a]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d addresses got no email within %s", missing, len(to), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var unsubscribeLink = regexp.MustCompile(`https://[^\s"<>]+/v1/subscribers/unsubscribe\?token=[A-Za-z0-9_.\-]+`)

// anyLink finds the URLs in an email's text.
var anyLink = regexp.MustCompile(`https?://[^\s"<>]+`)

// confirmLink returns the one link of a confirmation email, failing the test unless
// its text part has exactly one link and that link's path has /confirm, on the blog's
// public origin.
func confirmLink(t *testing.T, e email, origin string) string {
	t.Helper()
	links := anyLink.FindAllString(e.Parts["text/plain"], -1)
	if len(links) != 1 {
		t.Fatalf("confirmation email text has %d links %v, want exactly one:\n%s", len(links), links, e.Parts["text/plain"])
	}
	u, err := url.Parse(links[0])
	if err != nil || !strings.Contains(u.Path, "/confirm") || u.Scheme+"://"+u.Host != origin {
		t.Fatalf("confirmation link %q: want a /confirm path on the blog's public origin %s", links[0], origin)
	}
	if !strings.HasPrefix(e.Subject, "Confirm your subscription") || e.ListUnsubscribe != "" {
		t.Errorf("confirmation email: subject %q, List-Unsubscribe %q; want a confirmation without unsubscribe header", e.Subject, e.ListUnsubscribe)
	}
	return links[0]
}

// confirmPage GETs a confirmation link as a browser opening it would and returns the
// action of the page's one form, which must POST to the same URL.
func confirmPage(t *testing.T, client *http.Client, link string) {
	t.Helper()
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	forms := regexp.MustCompile(`<form method="post" action="([^"]*)">`).FindAllStringSubmatch(string(b), -1)
	u, _ := url.Parse(link)
	if resp.StatusCode != http.StatusOK || len(forms) != 1 || html.UnescapeString(forms[0][1]) != u.RequestURI() {
		t.Fatalf("GET %s = %d:\n%s\nwant one form POSTing to the same URL", link, resp.StatusCode, b)
	}
}

// postConfirm POSTs the confirmation page's form, as its button does.
func postConfirm(t *testing.T, client *http.Client, link string) {
	t.Helper()
	u, _ := url.Parse(link)
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(url.Values{"token": {u.Query().Get("token")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), " subscribed") {
		t.Fatalf("POST %s = %d:\n%s", link, resp.StatusCode, b)
	}
}

// subscriberStatus reads the status of a subscriber item in table.
func subscriberStatus(t *testing.T, db *dynamodb.Client, table, address string) string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"email": &ddbtypes.AttributeValueMemberS{Value: address}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := out.Item["status"].(*ddbtypes.AttributeValueMemberS); ok {
		return st.Value
	}
	return ""
}

// testWelcome: a subscription through the blog's edge is double opt-in. It sends one
// confirmation email whose one link, on the edge, opens a page whose button POSTs to
// the same URL; opening the link (GET) confirms nothing and sends nothing more; the
// POST confirms, and then exactly one welcome email goes out, with an HTML and a text
// part both carrying a working unsubscribe link. Subscribing again sends nothing.
func testWelcome(t *testing.T, s *localStack, client *http.Client) {
	blog := s.stack.BlogURL
	moto := s.stack.AWSEndpoint
	db := dynamodb.NewFromConfig(stackAWS(t, s.stack))
	table := s.stack.Resources.SubscribersTable
	ada := strings.ToLower(mototest.Name("ada")) + "@example.com"

	start := time.Now()
	subscribe(t, client, blog, ada)
	got := waitEmails(t, moto, 15*time.Second, ada)[ada]
	t.Logf("subscribe -> confirmation email: %v", time.Since(start).Round(time.Millisecond))
	if len(got) != 1 {
		t.Fatalf("%d emails to %s after subscribing, want 1 (the confirmation)", len(got), ada)
	}
	link := confirmLink(t, got[0], blog)
	if st := subscriberStatus(t, db, table, ada); st != "pending" {
		t.Fatalf("subscriber status %q, want pending", st)
	}

	// Opening the link (what a mail scanner does too) only shows the page.
	confirmPage(t, client, link)
	time.Sleep(time.Second)
	if st := subscriberStatus(t, db, table, ada); st != "pending" {
		t.Errorf("after GET of the link the status is %q, want pending", st)
	}
	if n := len(sentEmails(t, moto, ada)[ada]); n != 1 {
		t.Errorf("after GET of the link: %d emails, want still 1", n)
	}

	start = time.Now()
	postConfirm(t, client, link)
	got = waitEmailCount(t, moto, 15*time.Second, ada, 2)
	t.Logf("confirm -> welcome email: %v", time.Since(start).Round(time.Millisecond))
	e := got[1]
	text, html := e.Parts["text/plain"], e.Parts["text/html"]
	if !strings.Contains(text, ada) || !strings.Contains(html, ada) || !strings.HasPrefix(e.Subject, "Welcome to ") {
		t.Errorf("email = %+v, want a welcome naming %s in both parts", e, ada)
	}
	textLink, htmlLink := unsubscribeLink.FindString(text), unsubscribeLink.FindString(html)
	if textLink == "" || textLink != htmlLink || e.ListUnsubscribe != "<"+textLink+">" {
		t.Fatalf("unsubscribe links: text %q, html %q, header %q; want the same link in all three", textLink, htmlLink, e.ListUnsubscribe)
	}

	// The same address again (also differently spelt), and its link again: 202 and
	// 200, nothing is sent. A third address subscribed afterwards is a barrier: the
	// stream is in order, so once its email is out, anything the repeats caused would
	// be too.
	subscribe(t, client, blog, ada)
	subscribe(t, client, blog, "  "+strings.ToUpper(ada)+" ")
	postConfirm(t, client, link)
	barrier := strings.ToLower(mototest.Name("barrier")) + "@example.com"
	subscribe(t, client, blog, barrier)
	waitEmails(t, moto, 15*time.Second, barrier)
	if n := len(sentEmails(t, moto, ada)[ada]); n != 2 {
		t.Errorf("after subscribing and confirming again: %d emails to %s, want 2 (one confirmation, one welcome)", n, ada)
	}

	// The unsubscribe link works through the edge (one-click POST).
	resp, err := client.Post(textLink, "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("one-click unsubscribe answered %d, want 200", resp.StatusCode)
	}
}

// waitEmailCount polls moto until address has n emails, and returns them in order.
func waitEmailCount(t *testing.T, motoURL string, timeout time.Duration, address string, n int) []email {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := sentEmails(t, motoURL, address)[address]
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d emails after %s, want %d", address, len(got), timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
