package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/sitedeploy"
	"github.com/serverless-architect/serverless-architect/internal/stack"
	"github.com/serverless-architect/serverless-architect/internal/webapp"
)

// TestSiteDeployTodoUsage: a wrong --site, and an app config.json that would lack
// what the app needs, are refused before anything is built or uploaded.
func TestSiteDeployTodoUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"site", "deploy", "--site", "shop"}, `--site must be blog or todo, not "shop"`},
		{[]string{"site", "deploy", "--site", "todo", "--bucket", "b", "--region", "us-east-1", "--user-pool-id", "us-east-1_x", "--client-id", "c"},
			"config.json lacks filesBucket, identityPoolId"},
		{[]string{"site", "deploy", "--site", "todo", "--stack", filepath.Join(t.TempDir(), "none.json")}, "or name the target with --bucket"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestSiteDeployTodoAgainstMoto provisions the stack in moto, then publishes the app
// with `sa site deploy --site todo` from a stack file: the build lands in the app's
// bucket with the two caching classes and this stack's config.json, the changed fixed
// names are invalidated on the app's distribution, and a second deploy uploads
// nothing.
func TestSiteDeployTodoAgainstMoto(t *testing.T) {
	ep := motoEnv(t)
	if _, err := webapp.InstallSource(context.Background(), filepath.Join("..", "..", webapp.SourceDir), t.Logf); errors.Is(err, webapp.ErrNoNode) {
		t.Skip(err)
	}
	prefix := mototest.Name("sasite") + "-"
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"provision", "--prefix", prefix, "--output", "json"}, &stdout, &stderr); err != nil {
		t.Fatalf("provision: %v\n%s", err, stderr.String())
	}
	var res stack.Resources
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	st := &stack.Stack{Region: mototest.Region, AWSEndpoint: ep, Services: map[string]stack.Service{}, Resources: res}
	file := filepath.Join(t.TempDir(), "stack.json")
	if err := stack.Write(file, st); err != nil {
		t.Fatal(err)
	}
	deploy := func() string {
		t.Helper()
		stdout.Reset()
		stderr.Reset()
		if err := run(context.Background(), []string{"site", "deploy", "--site", "todo", "--dir", filepath.Join("..", "..", webapp.SourceDir), "--stack", file}, &stdout, &stderr); err != nil {
			t.Fatalf("site deploy --site todo: %v\n%s", err, stderr.String())
		}
		return stdout.String()
	}
	out := deploy()
	for _, want := range []string{"uploaded  index.html", "uploaded  sw.js", "uploaded  config.json", "s3://" + res.AppBucket, "; invalidation "} {
		if !strings.Contains(out, want) {
			t.Errorf("first deploy's output lacks %q:\n%s", want, out)
		}
	}
	api := s3.NewFromConfig(mototest.AWSConfig(t, ep), func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	head := func(key string) string {
		t.Helper()
		h, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(res.AppBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return aws.ToString(h.CacheControl)
	}
	if cc := head("index.html"); cc != sitedeploy.HTMLCacheControl {
		t.Errorf("index.html Cache-Control %q", cc)
	}
	list, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(res.AppBucket), Prefix: aws.String("assets/app-")})
	if err != nil || len(list.Contents) == 0 {
		t.Fatalf("no assets/app-*.js in the bucket: %v", err)
	}
	if cc := head(aws.ToString(list.Contents[0].Key)); cc != sitedeploy.ImmutableCacheControl {
		t.Errorf("%s Cache-Control %q", aws.ToString(list.Contents[0].Key), cc)
	}
	obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(res.AppBucket), Key: aws.String("config.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	var conf webapp.Config
	if err := json.Unmarshal(body, &conf); err != nil {
		t.Fatal(err)
	}
	if want := webapp.ConfigFromStack(st, ""); conf != want {
		t.Errorf("config.json = %+v, want %+v", conf, want)
	}
	if out := deploy(); !strings.Contains(out, ": 0 uploaded,") || strings.Contains(out, "invalidation") {
		t.Errorf("a second deploy of the same build changed something:\n%s", out)
	}
}
