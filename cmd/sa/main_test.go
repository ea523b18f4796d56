package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func TestHelpDocumentsFlags(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"provision", "dev", "logs", "status", "invoke", "seed", "destroy"}},
		{[]string{"destroy", "--help"}, []string{"--yes", "--regions", "--prefix", "REAL AWS", "replicas", "emptied"}},
		{[]string{"seed", "--help"}, []string{"demo@example.com", "admin@example.com", "admins"}},
		{[]string{"status", "--help"}, []string{"--json", "restarts", "lastError"}},
		{[]string{"logs", "--help"}, []string{"--follow", "--since", "--log-format", "<dir>/logs"}},
		{[]string{"provision", "--help"}, []string{"--region", "--prefix", "--output", "REAL AWS", "--dax", "--vpc-id", "--subnet-ids", "--cluster-security-group"}},
		{[]string{"dev", "--help"}, []string{"--dir", "--region", "--moto-endpoint", "--moto-port", "--api-port", "--prefix", "stack.json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), tt.args, &stdout, &stderr); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"provision", "--output", "yaml"}, "--output must be text or json"},
		{[]string{"provision", "--dax", "--subnet-ids", "subnet-a", "--cluster-security-group", "sg-1"}, "--dax needs --vpc-id"},
		{[]string{"provision", "--dax", "--vpc-id", "vpc-1", "--cluster-security-group", "sg-1"}, "--dax needs --subnet-ids"},
		{[]string{"provision", "--dax", "--vpc-id", "vpc-1", "--subnet-ids", "subnet-a"}, "--dax needs --cluster-security-group"},
		{[]string{"provision", "--dax", "--vpc-id", "vpc-1", "--subnet-ids", "sg-1", "--cluster-security-group", "sg-1"}, "not a subnet id"},
		{[]string{"provision", "--vpc-id", "vpc-1"}, "only go with --dax"},
		{[]string{"dev", "extra"}, "unknown command"},
		{[]string{"dev", "--log-format", "yaml"}, "--log-format must be text or json"},
		{[]string{"logs", "--log-format", "yaml", "--dir", "/nonexistent"}, "--log-format must be text or json"},
		{[]string{"logs", "--dir", "/nonexistent-sa-logs"}, "no logs in /nonexistent-sa-logs/logs yet"},
		{[]string{"status", "--dir", "/nonexistent-sa-status"}, "no local stack is running from /nonexistent-sa-status"},
		{[]string{"dev", "--api-port", "many"}, "invalid argument"},
		{[]string{"nope"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Tests run in cmd/sa; the module root is two levels up.
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, root); diff != "" {
		t.Errorf("repoRoot (-want +got):\n%s", diff)
	}
	t.Chdir(t.TempDir())
	if _, err := repoRoot(); err == nil || !strings.Contains(err.Error(), "inside the serverless-architect repository") {
		t.Errorf("outside the repository: err = %v", err)
	}
}

func TestProvisionAgainstMoto(t *testing.T) {
	ep := motoEnv(t)
	prefix := mototest.Name("sa") + "-"

	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"provision", "--prefix", prefix, "--output", "json"}, &stdout, &stderr); err != nil {
		t.Fatalf("provision: %v\nstderr:\n%s", err, stderr.String())
	}
	var res stack.Resources
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not the resources as JSON: %v\n%s", err, stdout.String())
	}
	if res.TodosTable != prefix+"todos" || res.UserPoolID == "" || res.UserPoolClientID == "" || res.AdminsGroup != "admins" ||
		res.JWKSURL != ep+"/"+res.UserPoolID+"/.well-known/jwks.json" {
		t.Errorf("resources = %+v", res)
	}
	for _, want := range []string{"endpoint override " + ep, "created  dynamodb table " + prefix + "todos"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	if err := run(context.Background(), []string{"provision", "--prefix", prefix}, &stdout, &stderr); err != nil {
		t.Fatalf("second provision: %v", err)
	}
	want := "exists   cognito app client " + prefix + "mobile (" + res.UserPoolClientID + ")"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("second run's stdout lacks %q:\n%s", want, stdout.String())
	}
}

// TestProvisionDAXAgainstMoto runs `sa provision --dax ... --pod-identity` against a
// VPC made in moto: the DAX cluster is made and todo-api's role is allowed it; the
// parts moto lacks are one skipped line each.
func TestProvisionDAXAgainstMoto(t *testing.T) {
	ep := motoEnv(t)
	ctx := context.Background()
	prefix := "x" + strings.ReplaceAll(mototest.Name(""), "-", "")[:6] + "-"
	var stdout, stderr bytes.Buffer
	args, _ := daxProvisionArgs(t, ep, "10.7", prefix)
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("provision --dax: %v\nstderr:\n%s", err, stderr.String())
	}
	var res stack.Resources
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout: %v\n%s", err, stdout.String())
	}
	if res.DAXClusterARN == "" || res.DAXSecurityGroupID == "" || res.ServiceRoleARNs["todo-api"] == "" {
		t.Errorf("resources = %+v", res)
	}
	for _, want := range []string{"created  dax cluster " + prefix + "todos-dax", "skipped  dax subnet group", "skipped  dax parameter group",
		"skipped  cognito identity pool access"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// daxProvisionArgs makes a VPC (cidr "<net>.0.0/16") with two subnets and a cluster
// security group in moto, and returns the sa provision arguments that put a DAX
// cluster there (with the service roles), and the VPC's id.
func daxProvisionArgs(t *testing.T, ep, net, prefix string) ([]string, string) {
	t.Helper()
	ctx := context.Background()
	ec := ec2.NewFromConfig(mototest.AWSConfig(t, ep))
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(net + ".0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for _, cidr := range []string{net + ".1.0/24", net + ".2.0/24"} {
		s, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(cidr)})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	sg, err := ec.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(mototest.Name("eks")), Description: aws.String("EKS cluster"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(vpc.Vpc.VpcId)
	return []string{"provision", "--prefix", prefix, "--output", "json", "--pod-identity",
		"--dax", "--vpc-id", id, "--subnet-ids", strings.Join(subnets, ","), "--cluster-security-group", aws.ToString(sg.GroupId), "--dax-nodes", "1"}, id
}

// motoEnv points the AWS SDK's own variables at the test's moto and returns its
// endpoint.
func motoEnv(t *testing.T) string {
	t.Helper()
	ep := mototest.Endpoint(t)
	t.Setenv("AWS_ENDPOINT_URL", ep)
	t.Setenv("AWS_REGION", mototest.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	return ep
}
