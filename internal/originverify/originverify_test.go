package originverify

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func verify(s Secrets, value string, set bool) bool {
	r := httptest.NewRequest("GET", "/v1/posts", nil)
	if set {
		r.Header.Set(Header, value)
	}
	return s.Verify(r)
}

func TestVerify(t *testing.T) {
	cur, prev := strings.Repeat("c", 43), strings.Repeat("p", 43)
	s, err := New(cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value string
		set   bool
		want  bool
	}{
		{cur, true, true},
		{prev, true, true},
		{"", false, false},
		{"", true, false},
		{cur[:42], true, false},
		{cur + "c", true, false},
		{strings.Repeat("x", 43), true, false},
	} {
		if got := verify(s, tc.value, tc.set); got != tc.want {
			t.Errorf("Verify(%q, set %v) = %v, want %v", tc.value, tc.set, got, tc.want)
		}
	}
	if verify(Secrets{}, "", true) || verify(Secrets{}, cur, true) {
		t.Error("the zero Secrets accepted a request")
	}
	if _, err := New("short"); err == nil {
		t.Error("New accepted a 5-character secret")
	}
	v1, err := NewValue()
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := NewValue()
	if len(v1) != 43 || v1 == v2 {
		t.Errorf("NewValue = %q, %q: want two different 43-character values", v1, v2)
	}
}

// TestLoad reads a secret from moto over HTTP with the SDK: before a rotation only its
// value is accepted, after one (PutSecretValue moves AWSCURRENT, the old value becomes
// AWSPREVIOUS) both; a missing secret is an error naming it.
func TestLoad(t *testing.T) {
	ep := mototest.Endpoint(t)
	sm := secretsmanager.NewFromConfig(mototest.AWSConfig(t, ep))
	ctx := context.Background()
	name := mototest.Name("origin-verify-")
	first, _ := NewValue()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(first)}); err != nil {
		t.Fatal(err)
	}
	s, err := Load(ctx, sm, name)
	if err != nil {
		t.Fatal(err)
	}
	if !verify(s, first, true) || len(s.values) != 1 {
		t.Fatalf("before a rotation: %d values, first accepted %v", len(s.values), verify(s, first, true))
	}
	second, _ := NewValue()
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(second)}); err != nil {
		t.Fatal(err)
	}
	s, err = Load(ctx, sm, name)
	if err != nil {
		t.Fatal(err)
	}
	third, _ := NewValue()
	if !verify(s, first, true) || !verify(s, second, true) || verify(s, third, true) {
		t.Errorf("during a rotation: previous %v, current %v, other %v; want true, true, false",
			verify(s, first, true), verify(s, second, true), verify(s, third, true))
	}
	if _, err := Load(ctx, sm, name+"-missing"); err == nil || !strings.Contains(err.Error(), name+"-missing") {
		t.Errorf("a missing secret: %v, want an error naming it", err)
	}
}
