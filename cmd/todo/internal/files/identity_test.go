package files

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	citypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
)

// fakeIdentity counts calls and hands out credentials that expire after ttl.
type fakeIdentity struct {
	now          func() time.Time
	ttl          time.Duration
	getID, creds int
	logins       []map[string]string
}

func (f *fakeIdentity) GetId(_ context.Context, in *ci.GetIdInput, _ ...func(*ci.Options)) (*ci.GetIdOutput, error) {
	f.getID++
	f.logins = append(f.logins, in.Logins)
	return &ci.GetIdOutput{IdentityId: aws.String("us-east-1:id-" + string(rune('0'+f.getID)))}, nil
}

func (f *fakeIdentity) GetCredentialsForIdentity(_ context.Context, in *ci.GetCredentialsForIdentityInput, _ ...func(*ci.Options)) (*ci.GetCredentialsForIdentityOutput, error) {
	f.creds++
	f.logins = append(f.logins, in.Logins)
	return &ci.GetCredentialsForIdentityOutput{IdentityId: in.IdentityId, Credentials: &citypes.Credentials{
		AccessKeyId: aws.String("AK" + string(rune('0'+f.creds))), SecretKey: aws.String("s"), SessionToken: aws.String("t"),
		Expiration: aws.Time(f.now().Add(f.ttl)),
	}}, nil
}

func TestIdentityPoolCachesUntilShortlyBeforeExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	api := &fakeIdentity{now: clock, ttl: 90 * time.Second}
	path := filepath.Join(t.TempDir(), "cfg", "identity.json")
	sub := "alice"
	p := &IdentityPool{API: api, PoolID: "us-east-1:pool", Provider: "cognito-idp.us-east-1.amazonaws.com/us-east-1_x",
		Cache: Cache{Path: path}, Now: clock,
		Login: func(context.Context) (string, string, error) { return "id-token", sub, nil }}
	ctx := context.Background()

	c1, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if api.getID != 1 || api.creds != 1 || c1.AccessKeyID != "AK1" || !c1.CanExpire {
		t.Fatalf("first: getId=%d creds=%d %+v", api.getID, api.creds, c1)
	}
	if got := api.logins[0]["cognito-idp.us-east-1.amazonaws.com/us-east-1_x"]; got != "id-token" {
		t.Errorf("Logins = %v", api.logins[0])
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v", fi, err)
	}

	// A new process (new provider, same file) within the validity: no call.
	now = now.Add(59 * time.Second)
	p2 := &IdentityPool{API: api, PoolID: p.PoolID, Provider: p.Provider, Cache: p.Cache, Now: clock, Login: p.Login}
	if c, _ := p2.Retrieve(ctx); c.AccessKeyID != "AK1" || api.creds != 1 {
		t.Errorf("within validity: %+v, %d calls", c, api.creds)
	}
	// Within RefreshMargin of expiry: refreshed, same identity (GetId not called again).
	now = now.Add(2 * time.Second)
	c, err := p2.Retrieve(ctx)
	if err != nil || c.AccessKeyID != "AK2" || api.getID != 1 {
		t.Errorf("near expiry: %+v %v, getId=%d", c, err, api.getID)
	}
	if c, _ := p2.Cache.Load(); c.IdentityID != "us-east-1:id-1" {
		t.Errorf("cached identity id = %q", c.IdentityID)
	}
	// Another user signs in with the same config dir: the cache is not reused.
	sub = "bob"
	if c, _ := p2.Retrieve(ctx); c.AccessKeyID != "AK3" || api.getID != 2 {
		t.Errorf("other user: %+v, getId=%d", c, api.getID)
	}
}

// The CLI applies todo-api's key rules before it calls S3 with temporary credentials:
// the same refusals, and the same spelling (NFC) for the same name.
func TestCleanKey(t *testing.T) {
	tests := []struct {
		key    string
		prefix bool
		want   string
		ok     bool
	}{
		{"a.txt", false, "a.txt", true}, {"a/b.txt", false, "a/b.txt", true}, {"", false, "", false}, {"", true, "", true},
		{"a/", true, "a/", true}, {"a/", false, "", false}, {"../x", false, "", false}, {"/x", false, "", false},
		{"a\\b", false, "", false}, {"a//b", false, "", false}, {"a\nb", false, "", false}, {"./a", false, "", false},
		{"a\u0085b", false, "", false}, {"a\u2028b", false, "", false}, {"a\xffb", false, "", false},
		{"cafe\u0301.txt", false, "caf\u00e9.txt", true}, {"cafe\u0301/", true, "caf\u00e9/", true},
	}
	for _, tt := range tests {
		clean := CleanKey
		if tt.prefix {
			clean = CleanPrefix
		}
		got, err := clean(tt.key)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("clean(%q, prefix %v) = %q, %v; want %q, ok=%v", tt.key, tt.prefix, got, err, tt.want, tt.ok)
		}
	}
	s := &Store{Folder: "users/alice/"}
	fits := strings.Repeat("x", 1024-len(s.Folder))
	if full, err := s.fullKey(fits); err != nil || full != s.Folder+fits {
		t.Errorf("a key of exactly 1024 bytes with the folder: %q, %v", full, err)
	}
	if _, err := s.fullKey(fits + "x"); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("a key over 1024 bytes with the folder: %v, want a too-long error", err)
	}
}
