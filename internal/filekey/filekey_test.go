package filekey

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"
)

type corpus struct {
	Hostile []struct {
		Key string `json:"key"`
		Why string `json:"why"`
	} `json:"hostile"`
	Accepted []struct {
		Key  string `json:"key"`
		Want string `json:"want"`
	} `json:"accepted"`
}

func loadCorpus(t testing.TB) corpus {
	t.Helper()
	b, err := os.ReadFile("testdata/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var c corpus
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Hostile) < 20 || len(c.Accepted) < 5 {
		t.Fatalf("corpus too small: %d hostile, %d accepted", len(c.Hostile), len(c.Accepted))
	}
	return c
}

func TestCleanHostileCorpus(t *testing.T) {
	c := loadCorpus(t)
	hostile := c.Hostile
	// Invalid UTF-8 cannot be written in JSON.
	hostile = append(hostile, struct {
		Key string `json:"key"`
		Why string `json:"why"`
	}{"a\xffb", "invalid UTF-8"}, struct {
		Key string `json:"key"`
		Why string `json:"why"`
	}{"\xc0\xae\xc0\xae/x", "overlong UTF-8 dots"})
	for _, h := range hostile {
		t.Run(h.Why, func(t *testing.T) {
			if got, err := Clean(h.Key); err == nil {
				t.Fatalf("Clean(%q) = %q, want an error", h.Key, got)
			}
		})
	}
}

func TestCleanAccepted(t *testing.T) {
	for _, a := range loadCorpus(t).Accepted {
		t.Run(a.Key[:min(len(a.Key), 20)], func(t *testing.T) {
			got, err := Clean(a.Key)
			if err != nil {
				t.Fatalf("Clean(%q): %v", a.Key, err)
			}
			if diff := cmp.Diff(a.Want, got); diff != "" {
				t.Errorf("Clean (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCleanPrefix(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"photos/", "photos/", true},
		{"photos/2026", "photos/2026", true},
		{"../", "", false},
		{"/", "", false},
		{"a//", "", false},
		{"a\\", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanPrefix(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("CleanPrefix(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestFolder(t *testing.T) {
	tests := []struct {
		sub, want string
	}{
		{"0b5c2b4e-8d0e-4a53-9c77-5f2f0a1b2c3d", "users/0b5c2b4e-8d0e-4a53-9c77-5f2f0a1b2c3d/"},
		{"us-east-1:0b5c2b4e-8d0e-4a53-9c77-5f2f0a1b2c3d", "users/us-east-1:0b5c2b4e-8d0e-4a53-9c77-5f2f0a1b2c3d/"},
		{"", ""},
		{"../bob", ""},
		{"a/b", ""},
		{"*", ""},
		{"${aws:username}", ""},
		{strings.Repeat("a", 129), ""},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			got, err := Folder(tt.sub)
			if (err == nil) != (tt.want != "") || got != tt.want {
				t.Errorf("Folder(%q) = %q, %v; want %q", tt.sub, got, err, tt.want)
			}
		})
	}
}

// FuzzClean checks the invariants every accepted key keeps, whatever the input:
// NFC, valid UTF-8, bounded, no traversal or separators that could leave the folder,
// stable under a second cleaning, and inside the folder once prefixed.
func FuzzClean(f *testing.F) {
	for _, h := range loadCorpus(f).Hostile {
		f.Add(h.Key)
	}
	for _, a := range loadCorpus(f).Accepted {
		f.Add(a.Key)
	}
	f.Add("a\xffb")
	const folder = "users/alice/"
	f.Fuzz(func(t *testing.T, key string) {
		got, err := Clean(key)
		if err != nil {
			return
		}
		switch {
		case got == "", !utf8.ValidString(got), !norm.NFC.IsNormalString(got), len(got) > MaxBytes:
			t.Fatalf("Clean(%q) = %q: empty, invalid, unnormalised or too long", key, got)
		case strings.HasPrefix(got, "/"), strings.HasSuffix(got, "/"), strings.Contains(got, "//"), strings.ContainsAny(got, "\\\x00\n\r"):
			t.Fatalf("Clean(%q) = %q: separator trouble", key, got)
		}
		for _, seg := range strings.Split(got, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("Clean(%q) = %q: dot segment", key, got)
			}
		}
		if again, err := Clean(got); err != nil || again != got {
			t.Fatalf("Clean not idempotent on %q: %q, %v", got, again, err)
		}
		if !Inside(folder, folder+got) {
			t.Fatalf("%q escapes %q", folder+got, folder)
		}
	})
}

func TestJoin(t *testing.T) {
	const folder = "users/alice/"
	fits := strings.Repeat("x", MaxBytes-len(folder))
	if full, err := Join(folder, fits); err != nil || full != folder+fits {
		t.Errorf("Join of exactly %d bytes: %q, %v", MaxBytes, full, err)
	}
	if _, err := Join(folder, fits+"x"); err == nil {
		t.Errorf("Join of %d bytes succeeded, want an error", MaxBytes+1)
	}
}
