package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/services/blog-api/internal/blog"
)

// Limiter is a blog.Limiter over a DynamoDB table keyed by the string attribute "pk"
// with a TTL on "expiresAt" (the provisioned subscribe-limits table): one counter item
// per key and fixed window, "<key>#<window start, Unix seconds>", incremented by a
// conditional ADD that fails once the counter holds the limit. Counters expire a window
// after their own. The table is regional: each region counts its own requests.
type Limiter struct {
	db    API
	table string
	now   func() time.Time
}

var _ blog.Limiter = (*Limiter)(nil)

// NewLimiter returns a Limiter on table; now is the clock (time.Now when nil).
func NewLimiter(db API, table string, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{db: db, table: table, now: now}
}

// Take implements blog.Limiter.
func (l *Limiter) Take(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if window < time.Second {
		return false, 0, fmt.Errorf("rate limit window %s: at least a second", window)
	}
	now := l.now()
	start := now.Truncate(window)
	end := start.Add(window)
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: key + "#" + strconv.FormatInt(start.Unix(), 10)},
		},
		UpdateExpression:    aws.String("SET expiresAt = if_not_exists(expiresAt, :exp) ADD hits :one"),
		ConditionExpression: aws.String("attribute_not_exists(hits) OR hits < :limit"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   &types.AttributeValueMemberN{Value: "1"},
			":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(limit)},
			":exp":   &types.AttributeValueMemberN{Value: strconv.FormatInt(end.Add(window).Unix(), 10)},
		},
	})
	if conditionFailed(err) {
		return false, end.Sub(now), nil
	}
	if err != nil {
		return false, 0, awsconf.DependencyError("count a subscribe request", err)
	}
	return true, 0, nil
}
