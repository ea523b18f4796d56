// Package policytest compares policy documents with golden files, for the tests of
// every package that builds policies.
package policytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/iampolicy"
)

// UpdateEnv is the environment variable that, set to 1, rewrites golden files from the
// documents instead of comparing (UPDATE_GOLDEN=1 go test ./...). Review the diff.
const UpdateEnv = "UPDATE_GOLDEN"

// Golden renders d and compares it byte for byte with the file at path (relative to the
// test's package directory, normally testdata/<name>.json).
func Golden(t testing.TB, path string, d iampolicy.Document) {
	t.Helper()
	got, err := d.JSON()
	if err != nil {
		t.Fatalf("render %s: %v", path, err)
	}
	if os.Getenv(UpdateEnv) == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run with %s=1 to create it, then review it)", err, UpdateEnv)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the document (-want +got):\n%s", path, diff)
	}
}
