package maillink

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

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
			got, err := s.VerifyUnsubscribe(s.Unsubscribe(email))
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
	good := s.Unsubscribe("a@example.com")
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
		"other key":        testSigner(t, 2).Unsubscribe("a@example.com"),
		"signature only":   ".",
		"extra dot suffix": good + ".x",
		"a confirmation":   s.Confirm("a@example.com", time.Now().Add(time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := s.VerifyUnsubscribe(tok); !errors.Is(err, ErrInvalid) {
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

func TestLinks(t *testing.T) {
	s := testSigner(t, 3)
	exp := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		link, path string
		verify     func(tok string) (string, error)
	}{
		{s.UnsubscribeLink("https://blog.example.com/", "a+b@example.com"), UnsubscribePath, s.VerifyUnsubscribe},
		{s.ConfirmLink("https://blog.example.com/", "a+b@example.com", exp), ConfirmPath, func(tok string) (string, error) {
			email, _, err := s.VerifyConfirm(tok, exp)
			return email, err
		}},
	} {
		u, err := url.Parse(tc.link)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("https://blog.example.com"+tc.path, u.Scheme+"://"+u.Host+u.Path); diff != "" {
			t.Errorf("link base (-want +got):\n%s", diff)
		}
		if got, err := tc.verify(u.Query().Get(Param)); err != nil || got != "a+b@example.com" {
			t.Errorf("verify the token of %s = %q, %v", tc.link, got, err)
		}
	}
}

func TestConfirm(t *testing.T) {
	s := testSigner(t, 4)
	exp := time.Unix(1_800_000_000, 0)
	tok := s.Confirm("ann@example.com", exp)
	if email, got, err := s.VerifyConfirm(tok, exp.Add(-time.Hour)); err != nil || email != "ann@example.com" || !got.Equal(exp) {
		t.Errorf("VerifyConfirm before expiry = %q, %v, %v", email, got, err)
	}
	if email, _, err := s.VerifyConfirm(tok, exp.Add(time.Second)); !errors.Is(err, ErrExpired) || email != "ann@example.com" {
		t.Errorf("VerifyConfirm after expiry = %q, %v; want the address and ErrExpired", email, err)
	}
	addr, rest, _ := strings.Cut(tok, ".")
	_, sig, _ := strings.Cut(rest, ".")
	for name, bad := range map[string]string{
		"a later expiry":  addr + "." + strconv.FormatInt(exp.Unix()+86400, 10) + "." + sig,
		"a padded expiry": addr + ".0" + strconv.FormatInt(exp.Unix(), 10) + "." + sig,
		"an unsubscribe":  s.Unsubscribe("ann@example.com"),
		"another key":     testSigner(t, 5).Confirm("ann@example.com", exp),
		"another address": enc.EncodeToString([]byte("bob@example.com")) + "." + rest,
		"two parts":       addr + "." + sig,
		"not a number":    addr + ".soon." + sig,
		"empty":           "",
	} {
		if _, _, err := s.VerifyConfirm(bad, exp.Add(-time.Hour)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: VerifyConfirm = %v, want ErrInvalid", name, err)
		}
	}
}
