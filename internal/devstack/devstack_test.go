package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

func TestPrefixer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"one line", []string{"hello\n"}, "svc | hello\n"},
		{"line split across writes", []string{"hel", "lo\nwor", "ld\n"}, "svc | hello\nsvc | world\n"},
		{"CRLF", []string{"a\r\nb\r\n"}, "svc | a\nsvc | b\n"},
		{"unterminated last line is flushed", []string{"a\nb"}, "svc | a\nsvc | b\n"},
		{"empty line kept", []string{"\n"}, "svc | \n"},
		{"overlong line cut without losing a byte", []string{strings.Repeat("a", maxLine) + "bc", "\n"}, "svc | " + strings.Repeat("a", maxLine) + "\nsvc | bc\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, file bytes.Buffer
			p := &prefixer{con: &console{w: &out}, format: lineFormat{name: "svc", width: 3, json: true}, file: &file, tail: &tail{}}
			for _, w := range tt.writes {
				if n, err := p.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			p.Flush()
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(strings.ReplaceAll(tt.want, "svc | ", ""), file.String()); diff != "" {
				t.Errorf("log file (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTailKeepsLastLines(t *testing.T) {
	var tl tail
	for i := range 30 {
		tl.add(fmt.Sprint(i))
	}
	lines := strings.Split(tl.String(), "\n")
	if len(lines) != tailLines || lines[0] != "10" || lines[len(lines)-1] != "29" {
		t.Errorf("tail = %v, want lines 10 to 29", lines)
	}
}

func TestPageTokenKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "page-token.key")
	k1, err := PageTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(k1)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key %q: %d bytes, %v; want 32 bytes of base64", k1, len(raw), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := PageTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != k2 {
		t.Errorf("second call made a new key")
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := PageTokenKey(path); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("broken key file: err = %v, want advice to delete it", err)
	}
}

func TestCommonEnvAndTodoAPIEnv(t *testing.T) {
	in := Inputs{Region: "eu-west-1", AWSEndpoint: "http://127.0.0.1:1", Port: 9443, PageTokenKey: "k", PoolFile: "/d/cognito-pool.json"}
	in.TLS.Cert, in.TLS.Key = "/c.pem", "/k.pem"
	in.Resources.TodosTable, in.Resources.Issuer, in.Resources.JWKSURL, in.Resources.UserPoolClientID = "t", "iss", "jwks", "cid"
	got := envMap(append(CommonEnv(in), TodoAPIEnv(in)...))
	want := map[string]string{
		"PORT": "9443", "HOST": "127.0.0.1", "TLS_CERT_FILE": "/c.pem", "TLS_KEY_FILE": "/k.pem",
		"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "DRAIN_DELAY": "0s", "METRICS_PORT": "0",
		"TODOS_TABLE": "t", "COGNITO_ISSUER": "iss", "COGNITO_JWKS_URL": "jwks", "COGNITO_CLIENT_IDS": "cid",
		"COGNITO_POOL_FILE": "/d/cognito-pool.json", "PAGE_TOKEN_KEY": "k",
		"FILES_BUCKET": "", "FILES_VENDING_ROLE_ARN": "", "S3_FORCE_PATH_STYLE": "true", "DEV_MODE": "true",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestRunFailsClearly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{
			name: "moto_server missing",
			o:    Options{MotoPort: porttest.Free(t), MotoCommand: "moto_server-that-does-not-exist", Services: []Service{testService(porttest.Free(t))}},
			want: "install it with pip install 'moto[server]' or run make dev, which does",
		},
		{
			name: "service port busy",
			o:    Options{MotoPort: porttest.Free(t), Services: []Service{testService(busyPort)}},
			want: fmt.Sprintf("port %d on 127.0.0.1 is in use", busyPort),
		},
		{
			name: "moto endpoint not answering",
			o:    Options{MotoEndpoint: fmt.Sprintf("http://127.0.0.1:%d", busyPort), ReadyTimeout: time.Second, Services: []Service{testService(porttest.Free(t))}},
			want: "no moto_server answers at",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Dir = t.TempDir()
			tt.o.Stdout = &bytes.Buffer{}
			err := Run(context.Background(), ownPorts(t, tt.o))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: err = %v, want one containing %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(tt.o.Dir, "stack.json")); err == nil {
				t.Errorf("a failed run left stack.json behind")
			}
		})
	}
}

// testService is testdata/testsvc configured like todo-api.
func testService(port int, extraEnv ...string) Service {
	return Service{
		Name:    "testsvc",
		Package: "./testdata/testsvc",
		Port:    func(Options) int { return port },
		Env:     func(in Inputs) []string { return append(TodoAPIEnv(in), extraEnv...) },
		API:     true,
	}
}

func envMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// ownPorts gives a test's stack ports of its own where o leaves the defaults, which are
// make dev's (the Cognito stand-in at 8083, the edges at 8444 and 8445, ...): a test must
// neither fail nor disturb a developer's running stack, nor another test's.
func ownPorts(t testing.TB, o Options) Options {
	t.Helper()
	if o.PortBase == 0 {
		o.PortBase = porttest.Block(t, 16)
	}
	if o.EdgePort == 0 {
		o.EdgePort = porttest.Free(t)
	}
	if o.AppPort == 0 {
		o.AppPort = porttest.Free(t)
	}
	return o
}
