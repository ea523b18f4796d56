package mototest

import (
	"context"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// recorder is a testing.TB whose Logf and Fatalf are recorded; Fatalf ends the
// goroutine as testing's does.
type recorder struct {
	testing.TB
	mu    sync.Mutex
	logs  []string
	fatal string
}

func (r *recorder) Helper() {}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls f with r in a goroutine of its own, so that a Fatalf ends only f.
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}

// TestRetriesAreLogged: a call the SDK retries logs the error that caused the retry.
func TestRetriesAreLogged(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body := http.StatusOK, `{"TableNames":[]}`
		if calls.Add(1) == 1 {
			status, body = http.StatusInternalServerError, `{"__type":"InternalServerError","message":"moto fell over"}`
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	db := dynamodb.NewFromConfig(AWSConfig(rec, srv.URL))
	if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables, retried once: %v", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("the server was called %d times, want 2 (one retry)", calls.Load())
	}
	if len(rec.logs) != 1 || !strings.Contains(rec.logs[0], "retrying") || !strings.Contains(rec.logs[0], "500") || !strings.Contains(rec.logs[0], "moto fell over") {
		t.Errorf("logged %q, want one line naming the retry and the 500 that caused it", rec.logs)
	}
}

func pkTable(name, key string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(key), KeyType: types.KeyTypeHash}},
	}
}

// TestCreateTableTwice: a create that finds its own table there (a retried create whose
// first attempt took effect) passes and says so; one that finds a table with another
// key schema fails the test.
func TestCreateTableTwice(t *testing.T) {
	ep := Endpoint(t)
	db := dynamodb.NewFromConfig(AWSConfig(t, ep))
	name := Name("twice")
	CreateTable(t, db, pkTable(name, "pk"))

	rec := &recorder{TB: t}
	rec.run(func() { CreateTable(rec, db, pkTable(name, "pk")) })
	if rec.fatal != "" {
		t.Fatalf("the same create again failed: %s", rec.fatal)
	}
	if len(rec.logs) != 1 || !strings.Contains(rec.logs[0], "ResourceInUseException") {
		t.Errorf("logged %q, want the ResourceInUseException taken as a retried create", rec.logs)
	}

	rec = &recorder{TB: t}
	rec.run(func() { CreateTable(rec, db, pkTable(name, "id")) })
	if !strings.Contains(rec.fatal, "another key schema") {
		t.Errorf("a create that found a table with another key schema: fatal %q, want it to fail naming the key schema", rec.fatal)
	}
}
