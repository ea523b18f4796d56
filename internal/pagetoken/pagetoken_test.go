package pagetoken

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func newSealer(t *testing.T, purpose string) *Sealer {
	t.Helper()
	s, err := New(RandomKey(), purpose, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t, "todos.list")
	for _, cursor := range []string{"", "TODO#01J0000000000000000000000", strings.Repeat("é", 500)} {
		tok := s.Seal("alice", cursor)
		got, err := s.Open("alice", tok)
		if err != nil {
			t.Fatalf("Open(%q): %v", cursor, err)
		}
		if got != cursor {
			t.Errorf("Open = %q, want %q", got, cursor)
		}
		if strings.Contains(tok, "TODO") {
			t.Errorf("token %q reveals its cursor", tok)
		}
	}
}

func TestRefused(t *testing.T) {
	key := RandomKey()
	s, _ := New(key, "todos.list", time.Hour)
	tok := s.Seal("alice", "TODO#x")
	other := newSealer(t, "todos.list")
	otherPurpose, _ := New(key, "posts.list", time.Hour)

	flip := []byte(tok)
	flip[len(flip)/2] ^= 0x01

	cases := []struct {
		name   string
		sealer *Sealer
		sub    string
		token  string
	}{
		{"other user", s, "bob", tok},
		{"tampered", s, "alice", string(flip)},
		{"truncated", s, "alice", tok[:len(tok)-3]},
		{"not base64", s, "alice", "!!!"},
		{"empty", s, "alice", ""},
		{"other key", other, "alice", tok},
		{"other purpose", otherPurpose, "alice", tok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.sealer.Open(c.sub, c.token); !errors.Is(err, ErrInvalid) {
				t.Errorf("Open = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	s := newSealer(t, "p")
	now := time.Now()
	s.now = func() time.Time { return now }
	tok := s.Seal("alice", "c")
	s.now = func() time.Time { return now.Add(59 * time.Minute) }
	if _, err := s.Open("alice", tok); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	s.now = func() time.Time { return now.Add(61 * time.Minute) }
	if _, err := s.Open("alice", tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired token: err = %v, want ErrInvalid", err)
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Error("short key accepted")
	}
	if _, err := ParseKey("%%%"); err == nil {
		t.Error("garbage key accepted")
	}
	k, err := ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil || len(k) != KeySize || k[31] != 31 {
		t.Errorf("ParseKey = %v, %v", k, err)
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := New(make([]byte, KeySize), "p", time.Hour)
	f.Add(s.Seal("a", "cursor"))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if c, err := s.Open("b", tok); err == nil {
			t.Fatalf("token %q opened for the wrong subject: %q", tok, c)
		}
	})
}
