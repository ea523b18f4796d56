package emailaddr

import (
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

func TestNormalise(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		// wantMsg, for a refusal, is a piece of the message the reader sees.
		wantMsg string
	}{
		{" Ann@Example.COM ", "ann@example.com", ""},
		{"ann.lee+news@example.co.uk", "ann.lee+news@example.co.uk", ""},
		{"o'brien@example.com", "o'brien@example.com", ""},
		{"user@bücher.de", "user@xn--bcher-kva.de", ""},
		{"user@EXAMPLE.com.", "user@example.com", ""},
		{"", "", "is required"},
		{"   ", "", "is required"},
		{"ü@example.com", "", "outside ASCII"},
		{"jürgen@example.com", "", "outside ASCII"},
		{"Ann <ann@example.com>", "", "such as ann@example.com"},
		{`"a b"@example.com`, "", "such as ann@example.com"},
		{"ann(comment)@example.com", "", "such as ann@example.com"},
		{"ann@localhost", "", "such as ann@example.com"},
		{"ann@[127.0.0.1]", "", "not an IP address"},
		{"ann@.example.com", "", "such as ann@example.com"},
		{"ann@example..com", "", "such as ann@example.com"},
		{"ann..lee@example.com", "", "such as ann@example.com"},
		{".ann@example.com", "", "such as ann@example.com"},
		{"ann@", "", "such as ann@example.com"},
		{"@example.com", "", "such as ann@example.com"},
		{"nobody", "", "such as ann@example.com"},
		{"a@b@example.com", "", "such as ann@example.com"},
		{"ann\x00@example.com", "", "such as ann@example.com"},
		{"ann@exa mple.com", "", "such as ann@example.com"},
		{strings.Repeat("a", 65) + "@example.com", "", "at most 64 characters before"},
		{"a@" + strings.Repeat("b", 250) + ".com", "", ""},
		{"\xff@example.com", "", "such as ann@example.com"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Normalise(tc.in)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("Normalise(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				again, err := Normalise(got)
				if err != nil || again != got {
					t.Errorf("Normalise is not idempotent: %q -> %q, %v", got, again, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Normalise(%q) = %q, want a refusal", tc.in, got)
			}
			e := apperr.As(err)
			if e == nil || e.Code != apperr.Invalid || e.Field != "email" {
				t.Fatalf("refusal %v is not an invalid_request about the field email", err)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("message %q lacks %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func TestMailbox(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"victim@example.com", "victim@example.com"},
		{"victim+0@example.com", "victim@example.com"},
		{"victim+a+b@example.com", "victim@example.com"},
		{"v.i.c.t.i.m@example.com", "v.i.c.t.i.m@example.com"},
		{"v.ictim+4@gmail.com", "victim@gmail.com"},
		{"victim@googlemail.com", "victim@gmail.com"},
		{"+only@example.com", "+only@example.com"},
	} {
		if got := Mailbox(tc.in); got != tc.want {
			t.Errorf("Mailbox(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Every spelling of one inbox folds to one key; distinct inboxes stay distinct.
	a, b := Mailbox("ann.lee+x@gmail.com"), Mailbox("annlee@googlemail.com")
	if a != b {
		t.Errorf("Gmail spellings fold to %q and %q", a, b)
	}
	if Mailbox("ann.lee@example.com") == Mailbox("annlee@example.com") {
		t.Error("dots folded outside Gmail: two people's inboxes would share one key")
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"ann@example.com", "ü@example.com", "a+b@gmail.com", "x@bücher.de", "<a@b.c>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalise(s)
		if err != nil {
			return
		}
		if len(got) > MaxBytes || got != strings.ToLower(got) {
			t.Fatalf("Normalise(%q) = %q: too long or not lower-case", s, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= 0x80 || got[i] <= ' ' {
				t.Fatalf("Normalise(%q) = %q holds byte %#x", s, got, got[i])
			}
		}
		if again, err := Normalise(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
		if m := Mailbox(got); !strings.Contains(m, "@") {
			t.Fatalf("Mailbox(%q) = %q", got, m)
		}
	})
}
