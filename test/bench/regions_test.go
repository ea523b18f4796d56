package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// twoRegions runs the local stack in us-east-1 and eu-west-1 (`sa dev --regions`).
func twoRegions(b *testing.B) (*stack.Stack, *http.Client, map[string]*dynamodb.Client) {
	b.Helper()
	st, client := devStack(b, "--regions", "us-east-1,eu-west-1", "--region-port-base", fmt.Sprint(porttest.Block(b, 16)))
	if len(st.Regions) != 2 {
		b.Fatalf("stack regions = %+v, want two", st.Regions)
	}
	db := map[string]*dynamodb.Client{}
	for _, r := range st.Regions {
		cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(r.Region), config.WithBaseEndpoint(st.AWSEndpoint),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
		if err != nil {
			b.Fatal(err)
		}
		db[r.Region] = dynamodb.NewFromConfig(cfg)
	}
	return st, client, db
}

// BenchmarkReplicationLag: the local Global Tables replicator of `sa dev --regions`.
// An item is written to the posts table in one region (alternately each) and its
// replica in the other is read (GetItem, strongly consistent, every 5 ms) until it
// appears: the lag a reader in the other region sees. Reported: p50, p95 and p99.
// Run with -benchtime=50x.
func BenchmarkReplicationLag(b *testing.B) {
	st, _, db := twoRegions(b)
	table := st.Regions[0].Tables["posts"]
	regions := []string{st.Regions[0].Region, st.Regions[1].Region}
	run := strings.ToLower(mototest.Name("lag"))
	var lat []time.Duration
	i := 0
	for b.Loop() {
		from, to := regions[i%2], regions[(i+1)%2]
		i++
		key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("BENCH#%s-%d", run, i)}, "sk": &types.AttributeValueMemberS{Value: "BENCH"}}
		item := map[string]types.AttributeValue{"pk": key["pk"], "sk": key["sk"], "from": &types.AttributeValueMemberS{Value: from}}
		start := time.Now()
		if _, err := db[from].PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			b.Fatal(err)
		}
		for {
			out, err := db[to].GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
			if err != nil {
				b.Fatal(err)
			}
			if out.Item != nil {
				break
			}
			if time.Since(start) > 20*time.Second {
				b.Fatalf("%s -> %s: not replicated within 20 s", from, to)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	percentiles(b, "lag", lat)
}

// BenchmarkSubscribeToWelcomeTwoRegions: double opt-in across two regions of the local
// stack: subscribe through us-east-1's blog-api, confirm through eu-west-1's (as soon
// as the pending subscriber has reached its replica), until the one welcome email.
// Reported: subscribe -> confirmation email and confirm -> welcome email, p50, p95, p99.
// Run with -benchtime=20x.
func BenchmarkSubscribeToWelcomeTwoRegions(b *testing.B) {
	st, client, _ := twoRegions(b)
	east, west := st.Regions[0].Services["blog-api"].URL, st.Regions[1].Services["blog-api"].URL
	var toConfirm, toWelcome []time.Duration
	i := 0
	for b.Loop() {
		i++
		address := fmt.Sprintf("%s-%d@example.com", strings.ToLower(mototest.Name("bench2r")), i)
		c, w := subscribeHereConfirmThere(b, client, east, west, st.AWSEndpoint, address, fmt.Sprintf("198.19.%d.%d:443", i/250, i%250+1))
		toConfirm, toWelcome = append(toConfirm, c), append(toWelcome, w)
	}
	percentiles(b, "confirmation", toConfirm)
	percentiles(b, "welcome", toWelcome)
}
