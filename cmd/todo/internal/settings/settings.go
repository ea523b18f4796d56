// Package settings works out where the todo CLI sends its requests: the API URL, the
// Cognito region, app client and endpoint, and the CA to trust. Values come from
// command-line flags first, then from the stack file that `make dev` writes
// (.dev/stack.json, found in the current directory or any parent), then from the
// environment.
package settings

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// Flags are the global command-line overrides; empty means not given.
type Flags struct {
	StackFile       string
	APIURL          string
	Region          string
	ClientID        string
	CAFile          string
	CognitoEndpoint string
}

// Settings are the resolved values.
type Settings struct {
	// StackFile is the stack file the values came from, empty when none was used.
	StackFile string
	// APIURL is the base URL of the to-do API.
	APIURL string
	// Region is the Cognito region.
	Region string
	// ClientID is the user pool's app client id.
	ClientID string
	// CAFile is a PEM file of extra CAs to trust for HTTPS (the local dev CA).
	CAFile string
	// CognitoEndpoint overrides the Cognito endpoint (moto); empty means the SDK's
	// default, which honours AWS_ENDPOINT_URL(_COGNITO_IDENTITY_PROVIDER).
	CognitoEndpoint string
	// searched is the directory where stack discovery started, for error messages.
	searched string
}

// Resolve combines flags, the stack file and the environment. cwd is where discovery of
// .dev/stack.json starts. A stack file named by --stack or TODO_STACK_FILE must exist;
// a discovered one is optional, so flags alone are enough.
func Resolve(f Flags, getenv func(string) string, cwd string) (Settings, error) {
	path := f.StackFile
	if path == "" {
		path = getenv("TODO_STACK_FILE")
	}
	if path == "" {
		if found, ok := Find(cwd); ok {
			path = found
		}
	}
	var st stack.Stack
	if path != "" {
		s, err := stack.Read(path)
		if err != nil {
			return Settings{}, err
		}
		st = *s
	}
	out := Settings{
		StackFile: path,
		APIURL:    first(f.APIURL, st.APIURL),
		Region:    first(f.Region, st.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		ClientID:  first(f.ClientID, st.Resources.UserPoolClientID),
		CAFile:    f.CAFile,
		searched:  cwd,
	}
	if out.CAFile == "" && st.CAFile != "" {
		out.CAFile = stackRelative(path, st.CAFile)
	}
	out.CognitoEndpoint = f.CognitoEndpoint
	if out.CognitoEndpoint == "" && st.CognitoEndpoint != "" &&
		getenv("AWS_ENDPOINT_URL") == "" && getenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER") == "" {
		out.CognitoEndpoint = st.CognitoEndpoint
	}
	if out.CognitoEndpoint == "" && st.AWSEndpoint != "" &&
		getenv("AWS_ENDPOINT_URL") == "" && getenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER") == "" {
		out.CognitoEndpoint = st.AWSEndpoint
	}
	return out, nil
}

// Find looks for .dev/stack.json in dir and each of its parents.
func Find(dir string) (string, bool) {
	if dir == "" {
		return "", false
	}
	for {
		p := filepath.Join(dir, stack.DefaultPath)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// stackRelative resolves a relative path from a stack file against the repository root:
// the directory holding .dev/ when the file sits in a .dev directory, else the file's
// own directory.
func stackRelative(stackFile, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	dir := filepath.Dir(stackFile)
	if filepath.Base(dir) == filepath.Dir(stack.DefaultPath) {
		dir = filepath.Dir(dir)
	}
	return filepath.Join(dir, p)
}

// NeedAPI reports a missing API URL.
func (s Settings) NeedAPI() error {
	if s.APIURL == "" {
		return s.missing("the API URL", "--api-url")
	}
	return nil
}

// NeedCognito reports a missing app client id or region.
func (s Settings) NeedCognito() error {
	if s.ClientID == "" {
		return s.missing("the Cognito app client id", "--client-id")
	}
	return s.NeedRegion()
}

// NeedRegion reports a missing region.
func (s Settings) NeedRegion() error {
	if s.Region == "" {
		return s.missing("the AWS region", "--region (or AWS_REGION)")
	}
	return nil
}

func (s Settings) missing(what, flag string) error {
	if s.StackFile != "" {
		return fmt.Errorf("no value for %s: the stack file %s has none; pass %s", what, s.StackFile, flag)
	}
	return fmt.Errorf("no value for %s: pass %s, or --stack FILE; no %s was found in %s or its parents (is make dev running?)",
		what, flag, stack.DefaultPath, s.searched)
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
