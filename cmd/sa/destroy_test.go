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
	"github.com/aws/aws-sdk-go-v2/service/dax"
	daxtypes "github.com/aws/aws-sdk-go-v2/service/dax/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// runWithInput is run with stdin in.
func runWithInput(ctx context.Context, in io.Reader, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetIn(in)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// TestDestroyRefusesWithoutTerminal: a "y" piped in is not a person reading the list:
// without --yes and without a terminal, sa destroy deletes nothing and says --yes.
// The endpoint is closed: were anything called, the error would say so instead.
func TestDestroyRefusesWithoutTerminal(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	var stdout bytes.Buffer
	err := runWithInput(context.Background(), strings.NewReader("y\n"), []string{"destroy", "--prefix", "p-"}, &stdout, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "stdin is not a terminal") || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("err = %v, want a refusal naming --yes", err)
	}
	for _, want := range []string{"cognito user pool p-mytodolist", "dynamodb table p-todos", "cloudfront distribution p-myblog", "s3 files bucket p-user-files"} {
		if !strings.Contains(stdout.String(), "  "+want+"\n") {
			t.Errorf("the list lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "deleted") || strings.Contains(stdout.String(), "absent") {
		t.Errorf("refused, yet it ran:\n%s", stdout.String())
	}
}

// TestDestroyAgainstMoto: sa provision (with DAX and the service roles), a refused sa
// destroy that leaves everything, sa destroy --yes that removes it (the SDK finds
// neither the table nor the DAX cluster), and a second one that finds nothing.
func TestDestroyAgainstMoto(t *testing.T) {
	ep := motoEnv(t)
	ctx := context.Background()
	cfg := mototest.AWSConfig(t, ep)
	prefix := "d" + strings.ReplaceAll(mototest.Name(""), "-", "")[:6] + "-"
	args, vpc := daxProvisionArgs(t, ep, "10.8", prefix)
	var stdout, stderr bytes.Buffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("provision: %v\n%s", err, stderr.String())
	}
	var res stack.Resources
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	db, dx := dynamodb.NewFromConfig(cfg), dax.NewFromConfig(cfg)
	tableGone := func() bool {
		_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(res.TodosTable)})
		var nf *types.ResourceNotFoundException
		return errors.As(err, &nf)
	}

	if err := runWithInput(ctx, strings.NewReader("y\n"), []string{"destroy", "--prefix", prefix}, io.Discard, io.Discard); err == nil {
		t.Fatal("destroy without --yes or a terminal went ahead")
	}
	if tableGone() {
		t.Fatal("a refused destroy deleted the to-dos table")
	}

	stdout.Reset()
	if err := run(ctx, []string{"destroy", "--prefix", prefix, "--yes", "--vpc-id", vpc}, &stdout, io.Discard); err != nil {
		t.Fatalf("destroy --yes: %v\n%s", err, stdout.String())
	}
	for _, want := range []string{"deleted  dax cluster " + prefix + "todos-dax", "deleted  ec2 security group (dax) " + prefix + "todos-dax",
		"deleted  iam role (service) " + prefix + "sa-todo-api", "deleted  dynamodb table " + prefix + "todos"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("destroy's output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !tableGone() {
		t.Error("the to-dos table is still there")
	}
	_, err := dx.DescribeClusters(ctx, &dax.DescribeClustersInput{ClusterNames: []string{prefix + "todos-dax"}})
	var nf *daxtypes.ClusterNotFoundFault
	if !errors.As(err, &nf) {
		t.Errorf("DAX cluster: DescribeClusters = %v, want ClusterNotFoundFault", err)
	}

	stdout.Reset()
	if err := run(ctx, []string{"destroy", "--prefix", prefix, "--yes"}, &stdout, io.Discard); err != nil {
		t.Fatalf("second destroy: %v\n%s", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "nothing to delete") || strings.Contains(stdout.String(), "deleted  ") {
		t.Errorf("second destroy:\n%s", stdout.String())
	}
}
