package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestParseKeys(t *testing.T) {
	good := newRSAKey(t)
	other := newRSAKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}

	// jwkJSON renders key as a JWK with the given extra members ("" values omitted).
	jwkJSON := func(key any, members map[string]string) map[string]any {
		k, err := jwk.Import(key)
		if err != nil {
			t.Fatalf("import %T: %v", key, err)
		}
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for name, v := range members {
			if v != "" {
				m[name] = v
			}
		}
		return m
	}
	rawRSA := func(pub *rsa.PublicKey, kid string) map[string]any {
		enc := base64.RawURLEncoding
		return map[string]any{
			"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": enc.EncodeToString(pub.N.Bytes()),
			"e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}
	}
	sig := func(kid string) map[string]string { return map[string]string{"kid": kid, "alg": "RS256", "use": "sig"} }
	k1 := jwkJSON(&good.PublicKey, sig("k1"))

	tests := []struct {
		name     string
		keys     []map[string]any
		doc      string // used instead of keys when set
		wantKids []string
		wantErr  string
	}{
		{name: "one signing key", keys: []map[string]any{k1}, wantKids: []string{"k1"}},
		{name: "without alg and use", keys: []map[string]any{jwkJSON(&good.PublicKey, map[string]string{"kid": "bare"})}, wantKids: []string{"bare"}},
		{name: "two keys", keys: []map[string]any{k1, jwkJSON(&other.PublicKey, sig("k2"))}, wantKids: []string{"k1", "k2"}},
		{
			name:     "encryption key skipped",
			keys:     []map[string]any{k1, jwkJSON(&other.PublicKey, map[string]string{"kid": "enc", "use": "enc"})},
			wantKids: []string{"k1"},
		},
		{
			name:     "key for another algorithm skipped",
			keys:     []map[string]any{k1, jwkJSON(&other.PublicKey, map[string]string{"kid": "ps", "alg": "PS256", "use": "sig"})},
			wantKids: []string{"k1"},
		},
		{
			name:     "EC key skipped",
			keys:     []map[string]any{k1, jwkJSON(&ecKey.PublicKey, map[string]string{"kid": "ec", "use": "sig"})},
			wantKids: []string{"k1"},
		},
		{
			name:     "key without kid skipped",
			keys:     []map[string]any{k1, jwkJSON(&other.PublicKey, map[string]string{"alg": "RS256"})},
			wantKids: []string{"k1"},
		},
		{
			name:     "private key skipped",
			keys:     []map[string]any{k1, jwkJSON(other, sig("priv"))},
			wantKids: []string{"k1"},
		},
		{name: "duplicate kid", keys: []map[string]any{k1, jwkJSON(&other.PublicKey, sig("k1"))}, wantErr: "k1"},
		{name: "only an encryption key", keys: []map[string]any{jwkJSON(&good.PublicKey, map[string]string{"kid": "enc", "use": "enc"})}, wantErr: "no usable key"},
		{name: "only a 1024-bit key", keys: []map[string]any{rawRSA(&small.PublicKey, "small")}, wantErr: ""},
		{name: "empty set", doc: `{"keys":[]}`, wantErr: "no usable key"},
		{name: "not JSON", doc: `<html>`, wantErr: "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := []byte(tt.doc)
			if tt.doc == "" {
				b, err := json.Marshal(map[string]any{"keys": tt.keys})
				if err != nil {
					t.Fatal(err)
				}
				doc = b
			}
			got, err := parseKeys(doc)
			if tt.wantKids == nil {
				if err == nil {
					t.Fatalf("parseKeys accepted the set: kids %v", slices.Sorted(maps.Keys(got)))
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseKeys: %v", err)
			}
			if diff := cmp.Diff(tt.wantKids, slices.Sorted(maps.Keys(got))); diff != "" {
				t.Errorf("kids (-want +got):\n%s", diff)
			}
			if k, ok := got["k1"]; ok && !k.Equal(&good.PublicKey) {
				t.Error("k1 is not the published key")
			}
		})
	}
}
