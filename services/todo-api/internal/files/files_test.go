package files

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy/policytest"
)

const (
	alice = "11111111-1111-4111-8111-111111111111"
	bob   = "22222222-2222-4222-8222-222222222222"
)

// fakeBucket records what it was asked to sign or list, and lists from a fixed set of
// keys (some of them another user's, as a buggy or hostile store might return).
type fakeBucket struct {
	signed []string
	listed []string
	keys   []string
}

func (b *fakeBucket) PresignUpload(_ context.Context, u Upload) (SignedUpload, error) {
	b.signed = append(b.signed, u.Key)
	return SignedUpload{Method: "PUT", URL: "https://s3/" + u.Key}, nil
}

func (b *fakeBucket) PresignDownload(_ context.Context, key string, _ time.Duration) (SignedDownload, error) {
	b.signed = append(b.signed, key)
	return SignedDownload{Method: "GET", URL: "https://s3/" + key}, nil
}

func (b *fakeBucket) List(_ context.Context, prefix, startAfter string, limit int) ([]Object, bool, error) {
	b.listed = append(b.listed, prefix)
	if startAfter != "" {
		b.listed = append(b.listed, startAfter)
	}
	keys := slices.Sorted(slices.Values(b.keys))
	var out []Object
	for _, k := range keys {
		if k <= startAfter {
			continue
		}
		if strings.HasPrefix(k, prefix) || strings.HasPrefix(prefix, UsersPrefix+alice) {
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, Object{Key: k, Size: 1}) // a careless store returns everything
		}
	}
	return out, false, nil
}

func (b *fakeBucket) DeleteAll(_ context.Context, prefix string) (int, error) {
	b.listed = append(b.listed, prefix)
	kept, n := b.keys[:0], 0
	for _, k := range b.keys {
		if strings.HasPrefix(k, prefix) {
			n++
			continue
		}
		kept = append(kept, k)
	}
	b.keys = kept
	return n, nil
}

type fakeVendor struct{ got []SessionRequest }

func (v *fakeVendor) Vend(_ context.Context, r SessionRequest) (Credentials, error) {
	v.got = append(v.got, r)
	return Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", SessionToken: "t", Expiration: time.Unix(0, 0)}, nil
}

func newService(t *testing.T) (*Service, *fakeBucket, *fakeVendor) {
	t.Helper()
	b := &fakeBucket{keys: []string{
		"users/" + alice + "/a.txt", "users/" + alice + "/photos/p.png",
		"users/" + bob + "/secret.txt", "users/" + alice + "x/other.txt",
	}}
	v := &fakeVendor{}
	s, err := NewService(Options{
		Bucket: "files", Region: "us-east-1", CredentialsTTL: 15 * time.Minute, URLTTL: 5 * time.Minute,
		MaxUploadBytes: 1 << 20, ContentTypes: []string{"text/plain", "image/*"},
	}, v, b)
	if err != nil {
		t.Fatal(err)
	}
	return s, b, v
}

