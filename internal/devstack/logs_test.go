package devstack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/logtest"
)

func TestRenderText(t *testing.T) {
	at := time.Date(2026, 12, 7, 6, 10, 4, 123e6, time.UTC)
	clock := at.Local().Format("15:04:05.000")
	tests := []struct {
		name string
		f    lineFormat
		line string
		want string
	}{
		{"info with attributes in their order, service left out",
			lineFormat{name: "todo-api", width: 12},
			`{"time":"2026-12-07T06:10:04.123Z","level":"INFO","msg":"request","service":"todo-api","method":"GET","status":200,"path":"/v1/todos","ua":"curl 8"}`,
			"todo-api     | " + clock + ` INFO  request method=GET status=200 path=/v1/todos ua="curl 8"`},
		{"error in red with the prefix's colour",
			lineFormat{name: "moto", width: 4, colour: true},
			`{"time":"2026-12-07T06:10:04.123Z","level":"ERROR","msg":"boom","err":{"code":1}}`,
			prefixColourOf("moto") + "moto | " + ansiReset + ansiDim + clock + ansiReset + " " + ansiBold + ansiRed + "ERROR boom" + ansiReset + " " + ansiDim + "err=" + ansiReset + `{"code":1}`},
		{"warning without colour still says WARN",
			lineFormat{name: "gateway", width: 8},
			`{"level":"WARN","msg":"slow upstream"}`,
			"gateway  | WARN  slow upstream"},
		{"not JSON: as it is",
			lineFormat{name: "moto", width: 6},
			`Traceback (most recent call last):`,
			"moto   | Traceback (most recent call last):"},
		{"json format: as it is",
			lineFormat{name: "gateway", width: 7, json: true},
			`{"level":"INFO","msg":"x"}`,
			`gateway | {"level":"INFO","msg":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.f.render([]byte(tt.line))); diff != "" {
				t.Errorf("render (-want +got):\n%s", diff)
			}
		})
	}
}

func prefixColourOf(name string) string {
	p := lineFormat{name: name, colour: true}.prefix()
	return p[:strings.IndexByte(p, 'm')+1]
}

func writeLogs(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, LogsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, LogsDir, name+".log"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShowLogs(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	ts := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
	old := now.Add(-2 * time.Hour).Local().Format("02/Jan/2006 15:04:05")
	writeLogs(t, dir, map[string]string{
		"todo-api": `{"time":"` + ts(time.Hour) + `","level":"INFO","msg":"old"}` + "\n" +
			`{"time":"` + ts(time.Minute) + `","level":"INFO","msg":"recent"}` + "\n",
		"gateway": `{"time":"` + ts(30*time.Minute) + `","level":"INFO","msg":"between"}` + "\n" +
			`{"time":"` + ts(time.Second) + `","level":"INFO","msg":"newest"}` + "\n" +
			`{"time":"` + ts(0) + `","level":"INFO","msg":"half a line`,
		"moto": `127.0.0.1 - - [` + old + `] "GET /moto-api/ HTTP/1.1" 200 -` + "\n" + "Traceback: part of it\n",
	})
	tests := []struct {
		name string
		o    LogsOptions
		want []string // messages in order
	}{
		{"all, merged in time order, moto's lines by their own time", LogsOptions{Format: LogJSON},
			[]string{"moto", "moto", "old", "between", "recent", "newest"}},
		{"one service", LogsOptions{Names: []string{"gateway"}, Format: LogJSON}, []string{"between", "newest"}},
		{"since", LogsOptions{Since: 10 * time.Minute, Format: LogJSON}, []string{"recent", "newest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.o.Dir, tt.o.Out = dir, &out
			if err := ShowLogs(context.Background(), tt.o); err != nil {
				t.Fatal(err)
			}
			var got []string
			for line := range strings.Lines(out.String()) {
				if strings.HasPrefix(line, "moto") {
					got = append(got, "moto")
					continue
				}
				rec, ok := parseRecord([]byte(line[strings.Index(line, "| ")+2:]))
				if !ok {
					t.Fatalf("line %q is not a record", line)
				}
				got = append(got, rec.msg)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unknown service", func(t *testing.T) {
		err := ShowLogs(context.Background(), LogsOptions{Dir: dir, Names: []string{"nope"}, Out: &bytes.Buffer{}})
		if err == nil || !strings.Contains(err.Error(), "there are: gateway, moto, todo-api") {
			t.Errorf("err = %v, want one listing the logs there are", err)
		}
	})
}

func TestShowLogsFollow(t *testing.T) {
	dir := t.TempDir()
	writeLogs(t, dir, map[string]string{"thumbnailer": `{"level":"INFO","msg":"before"}` + "\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- ShowLogs(ctx, LogsOptions{Dir: dir, Follow: true, Out: out, Poll: 10 * time.Millisecond})
	}()
	f, err := os.OpenFile(filepath.Join(dir, LogsDir, "thumbnailer.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Written in two pieces: the half line waits for the rest.
	if _, err := f.WriteString(`{"level":"ERROR","msg":"af`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := f.WriteString(`ter"}` + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := "thumbnailer | INFO  before\nthumbnailer | ERROR after\n"
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("followed output (-want +got):\n%s", diff)
	}
}
