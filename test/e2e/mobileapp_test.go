package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/webapp"
)

// TestMobileAppStack runs test/e2e/mobileapp/app.mjs, the mobile app's path written
// with libraries no one here wrote (amazon-cognito-identity-js signing in with SRP,
// the AWS SDK for JavaScript v3's fromCognitoIdentityPool and S3 client), with node
// against the local stack: the object the app puts under the prefix the API states is
// the object the API lists, and that prefix is the user pool sub's folder, not the
// identity id's. The packages come from npm at the versions of the committed lock
// file (npm ci), installed once per lock file under the user's cache directory.
func TestMobileAppStack(t *testing.T) {
	node, errNode := exec.LookPath("node")
	_, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		t.Skip("node and npm are needed (Node 20): the mobile app's JavaScript stack runs on them")
	}
	app := installMobileApp(t)
	s := sharedStack(t)
	r := s.stack.Resources
	key := "from-the-js-app.txt"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "app.mjs")
	cmd.Dir = app
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+s.stack.CAFile,
		"REGION="+s.stack.Region, "AWS_ENDPOINT="+s.stack.AWSEndpoint, "API_URL="+s.stack.APIURL,
		"USER_POOL_ID="+r.UserPoolID, "CLIENT_ID="+r.UserPoolClientID, "IDENTITY_POOL_ID="+r.IdentityPoolID,
		"PROVIDER="+strings.TrimPrefix(r.Issuer, "https://"), "BUCKET="+r.FilesBucket,
		fmt.Sprintf("EMAIL=js-%d@example.com", time.Now().UnixNano()), "PASSWORD=Corr3ct-Horse-Battery", "KEY="+key,
		// The SDK must find no other credentials than the identity pool's.
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CONFIG_FILE=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node app.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	var res struct {
		Flow       string   `json:"flow"`
		Sub        string   `json:"sub"`
		Prefix     string   `json:"prefix"`
		Before     []string `json:"before"`
		After      []string `json:"after"`
		IdentityID string   `json:"identityId"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("app output %q: %v", out, err)
	}
	if res.Flow != "USER_SRP_AUTH" {
		t.Errorf("the app signed in with %q, want USER_SRP_AUTH", res.Flow)
	}
	if res.Sub == "" || res.Prefix != "users/"+res.Sub+"/" {
		t.Errorf("prefix %q, want users/<the id token's sub %q>/", res.Prefix, res.Sub)
	}
	if res.IdentityID == "" || strings.Contains(res.Prefix, res.IdentityID) {
		t.Errorf("identity id %q, prefix %q: the folder must not be the identity id's", res.IdentityID, res.Prefix)
	}
	if len(res.Before) != 0 || len(res.After) != 1 || res.After[0] != key {
		t.Errorf("the API listed %v before and %v after the app's put, want [] and [%s]", res.Before, res.After, key)
	}
}

// installMobileApp returns a directory holding app.mjs and its packages as the
// committed lock file pins them (npm ci once per lock file, under the user's cache
// directory, so the source tree stays clean).
func installMobileApp(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "test", "e2e", "mobileapp")
	dir, err := webapp.InstallPackages(context.Background(), src, "e2e-mobileapp", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(src, "app.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.mjs"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
