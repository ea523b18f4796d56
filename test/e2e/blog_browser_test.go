package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/serverless-architect/serverless-architect/internal/devtls"
	"github.com/serverless-architect/serverless-architect/internal/imagetest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Page-weight budgets of the home page (bytes on the wire, as DevTools counts them:
// headers and encoded bodies), photos excluded.
const (
	firstLoadBudget = 100 << 10
	reloadBudget    = 5 << 10
)

// TestBlogInBrowser drives MyBlog as a reader and an admin do, in headless Debian
// chromium through the local edge: the home page lists the posts (seeded through
// blog-api), a reader subscribes through the form and confirms through the link in the
// confirmation email (the page it opens, its button), an admin signs in on the admin page
// (Cognito from the browser) and publishes a post, and the home page then shows it; the
// admin uploads a HEIC photo, sees its thumbnail, and the gallery shows it.
// It also measures the home page's weight, cold and on a reload with a warm cache.
// Screenshots go to test/e2e/artifacts/.
//
// TLS: chromium trusts the stack's certificate through
// --ignore-certificate-errors-spki-list with the SHA-256 of the dev leaf certificate's
// public key: it pins that exact certificate, and nothing else is accepted
// (--ignore-certificate-errors is not used).
func TestBlogInBrowser(t *testing.T) {
	if !mototest.Enabled() {
		t.Skip("the browser test runs the whole local stack: set SA_INTEGRATION=1 (make test does)")
	}
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install -y chromium (hack/test.sh installs it)")
	}
	s := sharedStack(t)
	blogPosts.Lock()
	defer blogPosts.Unlock()
	st := s.stack
	if st.BlogURL == "" {
		t.Fatalf("stack.json has no blogUrl: %+v", st)
	}
	home := st.BlogURL + "/"
	client := caClient(t, s)

	// Seed two posts through blog-api, as an admin.
	run := time.Now().UnixNano()
	token := adminToken(t, st)
	var seeded []string
	for i := range 2 {
		title := fmt.Sprintf("Seeded post %d of run %d", i+1, run)
		post := map[string]any{"title": title, "body": "A post seeded by the browser test.\n\n*Markdown* works.", "tags": []string{"test"}}
		if code, _, body := call(t, client, "POST", st.Services["blog-api"].URL+"/v1/posts", token, post, nil); code != http.StatusCreated {
			t.Fatalf("seed post: %d %s", code, body)
		}
		seeded = append(seeded, title)
	}

	artifacts := filepath.Join(repoRoot(t), "test", "e2e", "artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t, chrome, leafSPKI(t, filepath.Join(filepath.Dir(st.CAFile), devtls.CertFile)))
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		p := filepath.Join(artifacts, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		t.Logf("screenshot: %s", p)
	}
	net := watchNetwork(t, ctx)
	csp := watchCSP(t, ctx)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			shot("failed.png")
			t.Fatalf("%s: %v\nrequests:\n%s\nsecurity policy reports:\n%s", what, err, net.report(), strings.Join(csp.violations(), "\n"))
		}
	}

	// A reader, cold cache: the home page lists the seeded posts.
	do("load the home page", chromedp.Navigate(home), waitText("#posts", seeded...))
	net.idle(t)
	first := net.report()
	firstBytes := net.bytes()
	shot("home-first-load.png")
	t.Logf("home page, first load: %d bytes transferred without images (budget %d)\n%s", firstBytes, firstLoadBudget, first)
	if firstBytes > firstLoadBudget {
		t.Errorf("first load transferred %d bytes, over the %d budget", firstBytes, firstLoadBudget)
	}
	if !strings.Contains(first, "br ") {
		t.Errorf("no response of the first load was brotli-compressed:\n%s", first)
	}
	if doc := net.find(home); doc == nil || doc.xcache == "" {
		t.Errorf("the home page did not come through the edge (no X-Cache):\n%s", first)
	} else {
		// The distribution's security headers are on: a strict CSP, nosniff, HSTS.
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "require-trusted-types-for 'script'", "frame-ancestors 'none'"} {
			if !strings.Contains(doc.csp, want) {
				t.Errorf("the home page's Content-Security-Policy %q lacks %q", doc.csp, want)
			}
		}
		if strings.Contains(doc.csp, "unsafe-") {
			t.Errorf("the home page's Content-Security-Policy allows unsafe sources: %q", doc.csp)
		}
		if doc.nosniff != "nosniff" || !strings.HasPrefix(doc.hsts, "max-age=") {
			t.Errorf("home page: X-Content-Type-Options %q, Strict-Transport-Security %q", doc.nosniff, doc.hsts)
		}
	}

	// The same reader reloads: pages revalidate (304), assets come from the cache.
	net.reset()
	do("reload the home page", chromedp.Reload(), waitText("#posts", seeded...))
	net.idle(t)
	reloadBytes := net.bytes()
	t.Logf("home page, reload with a warm cache: %d bytes transferred without images (budget %d)\n%s", reloadBytes, reloadBudget, net.report())
	if reloadBytes > reloadBudget {
		t.Errorf("reload transferred %d bytes, over the %d budget", reloadBytes, reloadBudget)
	}
	// The page and the posts list were revalidated with their ETags: 304s from the edge.
	for _, u := range []string{home, st.BlogURL + "/v1/posts?limit=10"} {
		// The wire status comes in its own DevTools event, which may trail the others.
		for wait := time.Now().Add(3 * time.Second); time.Now().Before(wait); time.Sleep(100 * time.Millisecond) {
			if r := net.find(u); r != nil && r.wire != 0 {
				break
			}
		}
		if r := net.find(u); r == nil || r.wire != http.StatusNotModified {
			t.Errorf("reload: %s was not answered 304 on the wire:\n%s", u, net.report())
		}
	}
	shot("home-reload.png")

	// The reader subscribes; blog-api stores the address, pending, and the mailer sends
	// one confirmation email.
	email := fmt.Sprintf("reader-%d@example.com", run)
	do("subscribe",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.Click(chromedp.CSS(`#subscribe button[type="submit"]`)),
		waitText("#subscribe-status", "confirmation email"))
	shot("home-subscribed.png")
	ddb := dynamodb.NewFromConfig(stackAWS(t, st))
	if got := subscriberStatus(t, ddb, st.Resources.SubscribersTable, email); got != "pending" {
		t.Errorf("subscriber %s is %q in %s, want pending", email, got, st.Resources.SubscribersTable)
	}
	link := confirmLink(t, waitEmails(t, st.AWSEndpoint, 20*time.Second, email)[email][0], st.BlogURL)

	// The reader opens the link: a page with a button; pressing it confirms, and the
	// welcome email follows, once.
	do("open the confirmation link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[method="post"] button[type="submit"]`)))
	shot("confirm-page.png")
	if got := subscriberStatus(t, ddb, st.Resources.SubscribersTable, email); got != "pending" {
		t.Errorf("opening the link made the subscriber %q, want still pending", got)
	}
	do("confirm", chromedp.Click(chromedp.CSS(`form[method="post"] button[type="submit"]`)), waitTextAfterNavigation("main", "is subscribed"))
	shot("confirmed.png")
	got := waitEmailCount(t, st.AWSEndpoint, 20*time.Second, email, 2)
	if !strings.HasPrefix(got[1].Subject, "Welcome to ") {
		t.Errorf("second email %q, want the welcome", got[1].Subject)
	}
	time.Sleep(time.Second)
	if n := len(sentEmails(t, st.AWSEndpoint, email)[email]); n != 2 {
		t.Errorf("%d emails to %s, want one confirmation and one welcome", n, email)
	}

	// An admin signs in on the admin page and publishes a post.
	adminEmail, password := newAdmin(t, st)
	title := fmt.Sprintf("Published from the browser, run %d", run)
	do("sign in as an admin",
		chromedp.Navigate(st.BlogURL+"/admin.html"),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SendKeys(chromedp.CSS("#username"), adminEmail),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#post-form")))
	shot("admin-signed-in.png")
	do("publish a post",
		chromedp.SendKeys(chromedp.CSS("#title"), title),
		chromedp.SendKeys(chromedp.CSS("#tags"), "news, browser"),
		chromedp.SendKeys(chromedp.CSS("#body"), "Written in **chromium**, through the edge."),
		chromedp.Click(chromedp.CSS(`#post-form button[type="submit"]`)),
		waitText("#post-status", "Published"))
	shot("admin-published.png")

	// The post page shows it, its HTML inserted through the site's Trusted Types
	// policy; the home page lists it; the gallery loads.
	postURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#post-status a").href`))
	if err != nil {
		t.Fatalf("the published post's link: %v", err)
	}
	do("open the new post", chromedp.Navigate(postURL), waitText("#body strong", "chromium"))
	shot("post.png")
	// The edge keeps the list it cached until blog-api's invalidation reaches it, as
	// CloudFront does: a reader who loads the page before then sees the old list.
	waitFor(t, 10*time.Second, "the edge serving the list with the published post", func() bool {
		code, _, body := call(t, client, "GET", st.BlogURL+"/v1/posts?limit=10", "", nil, nil)
		return code == http.StatusOK && strings.Contains(string(body), title)
	})
	do("see the new post on the home page", chromedp.Navigate(home), waitText("#posts", append([]string{title}, seeded...)...))
	shot("home-after-publish.png")

	// The admin uploads a photo as an iPhone writes it (HEIC, which chromium cannot
	// show and reports no type for): the page names the type from the bytes, the
	// preview is the thumbnail, and the gallery offers it as a <picture> whose WebP,
	// when the thumbnailer kept one, is what chromium loads.
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	heicFile := filepath.Join(t.TempDir(), "IMG_0001.HEIC")
	heicBytes := imagetest.Convert(t, enc, imagetest.Photo(1200, 900, 8), nil, ".png", ".heic", "-q", "60", "-p", "preset=ultrafast", "-o", "OUT", "IN")
	if err := os.WriteFile(heicFile, heicBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	do("upload a HEIC photo",
		chromedp.Navigate(st.BlogURL+"/admin.html"),
		chromedp.WaitVisible(chromedp.CSS("#photo-form")),
		chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{heicFile}),
		chromedp.Click(chromedp.CSS(`#photo-form button[type="submit"]`)),
		waitTextFor("#photo-status", 90*time.Second, "Ready."))
	type shown struct {
		Width int    `json:"width"`
		Src   string `json:"src"`
		WebP  bool   `json:"webp"`
	}
	loaded := func(sel string) shown {
		t.Helper()
		js := fmt.Sprintf(`(async () => { const i = document.querySelector(%q); if (!i) return {width: 0, src: "", webp: false};
			await i.decode().catch(() => {}); return {width: i.naturalWidth, src: i.currentSrc, webp: !!i.closest("picture").querySelector("source[type='image/webp']")}; })()`, sel)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return got
	}
	check := func(where string, got shown) {
		t.Helper()
		want := ".jpg"
		if got.WebP {
			want = ".webp"
		}
		if got.Width != 256 || !strings.HasSuffix(got.Src, want) {
			t.Errorf("%s: the browser shows %q, %d pixels wide; want the %s thumbnail, 256 wide", where, got.Src, got.Width, want)
		}
	}
	preview := loaded("#photo-result img")
	check("admin preview", preview)
	shot("admin-photo-ready.png")
	// The gallery lists every test's photos (the stack is shared): this one is found by
	// the photo id in its thumbnail's name.
	m := thumbnailID.FindStringSubmatch(preview.Src)
	if m == nil {
		t.Fatalf("the admin preview %q is not a thumbnail named by its photo id", preview.Src)
	}
	inGallery := fmt.Sprintf(`#photos picture img[src*="thumbnails/%s."]`, m[1])
	do("see the photo in the gallery", chromedp.Navigate(st.BlogURL+"/gallery.html"), chromedp.WaitVisible(chromedp.CSS(inGallery)))
	check("gallery", loaded(inGallery))
	shot("gallery.png")

	if doc := net.find(st.BlogURL + "/admin.html"); doc == nil || !strings.Contains(doc.csp, "connect-src 'self' "+st.AWSEndpoint) {
		t.Errorf("the admin page may not reach Cognito (moto, %s) under its CSP: %+v", st.AWSEndpoint, doc)
	}
	// Nothing any page did broke the policy.
	if v := csp.violations(); len(v) > 0 {
		t.Errorf("Chromium reported %d Content-Security-Policy or Trusted Types violations:\n%s", len(v), strings.Join(v, "\n"))
	}
}

// thumbnailID finds the photo id in a thumbnail's URL (thumbnails/<id>.jpg or .webp).
var thumbnailID = regexp.MustCompile(`thumbnails/([0-9A-Za-z]+)\.(?:jpg|webp)`)

// waitTextFor is waitText with a timeout of its own (a photo takes the event flow).
func waitTextFor(sel string, timeout time.Duration, want ...string) chromedp.Action[chromedp.Void] {
	js, _ := json.Marshal(want)
	q, _ := json.Marshal(sel)
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && %s.every((w) => e.textContent.includes(w)); })()`, q, js)
	poll := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := poll(ctx, t); err != nil {
			return fmt.Errorf("wait for %s to show %q: %w", sel, want, err)
		}
		return nil
	})
}

// cspWatch collects what Chromium reports against the pages' security policies:
// securitypolicyviolation events (a listener every document gets before its own
// scripts, through DevTools, which the CSP does not govern), and browser-log and
// console entries about the Content-Security-Policy or Trusted Types.
type cspWatch struct {
	mu   sync.Mutex
	seen []string
}

func watchCSP(t *testing.T, ctx context.Context) *cspWatch {
	t.Helper()
	w := &cspWatch{}
	const listener = `document.addEventListener("securitypolicyviolation", (e) =>
  console.error("securitypolicyviolation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " on " + e.documentURI));`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: listener}); err != nil {
		t.Fatalf("add the violation listener: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var text string
		switch e := ev.(type) {
		case *log.EventEntryAdded:
			text = string(e.Entry.Source) + ": " + e.Entry.Text
		case *runtime.EventConsoleAPICalled:
			for _, a := range e.Args {
				text += string(a.Value) + a.Description + " "
			}
		case *runtime.EventExceptionThrown:
			text = e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				text += " " + e.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		lower := strings.ToLower(text)
		if strings.Contains(lower, "securitypolicyviolation") || strings.Contains(lower, "content security policy") || strings.Contains(lower, "trusted type") {
			w.mu.Lock()
			w.seen = append(w.seen, text)
			w.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to the console: %v", err)
	}
	return w
}

func (w *cspWatch) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

// newBrowser starts headless chromium, trusting only the stack's leaf certificate
// (by its public key hash), and returns a tab's context.
func newBrowser(t *testing.T, chrome, spki string) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as its context: no
	// timeout on that one (chromedp.Run); every later step has its own.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return tctx
}

// leafSPKI is the base64 SHA-256 of the certificate's SubjectPublicKeyInfo, the form
// --ignore-certificate-errors-spki-list takes.
func leafSPKI(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// waitText waits until the element's text holds every one of want.
func waitText(sel string, want ...string) chromedp.Action[chromedp.Void] {
	return waitTextFor(sel, 20*time.Second, want...)
}

// waitTextAfterNavigation is waitText for a page that is being replaced (a form was
// posted): a poll the navigation interrupts is started again on the new page.
func waitTextAfterNavigation(sel string, want ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := waitText(sel, want...)(ctx, t)
			if err == nil || time.Now().After(deadline) || !navigationInterrupted(err) {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// navigationInterrupted reports whether err is DevTools saying the page an evaluation
// ran in went away: "Inspected target navigated or closed", "Execution context was
// destroyed", or, when the evaluation was sent to the old page's context just after it
// went, "Cannot find context with specified id".
func navigationInterrupted(err error) bool {
	msg := err.Error()
	return slices.ContainsFunc([]string{"navigated", "context was destroyed", "Cannot find context with specified id"},
		func(m string) bool { return strings.Contains(msg, m) })
}

// newAdmin creates a confirmed user with a permanent password in the admins group,
// through the SDK against moto, and returns the credentials.
func newAdmin(t *testing.T, st *stack.Stack) (email, password string) {
	t.Helper()
	ctx := context.Background()
	c := cip.NewFromConfig(stackAWS(t, st))
	r := st.Resources
	email = strings.ToLower(mototest.Name("browser-admin")) + "@example.com"
	password = "Passw0rd1x!"
	if _, err := c.AdminCreateUser(ctx, &cip.AdminCreateUserInput{
		UserPoolId: aws.String(r.UserPoolID), Username: aws.String(email), MessageAction: ciptypes.MessageActionTypeSuppress,
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}, {Name: aws.String("email_verified"), Value: aws.String("true")}},
	}); err != nil {
		t.Fatalf("create admin: %v", err)
	}
	if _, err := c.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{UserPoolId: aws.String(r.UserPoolID), Username: aws.String(email), Password: aws.String(password), Permanent: true}); err != nil {
		t.Fatalf("set admin password: %v", err)
	}
	if _, err := c.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{UserPoolId: aws.String(r.UserPoolID), Username: aws.String(email), GroupName: aws.String(r.AdminsGroup)}); err != nil {
		t.Fatalf("add to %s: %v", r.AdminsGroup, err)
	}
	return email, password
}

// netWatch accounts for the tab's network traffic through the DevTools Network
// domain: per request, its type, status, encoding and encodedDataLength (bytes on the
// wire, headers included).
type netWatch struct {
	mu       sync.Mutex
	reqs     map[network.RequestID]*netReq
	order    []network.RequestID
	inflight map[network.RequestID]bool
	// wire keeps the on-the-wire status by request: Chrome may send a request's
	// responseReceivedExtraInfo before its requestWillBeSent.
	wire map[network.RequestID]int64
	last time.Time
}

type netReq struct {
	url, encoding, mime string
	xcache              string
	csp, nosniff, hsts  string
	kind                network.ResourceType
	status              int64
	wire                int64 // the status on the wire: 304 for a revalidated cache entry
	bytes               float64
	cached              bool
	done                bool
}

func watchNetwork(t *testing.T, ctx context.Context) *netWatch {
	t.Helper()
	w := &netWatch{reqs: map[network.RequestID]*netReq{}, inflight: map[network.RequestID]bool{}, wire: map[network.RequestID]int64{}, last: time.Now()}
	err := chromedp.Listen(ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.last = time.Now()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if _, ok := w.reqs[e.RequestID]; !ok {
				w.order = append(w.order, e.RequestID)
			}
			w.reqs[e.RequestID] = &netReq{url: e.Request.URL, kind: e.Type, wire: w.wire[e.RequestID]}
			w.inflight[e.RequestID] = true
		case *network.EventResponseReceived:
			if r := w.reqs[e.RequestID]; r != nil {
				r.kind, r.status, r.mime = e.Type, e.Response.Status, e.Response.MimeType
				r.encoding = headerValue(e.Response.Headers, "content-encoding")
				r.xcache = headerValue(e.Response.Headers, "x-cache")
				r.csp = headerValue(e.Response.Headers, "content-security-policy")
				r.nosniff = headerValue(e.Response.Headers, "x-content-type-options")
				r.hsts = headerValue(e.Response.Headers, "strict-transport-security")
				r.cached = e.Response.FromDiskCache || e.Response.FromPrefetchCache
			}
		case *network.EventResponseReceivedExtraInfo:
			w.wire[e.RequestID] = e.StatusCode
			if r := w.reqs[e.RequestID]; r != nil {
				r.wire = e.StatusCode
			}
		case *network.EventRequestServedFromCache:
			if r := w.reqs[e.RequestID]; r != nil {
				r.cached = true
			}
		case *network.EventLoadingFinished:
			if r := w.reqs[e.RequestID]; r != nil {
				r.bytes, r.done = e.EncodedDataLength, true
			}
			delete(w.inflight, e.RequestID)
		case *network.EventLoadingFailed:
			delete(w.inflight, e.RequestID)
		}
	})
	if err != nil {
		t.Fatalf("listen to the network: %v", err)
	}
	return w
}

