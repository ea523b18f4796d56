package devstack

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
)

// The state of a moto that the stack started survives stopping and starting the stack:
// a user and their session, a to-do and a file written before are there after; --fresh
// starts empty and keeps the old state aside.
func TestRunKeepsMotoStateAcrossRestarts(t *testing.T) {
	if !mototest.Enabled() {
		t.Skip("integration test: needs moto_server; run `make test` or set SA_INTEGRATION=1")
	}
	dir := t.TempDir()
	motoPort := porttest.Free(t)
	o := Options{
		Dir: dir, MotoPort: motoPort, Prefix: mototest.Name("dev") + "-", StopTimeout: 10 * time.Second,
		Services: []Service{testService(porttest.Free(t))},
	}
	o = ownPorts(t, o) // the same ports for both starts, as make dev has
	firstStart := time.Now()
	first := startStack(t, o)
	t.Logf("figure: first start, moto empty, in %s", time.Since(firstStart).Round(10*time.Millisecond))
	res := first.stack.Resources
	if !strings.Contains(first.out.String(), "its state kept in "+filepath.Join(dir, MotoStateFile)) {
		t.Fatalf("moto was not started with its state kept (is moto importable from python3?):\n%s", first.out)
	}
	ctx := context.Background()
	cfg := mototest.AWSConfig(t, first.stack.AWSEndpoint)
	idp, ddb, s3c := cip.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg), s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	const email, password = "keep@example.com", "Passw0rd!"
	if _, err := idp.SignUp(ctx, &cip.SignUpInput{ClientId: aws.String(res.UserPoolClientID), Username: aws.String(email), Password: aws.String(password),
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}}}); err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	if _, err := idp.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{UserPoolId: aws.String(res.UserPoolID), Username: aws.String(email)}); err != nil {
		t.Fatalf("AdminConfirmSignUp: %v", err)
	}
	auth, err := idp.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(res.UserPoolClientID),
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password}})
	if err != nil {
		t.Fatalf("InitiateAuth: %v", err)
	}
	session := aws.ToString(auth.AuthenticationResult.AccessToken)

	table, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(res.TodosTable)})
	if err != nil {
		t.Fatal(err)
	}
	item := map[string]ddbtypes.AttributeValue{"title": &ddbtypes.AttributeValueMemberS{Value: "buy milk"}}
	key := map[string]ddbtypes.AttributeValue{}
	for _, k := range table.Table.KeySchema {
		key[*k.AttributeName] = &ddbtypes.AttributeValueMemberS{Value: "kept-" + *k.AttributeName}
		item[*k.AttributeName] = key[*k.AttributeName]
	}
	if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(res.TodosTable), Item: item}); err != nil {
		t.Fatal(err)
	}
	const fileKey = "users/someone/notes.txt"
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(res.FilesBucket), Key: aws.String(fileKey), Body: strings.NewReader("kept")}); err != nil {
		t.Fatal(err)
	}
	stopping := time.Now()
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: stack stopped, moto's state saved, in %s", time.Since(stopping).Round(10*time.Millisecond))
	if !strings.Contains(first.out.String(), "saved moto's state to "+filepath.Join(dir, MotoStateFile)) {
		t.Errorf("the stop did not say moto's state was saved:\n%s", first.out)
	}

	starting := time.Now()
	second := startStack(t, o)
	t.Logf("figure: stack up again, moto's state loaded, in %s", time.Since(starting).Round(10*time.Millisecond))
	if fi, err := os.Stat(filepath.Join(dir, MotoStateFile)); err == nil {
		t.Logf("figure: moto's state file is %d bytes", fi.Size())
	}
	if got := second.stack.Resources.UserPoolID; got != res.UserPoolID {
		t.Errorf("user pool after the restart: %s, want the same %s (old sessions would get 401)", got, res.UserPoolID)
	}
	if _, err := idp.GetUser(ctx, &cip.GetUserInput{AccessToken: aws.String(session)}); err != nil {
		t.Errorf("the session from before the restart: GetUser: %v", err)
	}
	if _, err := idp.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(res.UserPoolClientID),
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": password}}); err != nil {
		t.Errorf("sign-in after the restart: %v", err)
	}
	got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(res.TodosTable), Key: key})
	if err != nil || got.Item["title"] == nil {
		t.Errorf("the to-do after the restart: %v, %v", got, err)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(res.FilesBucket), Key: aws.String(fileKey)})
	if err != nil {
		t.Errorf("the file after the restart: %v", err)
	} else {
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(b) != "kept" {
			t.Errorf("the file after the restart holds %q, want %q", b, "kept")
		}
	}
	if err := second.stop(); err != nil {
		t.Fatal(err)
	}

	o.Fresh = true
	fresh := startStack(t, o)
	if fresh.stack.Resources.UserPoolID == res.UserPoolID {
		t.Errorf("--fresh kept the user pool %s", res.UserPoolID)
	}
	if _, err := os.Stat(filepath.Join(dir, MotoStateFile+".old")); err != nil {
		t.Errorf("--fresh did not keep the old state aside: %v", err)
	}
	if got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(res.TodosTable), Key: key}); err != nil || got.Item != nil {
		t.Errorf("--fresh: GetItem of the old to-do = %v, %v; want no item", got, err)
	}
	if err := fresh.stop(); err != nil {
		t.Fatal(err)
	}
}

