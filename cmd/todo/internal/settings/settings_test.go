package settings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeStack writes a stack file under root/.dev/stack.json and returns its path.
func writeStack(t *testing.T, root string, s *stack.Stack) string {
	t.Helper()
	p := filepath.Join(root, stack.DefaultPath)
	if err := stack.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

func devStack() *stack.Stack {
	return &stack.Stack{
		Region:      "eu-west-1",
		AWSEndpoint: "http://127.0.0.1:4566",
		CAFile:      ".dev/tls/ca.pem",
		APIURL:      "https://localhost:8443",
		Resources:   stack.Resources{UserPoolClientID: "client-from-stack"},
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	p := writeStack(t, root, devStack())
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, deep} {
		got, ok := Find(dir)
		if !ok || got != p {
			t.Errorf("Find(%s) = %q, %v; want %q, true", dir, got, ok, p)
		}
	}
	if got, ok := Find(t.TempDir()); ok {
		t.Errorf("Find in a directory without a stack file = %q, true; want false", got)
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	stackFile := writeStack(t, root, devStack())
	cwd := filepath.Join(root, "services", "todo-api")
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "elsewhere.json")
	s := devStack()
	s.CAFile = "ca.pem"
	s.APIURL = "https://other.example"
	if err := stack.Write(other, s); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()

	tests := []struct {
		name  string
		flags Flags
		env   map[string]string
		cwd   string
		want  Settings
	}{
		{
			name: "discovered in a parent directory",
			cwd:  cwd,
			want: Settings{
				StackFile: stackFile, APIURL: "https://localhost:8443", Region: "eu-west-1",
				ClientID: "client-from-stack", CAFile: filepath.Join(root, ".dev/tls/ca.pem"),
				CognitoEndpoint: "http://127.0.0.1:4566",
			},
		},
		{
			name: "flags override the stack",
			cwd:  cwd,
			flags: Flags{
				APIURL: "https://api.example", Region: "us-west-2", ClientID: "flag-client",
				CAFile: "my-ca.pem", CognitoEndpoint: "http://127.0.0.1:5000",
			},
			want: Settings{
				StackFile: stackFile, APIURL: "https://api.example", Region: "us-west-2",
				ClientID: "flag-client", CAFile: "my-ca.pem", CognitoEndpoint: "http://127.0.0.1:5000",
			},
		},
		{
			name: "AWS_ENDPOINT_URL set: the SDK's variable wins over the stack",
			cwd:  cwd,
			env:  map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9999"},
			want: Settings{
				StackFile: stackFile, APIURL: "https://localhost:8443", Region: "eu-west-1",
				ClientID: "client-from-stack", CAFile: filepath.Join(root, ".dev/tls/ca.pem"),
			},
		},
		{
			name: "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER set",
			cwd:  cwd,
			env:  map[string]string{"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "http://127.0.0.1:9999"},
			want: Settings{
				StackFile: stackFile, APIURL: "https://localhost:8443", Region: "eu-west-1",
				ClientID: "client-from-stack", CAFile: filepath.Join(root, ".dev/tls/ca.pem"),
			},
		},
		{
			name: "TODO_STACK_FILE beats discovery; relative caFile next to it",
			cwd:  cwd,
			env:  map[string]string{"TODO_STACK_FILE": other},
			want: Settings{
				StackFile: other, APIURL: "https://other.example", Region: "eu-west-1",
				ClientID: "client-from-stack", CAFile: filepath.Join(filepath.Dir(other), "ca.pem"),
				CognitoEndpoint: "http://127.0.0.1:4566",
			},
		},
		{
			name:  "--stack beats TODO_STACK_FILE",
			cwd:   empty,
			flags: Flags{StackFile: stackFile},
			env:   map[string]string{"TODO_STACK_FILE": other},
			want: Settings{
				StackFile: stackFile, APIURL: "https://localhost:8443", Region: "eu-west-1",
				ClientID: "client-from-stack", CAFile: filepath.Join(root, ".dev/tls/ca.pem"),
				CognitoEndpoint: "http://127.0.0.1:4566",
			},
		},
		{
			name:  "no stack: flags and AWS_REGION",
			cwd:   empty,
			flags: Flags{APIURL: "https://api.example", ClientID: "c"},
			env:   map[string]string{"AWS_REGION": "ap-south-1"},
			want:  Settings{APIURL: "https://api.example", Region: "ap-south-1", ClientID: "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.flags, env(tt.env), tt.cwd)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			tt.want.searched = tt.cwd
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(Settings{})); diff != "" {
				t.Errorf("Resolve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := Resolve(Flags{StackFile: missing}, env(nil), t.TempDir()); err == nil {
		t.Error("Resolve with a missing --stack file: err = nil, want an error")
	}
	if _, err := Resolve(Flags{}, env(map[string]string{"TODO_STACK_FILE": missing}), t.TempDir()); err == nil {
		t.Error("Resolve with a missing TODO_STACK_FILE: err = nil, want an error")
	}

	dir := t.TempDir()
	s, err := Resolve(Flags{}, env(nil), dir)
	if err != nil {
		t.Fatalf("Resolve with nothing: %v", err)
	}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{name: "API", err: s.NeedAPI(), want: []string{"--api-url", dir, "make dev"}},
		{name: "Cognito", err: s.NeedCognito(), want: []string{"--client-id", dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("err = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.err.Error(), w) {
					t.Errorf("error %q does not mention %q", tt.err, w)
				}
			}
		})
	}
	s.ClientID = "c"
	if err := s.NeedCognito(); err == nil || !strings.Contains(err.Error(), "--region") {
		t.Errorf("NeedCognito without a region: err = %v, want one naming --region", err)
	}
}
