// Package store holds welcome-mailer's AWS adapters, implementing the welcome
// package's interfaces: DynamoLedger, the idempotency ledger in DynamoDB, and
// SESMailer, which sends through SES v2 and classifies its errors (Classify).
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/serverless-architect/serverless-architect/services/welcome-mailer/internal/welcome"
)

// DynamoDBAPI is the part of the DynamoDB client the ledger uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// DynamoLedger is the Ledger in a DynamoDB table whose partition key is the string
// attribute "pk" (the provisioned idempotency table). An item: pk, state ("sending" or
// "sent"), token, claimedAt, expectedBy and leaseUntil (Unix ms), attempts, messageId,
// sentAt, and for a record that may go, expiresAt (Unix seconds, the table's TTL).
type DynamoLedger struct {
	DB    DynamoDBAPI
	Table string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ welcome.Ledger = (*DynamoLedger)(nil)

func (l *DynamoLedger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func key(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}}
}

func sv(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func msv(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// Claim implements Ledger: one conditional UpdateItem that succeeds only if no item
// exists or the item is "sending" with an expired lease; on a failed condition the item
// is read to say whether it is sent or in progress.
func (l *DynamoLedger) Claim(ctx context.Context, r welcome.ClaimRequest) (welcome.Claim, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	k := r.Key
	now := l.now()
	until := now.Add(r.Lease)
	update := "SET #state = :sending, #token = :token, claimedAt = :now, expectedBy = :expected, leaseUntil = :until, attempts = if_not_exists(attempts, :zero) + :one"
	values := map[string]types.AttributeValue{
		":sending": sv("sending"), ":token": sv(token), ":until": msv(until), ":now": msv(now), ":expected": msv(now.Add(r.Expect)),
		":zero": &types.AttributeValueMemberN{Value: "0"}, ":one": &types.AttributeValueMemberN{Value: "1"},
	}
	if !r.Expires.IsZero() {
		update += ", expiresAt = :expires"
		values[":expires"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.Expires.Unix(), 10)}
	}
	out, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key(k),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR (#state = :sending AND leaseUntil < :now)"),
		ExpressionAttributeNames:  map[string]string{"#state": "state", "#token": "token"},
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		_, existed := out.Attributes["pk"]
		return welcome.Claim{Key: k, Token: token, State: welcome.Acquired, Until: until, ClaimedAt: now, ExpectedBy: now.Add(r.Expect), TakenOver: existed}, nil
	case !errors.As(err, &ccf):
		return welcome.Claim{}, fmt.Errorf("claim %s: %w", k, err)
	}
	got, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.Table), Key: key(k), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return welcome.Claim{}, fmt.Errorf("read claim %s: %w", k, err)
	}
	state, _ := got.Item["state"].(*types.AttributeValueMemberS)
	if state != nil && state.Value == "sent" {
		return welcome.Claim{Key: k, State: welcome.Sent}, nil
	}
	c := welcome.Claim{Key: k, State: welcome.InProgress, Until: msAttr(got.Item, "leaseUntil"), ClaimedAt: msAttr(got.Item, "claimedAt"), ExpectedBy: msAttr(got.Item, "expectedBy")}
	if got.Item == nil {
		// Released between our write and our read: the caller's retry will claim it.
		c.Until = now
	}
	return c, nil
}

// msAttr reads a time stored as Unix milliseconds; zero when absent (an item written
// before the attribute existed).
func msAttr(item map[string]types.AttributeValue, name string) time.Time {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			return time.UnixMilli(n)
		}
	}
	return time.Time{}
}

// MarkSent implements Ledger: state becomes "sent" only if the claim is still ours.
func (l *DynamoLedger) MarkSent(ctx context.Context, c welcome.Claim, messageID string) error {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.Table),
		Key:                      key(c.Key),
		UpdateExpression:         aws.String("SET #state = :sent, messageId = :id, sentAt = :at REMOVE leaseUntil, expectedBy"),
		ConditionExpression:      aws.String("#state = :sending AND #token = :token"),
		ExpressionAttributeNames: map[string]string{"#state": "state", "#token": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sent": sv("sent"), ":sending": sv("sending"), ":token": sv(c.Token), ":id": sv(messageID),
			":at": sv(l.now().UTC().Format(time.RFC3339Nano)),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("mark %s sent: %w", c.Key, welcome.ErrClaimLost)
	}
	if err != nil {
		return fmt.Errorf("mark %s sent: %w", c.Key, err)
	}
	return nil
}

// Release implements Ledger: the item is deleted only if the claim is still ours.
func (l *DynamoLedger) Release(ctx context.Context, c welcome.Claim) error {
	_, err := l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(l.Table),
		Key:                      key(c.Key),
		ConditionExpression:      aws.String("#state = :sending AND #token = :token"),
		ExpressionAttributeNames: map[string]string{"#state": "state", "#token": "token"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sending": sv("sending"), ":token": sv(c.Token),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("release %s: %w", c.Key, welcome.ErrClaimLost)
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", c.Key, err)
	}
	return nil
}