func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// idle waits until no request is in flight and nothing happened for half a second.
func (w *netWatch) idle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		quiet := len(w.inflight) == 0 && time.Since(w.last) > 500*time.Millisecond
		w.mu.Unlock()
		if quiet {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the page did not go quiet within 15s:\n%s", w.report())
}

func (w *netWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reqs, w.order, w.wire = map[network.RequestID]*netReq{}, nil, map[network.RequestID]int64{}
}

// find returns the last request for url.
func (w *netWatch) find(url string) *netReq {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range slices.Backward(w.order) {
		if r := w.reqs[id]; r.url == url {
			c := *r
			return &c
		}
	}
	return nil
}

// isPhoto reports whether a request is an image (photos are outside the budget).
func (r *netReq) isPhoto() bool {
	return r.kind == network.ResourceTypeImage || strings.HasPrefix(r.mime, "image/")
}

// bytes sums encodedDataLength over the finished requests that are not images.
func (w *netWatch) bytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n float64
	for _, r := range w.reqs {
		if r.done && !r.isPhoto() {
			n += r.bytes
		}
	}
	return int(n)
}

// report lists the requests: status, encoding, bytes, type, URL.
func (w *netWatch) report() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, id := range w.order {
		r := w.reqs[id]
		enc := r.encoding
		if enc == "" {
			enc = "-"
		}
		note := ""
		if r.cached {
			note = " (from cache)"
		}
		if r.isPhoto() {
			note += " (image, not counted)"
		}
		xc := r.xcache
		if xc == "" {
			xc = "-"
		}
		wire := "   "
		if r.wire != 0 {
			wire = fmt.Sprint(r.wire)
		}
		fmt.Fprintf(&b, "  %3d (wire %s) %-4s %6.0f B  %-6s %-10s %s%s\n", r.status, wire, enc+" ", r.bytes, xc, r.kind, r.url, note)
	}
	return b.String()
}