// TestNeverOutsideTheFolder: for two users and crafted keys, everything the service
// signs, lists or vends lies inside the caller's own folder.
func TestNeverOutsideTheFolder(t *testing.T) {
	ctx := context.Background()
	crafted := []string{
		"../" + bob + "/secret.txt", "/users/" + bob + "/secret.txt", "..\\" + bob + "\\secret.txt",
		"a/../../" + bob + "/secret.txt", "users/" + bob + "/secret.txt", "%2e%2e/" + bob + "/secret.txt",
		"a.txt", "photos/p.png",
	}
	for _, sub := range []string{alice, bob} {
		folder := "users/" + sub + "/"
		s, b, v := newService(t)
		for _, k := range crafted {
			_, _ = s.UploadURL(ctx, sub, UploadRequest{Key: k, ContentType: "text/plain", Size: 10})
			_, _ = s.DownloadURL(ctx, sub, k)
			l, _ := s.List(ctx, sub, ListQuery{Prefix: k})
			for _, it := range l.Items {
				if strings.Contains(it.Key, "secret") && sub == alice {
					t.Errorf("%s's listing shows %q", sub, it.Key)
				}
			}
		}
		l, err := s.List(ctx, sub, ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Prefix != folder {
			t.Errorf("%s's listing states the folder %q, want %q", sub, l.Prefix, folder)
		}
		for _, it := range l.Items {
			if !Inside(folder, folder+it.Key) || strings.Contains(it.Key, "users/") {
				t.Errorf("%s's listing shows %q", sub, it.Key)
			}
		}
		g, err := s.Credentials(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if g.Prefix != folder || g.Bucket != "files" || g.Region != "us-east-1" {
			t.Errorf("grant = %+v", g)
		}
		for _, k := range b.signed {
			if !Inside(folder, k) {
				t.Errorf("%s: signed %q outside %s", sub, k, folder)
			}
		}
		for _, p := range b.listed {
			if !strings.HasPrefix(p, folder) {
				t.Errorf("%s: listed %q outside %s", sub, p, folder)
			}
		}
		for _, r := range v.got {
			other := bob
			if sub == bob {
				other = alice
			}
			if !strings.Contains(r.Policy, folder) || strings.Contains(r.Policy, other) || r.Tags["sub"] != sub {
				t.Errorf("%s: session request %+v", sub, r)
			}
		}
		if len(b.signed) == 0 {
			t.Errorf("%s: nothing was signed; the test proves nothing", sub)
		}
	}
}

func TestListShowsOnlyOwnKeysRelative(t *testing.T) {
	s, _, _ := newService(t)
	l, err := s.List(context.Background(), alice, ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range l.Items {
		keys = append(keys, it.Key)
	}
	if diff := cmp.Diff([]string{"a.txt", "photos/p.png"}, keys); diff != "" {
		t.Errorf("alice's keys (-want +got):\n%s", diff)
	}
}

// TestListPages: a listing pages in key order, each page after the previous one's
// cursor, the last page without one; a cursor outside the listing's prefix and a limit
// above ListLimit are 400s naming their field.
func TestListPages(t *testing.T) {
	s, b, _ := newService(t)
	folder := "users/" + bob + "/"
	b.keys = nil
	for _, k := range []string{"d/4", "a/1", "b/2", "c/3", "e/5"} {
		b.keys = append(b.keys, folder+k)
	}
	ctx := context.Background()
	var got []string
	var pages int
	q := ListQuery{Limit: 2}
	for {
		l, err := s.List(ctx, bob, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range l.Items {
			got = append(got, it.Key)
		}
		if l.Cursor == "" {
			break
		}
		q.StartAfter = l.Cursor
	}
	if diff := cmp.Diff([]string{"a/1", "b/2", "c/3", "d/4", "e/5"}, got); diff != "" || pages != 3 {
		t.Errorf("%d pages (-want +got):\n%s", pages, diff)
	}
	if _, err := s.List(ctx, bob, ListQuery{Prefix: "a/", StartAfter: "b/2"}); apperr.As(err) == nil || apperr.As(err).Field != "nextToken" {
		t.Errorf("cursor of another prefix: %v, want a 400 naming nextToken", err)
	}
	if _, err := s.List(ctx, bob, ListQuery{Limit: 1001}); apperr.As(err) == nil || apperr.As(err).Field != "limit" {
		t.Errorf("limit 1001: %v, want a 400 naming limit", err)
	}
}

func TestUploadURLChecks(t *testing.T) {
	tests := []struct {
		name string
		req  UploadRequest
		code apperr.Code
	}{
		{"ok", UploadRequest{Key: "a.txt", ContentType: "text/plain", Size: 10}, ""},
		{"ok wildcard type with parameters", UploadRequest{Key: "p.png", ContentType: "image/PNG", Size: 1 << 20}, ""},
		{"too large", UploadRequest{Key: "a.txt", ContentType: "text/plain", Size: 1<<20 + 1}, apperr.TooLarge},
		{"no size", UploadRequest{Key: "a.txt", ContentType: "text/plain"}, apperr.Invalid},
		{"negative size", UploadRequest{Key: "a.txt", ContentType: "text/plain", Size: -1}, apperr.Invalid},
		{"type not allowed", UploadRequest{Key: "a.html", ContentType: "text/html", Size: 10}, apperr.UnsupportedMedia},
		{"no type", UploadRequest{Key: "a.txt", Size: 10}, apperr.Invalid},
		{"garbled type", UploadRequest{Key: "a.txt", ContentType: "text/", Size: 10}, apperr.Invalid},
		{"hostile key", UploadRequest{Key: "../x", ContentType: "text/plain", Size: 10}, apperr.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, b, _ := newService(t)
			_, err := s.UploadURL(context.Background(), alice, tt.req)
			if got := apperr.CodeOf(err); (err == nil) != (tt.code == "") || (err != nil && got != tt.code) {
				t.Fatalf("UploadURL error %v (code %s), want code %q", err, got, tt.code)
			}
			if (len(b.signed) == 1) != (tt.code == "") {
				t.Errorf("signed %v", b.signed)
			}
		})
	}
}

func TestFullKeyLimit(t *testing.T) {
	s, _, _ := newService(t)
	long := strings.Repeat("x", MaxKeyBytes-len("users/"+alice+"/"))
	if _, err := s.DownloadURL(context.Background(), alice, long); err != nil {
		t.Errorf("key of exactly %d bytes with the folder: %v", MaxKeyBytes, err)
	}
	if _, err := s.DownloadURL(context.Background(), alice, long+"x"); apperr.CodeOf(err) != apperr.Invalid {
		t.Errorf("key over the limit with the folder: %v", err)
	}
}

func TestSessionPolicyGolden(t *testing.T) {
	d, err := SessionPolicy("files", "", "users/"+alice+"/")
	if err != nil {
		t.Fatal(err)
	}
	policytest.Golden(t, "testdata/session-policy.json", d)
	packed, _ := d.Compact()
	if len(packed) > 2048 {
		t.Errorf("session policy is %d characters; STS allows 2048", len(packed))
	}
	if _, err := SessionPolicy("files", "", "users/*/"); err == nil {
		t.Error("a wildcard folder was accepted")
	}
	want, _ := iampolicy.Folder{Bucket: "files", Prefix: "users/" + alice + "/"}.Document()
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("the session policy is not the folder definition (-want +got):\n%s", diff)
	}
}

func TestSessionName(t *testing.T) {
	if got := SessionName("us-east-1:abc/def*"); got != "todo-files-us-east-1abcdef" {
		t.Errorf("SessionName = %q", got)
	}
	if got := SessionName(strings.Repeat("a", 100)); len(got) != 64 {
		t.Errorf("SessionName length %d, want 64", len(got))
	}
}

func TestOptionsValidate(t *testing.T) {
	good := Options{Bucket: "b", CredentialsTTL: 15 * time.Minute, URLTTL: time.Minute, MaxUploadBytes: 1, ContentTypes: []string{"text/plain"}}
	tests := []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"good", func(*Options) {}, true},
		{"no bucket", func(o *Options) { o.Bucket = "" }, false},
		{"ttl under sts minimum", func(o *Options) { o.CredentialsTTL = 14 * time.Minute }, false},
		{"ttl over 12h", func(o *Options) { o.CredentialsTTL = 13 * time.Hour }, false},
		{"no url ttl", func(o *Options) { o.URLTTL = 0 }, false},
		{"no size", func(o *Options) { o.MaxUploadBytes = 0 }, false},
		{"no types", func(o *Options) { o.ContentTypes = nil }, false},
		{"bad type", func(o *Options) { o.ContentTypes = []string{"text/"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if err := o.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// The key rules are filekey's; here each refusal must reach the client as a 400 that
// names the field, and a subject that cannot name a folder as a 401.
func TestKeyErrorsNameTheField(t *testing.T) {
	for _, key := range []string{"", "../x", "a\x00b", "a\\b", "/abs", "a\xffb"} {
		_, err := CleanKey("key", key)
		if e := apperr.As(err); e == nil || e.Code != apperr.Invalid || e.Field != "key" || e.Message == "" {
			t.Errorf("CleanKey(%q) error = %#v, want invalid_request on field key", key, err)
		}
	}
	if _, err := CleanPrefix("prefix", "a//"); apperr.CodeOf(err) != apperr.Invalid || apperr.As(err).Field != "prefix" {
		t.Errorf("CleanPrefix(a//) error = %#v, want invalid_request on field prefix", err)
	}
	if k, err := CleanKey("key", "cafe\u0301.txt"); err != nil || k != "caf\u00e9.txt" {
		t.Errorf("CleanKey of a decomposed name = %q, %v; want it in NFC", k, err)
	}
	if _, err := FolderOf("../bob"); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Errorf("FolderOf(../bob) error = %v, want unauthenticated", err)
	}
}

// TestForSigner: on a role session the credentials and URL lifetimes are lowered to an
// hour, each with a warning that names the variable and why; on long-term keys nothing
// changes.
func TestForSigner(t *testing.T) {
	base := Options{Bucket: "b", CredentialsTTL: 2 * time.Hour, URLTTL: 3 * time.Hour, MaxUploadBytes: 1, ContentTypes: []string{"text/plain"}}
	tests := []struct {
		name          string
		signer        Signer
		cred, url     time.Duration
		warnings      int
		warnSubstring string
	}{
		{"long-term keys", Signer{}, 2 * time.Hour, 3 * time.Hour, 0, ""},
		{"role session", Signer{RoleSession: true, Identity: "arn:aws:sts::123456789012:assumed-role/sa-todo-api/x"}, time.Hour, time.Hour, 2, "sa-todo-api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := base.ForSigner(tt.signer)
			if got.CredentialsTTL != tt.cred || got.URLTTL != tt.url || len(warnings) != tt.warnings {
				t.Fatalf("ForSigner = %s, %s, %q; want %s, %s and %d warnings", got.CredentialsTTL, got.URLTTL, warnings, tt.cred, tt.url, tt.warnings)
			}
			for i, v := range []string{"FILES_CREDENTIALS_TTL", "FILES_URL_TTL"}[:len(warnings)] {
				if !strings.Contains(warnings[i], v) || !strings.Contains(warnings[i], tt.warnSubstring) {
					t.Errorf("warning %q: want it to name %s and %s", warnings[i], v, tt.warnSubstring)
				}
			}
		})
	}
	short := base
	short.CredentialsTTL, short.URLTTL = 15*time.Minute, 5*time.Minute
	if got, w := short.ForSigner(Signer{RoleSession: true}); got.CredentialsTTL != short.CredentialsTTL || got.URLTTL != short.URLTTL || len(w) != 0 {
		t.Errorf("lifetimes within an hour on a role session: %s, %s, %q; want them unchanged and no warning", got.CredentialsTTL, got.URLTTL, w)
	}
}