// A state file moto cannot read stops the start with a clear message and is left as it is.
func TestRunRefusesAnUnreadableState(t *testing.T) {
	if !mototest.Enabled() {
		t.Skip("integration test: needs moto_server; run `make test` or set SA_INTEGRATION=1")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, MotoStateFile)
	if err := os.WriteFile(state, []byte("not a pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), ownPorts(t, Options{Dir: dir, MotoPort: porttest.Free(t), Prefix: mototest.Name("dev") + "-",
		Services: []Service{testService(porttest.Free(t))}, Stdout: &logtest.Buffer{}}))
	if err == nil || !strings.Contains(err.Error(), "cannot load moto's saved state") || !strings.Contains(err.Error(), "--fresh") {
		t.Errorf("err = %v, want one saying the state cannot be loaded and naming --fresh", err)
	}
	if b, rerr := os.ReadFile(state); rerr != nil || string(b) != "not a pickle" {
		t.Errorf("the unreadable state was changed: %q, %v", b, rerr)
	}
}

// A moto that dies under a running stack is started again with the state it saved
// last and provisioned again; the services keep running and keep their user pool.
func TestRunRestartsMotoWithItsState(t *testing.T) {
	if !mototest.Enabled() {
		t.Skip("integration test: needs moto_server; run `make test` or set SA_INTEGRATION=1")
	}
	dir := t.TempDir()
	r := startStack(t, Options{
		Dir: dir, MotoPort: porttest.Free(t), Prefix: mototest.Name("dev") + "-", StopTimeout: 10 * time.Second,
		Services: []Service{testService(porttest.Free(t))},
	})
	ctx := context.Background()
	res := r.stack.Resources
	idp := cip.NewFromConfig(mototest.AWSConfig(t, r.stack.AWSEndpoint))
	const user = "survivor@example.com"
	if _, err := idp.AdminCreateUser(ctx, &cip.AdminCreateUserInput{UserPoolId: aws.String(res.UserPoolID), Username: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	state := filepath.Join(dir, MotoStateFile)
	for deadline := time.Now().Add(3 * motoSaveEvery); ; time.Sleep(200 * time.Millisecond) {
		if fi, err := os.Stat(state); err == nil && fi.ModTime().After(written) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not save its state within %s of a change", 3*motoSaveEvery)
		}
	}
	motoPID, svcPID := r.stack.Services["moto"].PID, r.stack.Services["testsvc"].PID
	if err := syscall.Kill(motoPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(r.out.String(), "moto_server and its resources are back"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("moto was not back within 90s:\n%s", r.out)
		}
	}
	if _, err := idp.AdminGetUser(ctx, &cip.AdminGetUserInput{UserPoolId: aws.String(res.UserPoolID), Username: aws.String(user)}); err != nil {
		t.Errorf("the user created before moto died: %v", err)
	}
	if !alive(svcPID) {
		t.Errorf("testsvc (pid %d) did not keep running while moto was restarted", svcPID)
	}
	st, err := Status(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.Name == "moto" && (p.Restarts != 1 || !p.Ready || p.PID == motoPID) {
			t.Errorf("moto's status = %+v, want one restart, ready, a new pid", p)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
