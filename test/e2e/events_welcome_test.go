package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

// email is a welcome email as moto's SES holds it, parsed as a mail client would.
type email struct {
	Subject, ListUnsubscribe string
	// Parts maps a part's media type (text/plain, text/html) to its decoded content.
	Parts map[string]string
}

// sentEmails returns the emails moto's SES sent to each address in to.
func sentEmails(t *testing.T, motoURL string, to ...string) map[string][]email {
	t.Helper()
	var data struct {
		SES struct {
			Message []struct {
				Destinations map[string][]string `json:"destinations"`
			} `json:"Message"`
			RawMessage []struct {
				Destinations []string `json:"destinations"`
				RawData      string   `json:"raw_data"`
			} `json:"RawMessage"`
		} `json:"ses"`
	}
	// moto sometimes fails to render its state while other requests change it (a 500
	// page): read again.
	for attempt := 1; ; attempt++ {
		err := getJSON(motoURL+"/moto-api/data.json", &data)
		if err == nil {
			break
		}
		if attempt == 10 {
			t.Fatalf("moto data.json: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := map[string][]email{}
	for _, m := range data.SES.RawMessage {
		for _, a := range to {
			if slices.Contains(m.Destinations, a) {
				out[a] = append(out[a], parseEmail(t, m.RawData))
			}
		}
	}
	for _, m := range data.SES.Message { // a Simple message would lose its text part in moto
		for _, a := range to {
			if slices.Contains(m.Destinations["ToAddresses"], a) {
				out[a] = append(out[a], email{Parts: map[string]string{"unknown": "simple message"}})
			}
		}
	}
	return out
}

// getJSON GETs url and decodes its 200 answer into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func parseEmail(t *testing.T, raw string) email {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("not an email: %v\n%s", err, raw)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	e := email{Subject: subject, ListUnsubscribe: m.Header.Get("List-Unsubscribe"), Parts: map[string]string{}}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("email Content-Type: %v", err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("email part: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, _ := io.ReadAll(body)
		e.Parts[pt] = string(b)
	}
	return e
}

// subscribe POSTs an address to blog-api and expects 202.
func subscribe(t *testing.T, client *http.Client, blogAPI, address string) {
	t.Helper()
	resp, err := client.Post(blogAPI+"/v1/subscribers", "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q}`, address)))
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

// testWelcome: a subscription through blog-api sends one welcome email with an HTML and
// a text part, both carrying a working unsubscribe link; subscribing again sends
// nothing more.
func testWelcome(t *testing.T, s *localStack, client *http.Client) {
	blogAPI := s.stack.Services["blog-api"].URL
	moto := s.stack.AWSEndpoint
	ada := strings.ToLower(mototest.Name("ada")) + "@example.com"

	start := time.Now()
	subscribe(t, client, blogAPI, ada)
	got := waitEmails(t, moto, 15*time.Second, ada)[ada]
	t.Logf("subscribe -> email: %v", time.Since(start).Round(time.Millisecond))
	if len(got) != 1 {
		t.Fatalf("%d emails to %s, want 1", len(got), ada)
	}
	e := got[0]
	text, html := e.Parts["text/plain"], e.Parts["text/html"]
	if !strings.Contains(text, ada) || !strings.Contains(html, ada) || !strings.HasPrefix(e.Subject, "Welcome to ") {
		t.Errorf("email = %+v, want a welcome naming %s in both parts", e, ada)
	}
	textLink, htmlLink := unsubscribeLink.FindString(text), unsubscribeLink.FindString(html)
	if textLink == "" || textLink != htmlLink || e.ListUnsubscribe != "<"+textLink+">" {
		t.Fatalf("unsubscribe links: text %q, html %q, header %q; want the same link in all three", textLink, htmlLink, e.ListUnsubscribe)
	}

	// The same address again (also differently spelt): blog-api answers 202, nothing is
	// sent. A third address subscribed afterwards is a barrier: the stream is in order,
	// so once its email is out, anything the repeats caused would be too.
	subscribe(t, client, blogAPI, ada)
	subscribe(t, client, blogAPI, "  "+strings.ToUpper(ada)+" ")
	barrier := strings.ToLower(mototest.Name("barrier")) + "@example.com"
	subscribe(t, client, blogAPI, barrier)
	waitEmails(t, moto, 15*time.Second, barrier)
	if n := len(sentEmails(t, moto, ada)[ada]); n != 1 {
		t.Errorf("after subscribing again: %d emails to %s, want 1", n, ada)
	}

	// The link works against blog-api (the edge in front of it is the public origin).
	u, err := url.Parse(textLink)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(blogAPI+u.Path+"?"+u.RawQuery, "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("one-click unsubscribe answered %d, want 200", resp.StatusCode)
	}
}
