package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type filesListJSON struct {
	Prefix string `json:"prefix"`
	Items  []struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"items"`
}

// TestFilesJourney: Alice uploads, lists and downloads a file through each of the three
// flows (identity pool, token vending, presigned URLs); Bob sees none of it and cannot
// fetch it; bad input is refused; expired identity-pool credentials are refreshed by
// the CLI on its own.
func TestFilesJourney(t *testing.T) {
	s := sharedStack(t)
	bin := buildTool(t, "./cmd/todo")
	alice := newUser(t, bin, s.stackFile, "alice")
	bob := newUser(t, bin, s.stackFile, "bob")
	for _, u := range []*user{alice, bob} {
		u.ok("signup", "--email", u.email)
		u.ok("confirm", "--email", u.email, "--code", "123456")
		u.ok("login", "--email", u.email)
	}
	dir := t.TempDir()
	for _, via := range []string{"identity", "vend", "presign"} {
		t.Run(via, func(t *testing.T) {
			content := []byte("alice's notes via " + via + "\n")
			local := filepath.Join(dir, via+".txt")
			if err := os.WriteFile(local, content, 0o600); err != nil {
				t.Fatal(err)
			}
			key := "notes/" + via + ".txt"
			alice.ok("files", "--via", via, "put", local, key)

			var l filesListJSON
			alice.okJSON(&l, "files", "--via", via, "ls", "notes/")
			if len(l.Items) != 1 || l.Items[0].Key != key || l.Items[0].Size != int64(len(content)) {
				t.Fatalf("alice's listing via %s = %+v, want only %s", via, l.Items, key)
			}
			// One folder per user: whichever way the file went, the API lists it, in the
			// folder it states.
			var api filesListJSON
			alice.okJSON(&api, "files", "--via", "presign", "ls", "notes/")
			if len(api.Items) != 1 || api.Items[0].Key != key || api.Prefix != l.Prefix || !strings.HasPrefix(api.Prefix, "users/") {
				t.Fatalf("after a put via %s the API lists %+v in %q (the flow listed in %q), want only %s", via, api.Items, api.Prefix, l.Prefix, key)
			}
			got := alice.ok("files", "--via", via, "get", key, "-")
			if got != string(content) {
				t.Fatalf("alice downloaded %q, want %q", got, content)
			}

			bob.okJSON(&l, "files", "--via", via, "ls")
			if len(l.Items) != 0 {
				t.Errorf("bob's listing via %s shows %+v", via, l.Items)
			}
			if out, _, code := bob.run("files", "--via", via, "get", key, "-"); code == 0 || strings.Contains(out, "alice") {
				t.Errorf("bob fetched %s via %s: exit %d, %q", key, via, code, out)
			}
			if via != "presign" {
				alice.ok("files", "--via", via, "rm", key)
				alice.okJSON(&l, "files", "--via", via, "ls")
				if len(l.Items) != 0 {
					t.Errorf("after rm via %s: %+v", via, l.Items)
				}
			}
		})
	}

	// A name typed decomposed (as macOS file names come) and composed is one object,
	// whether the file went straight to S3 with vended credentials or through todo-api's
	// presigned URLs: the CLI cleans keys by todo-api's rules (NFC) before it calls S3.
	t.Run("one object per name", func(t *testing.T) {
		content := "déjà vu\n"
		local := filepath.Join(dir, "cafe.txt")
		if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		alice.ok("files", "--via", "vend", "put", local, "menus/cafe\u0301.txt")
		if got := alice.ok("files", "--via", "presign", "get", "menus/caf\u00e9.txt", "-"); got != content {
			t.Errorf("presigned download of the composed name = %q, want %q", got, content)
		}
		var l filesListJSON
		alice.okJSON(&l, "files", "--via", "presign", "ls", "menus/")
		if len(l.Items) != 1 || l.Items[0].Key != "menus/caf\u00e9.txt" {
			t.Errorf("listing = %+v, want the one key menus/caf\u00e9.txt", l.Items)
		}
		alice.ok("files", "--via", "vend", "rm", "menus/cafe\u0301.txt")
		alice.okJSON(&l, "files", "--via", "vend", "ls", "menus/")
		if len(l.Items) != 0 {
			t.Errorf("after rm of the decomposed name: %+v", l.Items)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		hc := caClient(t, s)
		token := idToken(t, alice)
		call := func(method, path, tok string, body any) int {
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, s.stack.APIURL+path, rd)
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		checks := []struct {
			name, method, path, tok string
			body                    any
			want                    int
		}{
			{"no token", "POST", "/v1/files/credentials", "", nil, 401},
			{"garbled token", "GET", "/v1/files", "not-a-jwt", nil, 401},
			{"hostile key", "GET", "/v1/files/download-url?key=..%2F..%2Fusers%2Fx", token, nil, 400},
			{"absolute key", "POST", "/v1/files/upload-url", token, map[string]any{"key": "/etc/passwd", "contentType": "text/plain", "size": 1}, 400},
			{"larger than allowed", "POST", "/v1/files/upload-url", token, map[string]any{"key": "big.bin", "contentType": "application/octet-stream", "size": 1 << 40}, 413},
			{"ok", "GET", "/v1/files", token, nil, 200},
		}
		for _, c := range checks {
			if got := call(c.method, c.path, c.tok, c.body); got != c.want {
				t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, got, c.want)
			}
		}
	})

	t.Run("expired credentials are refreshed", func(t *testing.T) {
		cache := filepath.Join(filepath.Dir(sessionFile(alice)), "identity.json")
		info, err := os.Stat(cache)
		if err != nil {
			t.Fatalf("no credentials cache after the identity flow: %v", err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("credentials cache mode %v, want 0600", info.Mode().Perm())
		}
		var c map[string]any
		b, _ := os.ReadFile(cache)
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		id := c["identityId"]
		c["accessKeyId"] = "EXPIRED"
		c["expiration"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		b, _ = json.Marshal(c)
		if err := os.WriteFile(cache, b, 0o600); err != nil {
			t.Fatal(err)
		}
		alice.ok("files", "ls")
		b, _ = os.ReadFile(cache)
		var after map[string]any
		_ = json.Unmarshal(b, &after)
		exp, _ := time.Parse(time.RFC3339, after["expiration"].(string))
		if after["accessKeyId"] == "EXPIRED" || !exp.After(time.Now()) || after["identityId"] != id {
			t.Errorf("cache after refresh = %v, want new credentials for identity %v", after, id)
		}
	})
}

func caClient(t *testing.T, s *localStack) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(s.stack.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func idToken(t *testing.T, u *user) string {
	t.Helper()
	b, err := os.ReadFile(sessionFile(u))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		IDToken string `json:"idToken"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.IDToken == "" {
		t.Fatalf("session file: %v", err)
	}
	return s.IDToken
}
