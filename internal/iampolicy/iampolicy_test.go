package iampolicy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
	"github.com/serverless-architect/serverless-architect/internal/iampolicy/policytest"
)

func TestFolderGolden(t *testing.T) {
	tests := []struct {
		name   string
		folder iampolicy.Folder
	}{
		{"principal-tag", iampolicy.Folder{Bucket: "files", Prefix: iampolicy.UserFolder()}},
		{"literal", iampolicy.Folder{Bucket: "files", Prefix: "users/0b5c2b4e-8d0e-4a53-9c77-5f2f0a1b2c3d/"}},
		{"china-partition", iampolicy.Folder{Bucket: "files", Prefix: "users/alice/", Partition: "aws-cn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.folder.Document()
			if err != nil {
				t.Fatal(err)
			}
			policytest.Golden(t, "testdata/folder-"+tt.name+".json", d)
			// The prefix appears exactly where it belongs, and nowhere else.
			b, _ := d.JSON()
			if n := strings.Count(string(b), tt.folder.Prefix); n != 3 {
				t.Errorf("prefix %q appears %d times, want 3 (two s3:prefix values and the object ARN)", tt.folder.Prefix, n)
			}
		})
	}
}

func TestFolderValidate(t *testing.T) {
	tests := []struct {
		name    string
		folder  iampolicy.Folder
		wantErr string
	}{
		{"ok variable", iampolicy.Folder{Bucket: "b", Prefix: "users/${aws:PrincipalTag/sub}/"}, ""},
		{"ok literal", iampolicy.Folder{Bucket: "b", Prefix: "users/abc/"}, ""},
		{"empty prefix", iampolicy.Folder{Bucket: "b", Prefix: ""}, "want a relative path"},
		{"root", iampolicy.Folder{Bucket: "b", Prefix: "/"}, "want a relative path"},
		{"no slash", iampolicy.Folder{Bucket: "b", Prefix: "users/abc"}, "want a relative path"},
		{"absolute", iampolicy.Folder{Bucket: "b", Prefix: "/users/abc/"}, "want a relative path"},
		{"star", iampolicy.Folder{Bucket: "b", Prefix: "users/*/"}, "wildcards"},
		{"question", iampolicy.Folder{Bucket: "b", Prefix: "users/a?c/"}, "wildcards"},
		{"bare dollar", iampolicy.Folder{Bucket: "b", Prefix: "users/$abc/"}, "policy variable"},
		{"unclosed variable", iampolicy.Folder{Bucket: "b", Prefix: "users/${abc/"}, "policy variable"},
		{"empty bucket", iampolicy.Folder{Bucket: "", Prefix: "users/a/"}, "bucket"},
		{"bucket with slash", iampolicy.Folder{Bucket: "b/users", Prefix: "a/"}, "bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.folder.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDocumentValidate(t *testing.T) {
	ok := iampolicy.Statement{Effect: iampolicy.Allow, Action: iampolicy.Values{"s3:GetObject"}, Resource: iampolicy.Values{"*"}}
	with := func(f func(*iampolicy.Statement)) iampolicy.Document {
		s := ok
		f(&s)
		return iampolicy.New(s)
	}
	tests := []struct {
		name    string
		doc     iampolicy.Document
		wantErr string
	}{
		{"ok", iampolicy.New(ok), ""},
		{"no statements", iampolicy.New(), "no statements"},
		{"old version", iampolicy.Document{Version: "2008-10-17", Statement: []iampolicy.Statement{ok}}, "version"},
		{"bad effect", with(func(s *iampolicy.Statement) { s.Effect = "allow" }), "effect"},
		{"no action", with(func(s *iampolicy.Statement) { s.Action = nil }), "no actions"},
		{"action without service", with(func(s *iampolicy.Statement) { s.Action = iampolicy.Values{"GetObject"} }), "service:Action"},
		{"no resource or principal", with(func(s *iampolicy.Statement) { s.Resource = nil }), "neither"},
		{"principal instead of resource", with(func(s *iampolicy.Statement) {
			s.Resource = nil
			s.Principal = iampolicy.Principal{"Service": {"lambda.amazonaws.com"}}
		}), ""},
		{"empty condition key", with(func(s *iampolicy.Statement) {
			s.Condition = iampolicy.Condition{"StringEquals": {"aws:userid": nil}}
		}), "at least one value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.doc.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
			if _, jerr := tt.doc.JSON(); (jerr != nil) != (err != nil) {
				t.Errorf("JSON error %v disagrees with Validate %v", jerr, err)
			}
		})
	}
}

func TestRenderingIsStableAndRoundTrips(t *testing.T) {
	d := iampolicy.New(iampolicy.Statement{
		Sid:       "Trust",
		Effect:    iampolicy.Allow,
		Principal: iampolicy.Principal{"Federated": {"cognito-identity.amazonaws.com"}},
		Action:    iampolicy.Values{"sts:AssumeRoleWithWebIdentity"},
		Condition: iampolicy.Condition{
			"StringEquals":           {"cognito-identity.amazonaws.com:aud": {"us-east-1:x"}, "a:b": {"1", "2"}},
			"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": {"authenticated"}},
		},
	})
	first, err := d.Compact()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := d.Compact()
		if again != first {
			t.Fatalf("rendering changed between runs:\n%s\n%s", first, again)
		}
	}
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"Trust","Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"},` +
		`"StringEquals":{"a:b":["1","2"],"cognito-identity.amazonaws.com:aud":"us-east-1:x"}}}]}`
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("Compact (-want +got):\n%s", diff)
	}
	back, err := iampolicy.Parse([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	var generic map[string]any
	if err := json.Unmarshal([]byte(first), &generic); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
}
