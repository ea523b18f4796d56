package unsubscribe

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testSigner(t *testing.T, fill byte) *Signer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := testSigner(t, 1)
	for _, email := range []string{"a@example.com", "first.last+tag@sub.example.org", "ünï@例え.jp"} {
		t.Run(email, func(t *testing.T) {
			got, err := s.Verify(s.Sign(email))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(email, got); diff != "" {
				t.Errorf("email (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	s := testSigner(t, 1)
	good := s.Sign("a@example.com")
	addr, sig, _ := strings.Cut(good, ".")
	other := base64.RawURLEncoding.EncodeToString([]byte("b@example.com"))
	for name, tok := range map[string]string{
		"empty":            "",
		"no dot":           addr + sig,
		"other address":    other + "." + sig,
		"truncated mac":    addr + "." + sig[:len(sig)-2],
		"flipped mac":      addr + "." + flip(sig),
		"empty address":    "." + sig,
		"not base64":       "!!!." + sig,
		"other key":        testSigner(t, 2).Sign("a@example.com"),
		"signature only":   ".",
		"extra dot suffix": good + ".x",
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := s.Verify(tok); !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify(%q) = %q, %v; want ErrInvalid", tok, got, err)
			}
		})
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		got, err := ParseKey(enc.EncodeToString(key))
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey = %x, %v", got, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
	if _, err := New(make([]byte, 31)); err == nil {
		t.Error("New accepted a 31-byte key")
	}
}

func TestLink(t *testing.T) {
	s := testSigner(t, 3)
	link := s.Link("https://blog.example.com/", "a+b@example.com")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("https://blog.example.com"+Path, u.Scheme+"://"+u.Host+u.Path); diff != "" {
		t.Errorf("link base (-want +got):\n%s", diff)
	}
	got, err := s.Verify(u.Query().Get(Param))
	if err != nil || got != "a+b@example.com" {
		t.Errorf("Verify(link token) = %q, %v", got, err)
	}
}
