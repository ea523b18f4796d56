package awsconf

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

func TestClassify(t *testing.T) {
	api := func(code string, fault smithy.ErrorFault) error {
		return fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: code, Message: "m", Fault: fault})
	}
	cases := []struct {
		name      string
		err       error
		throttled bool
		code      apperr.Code
	}{
		{"dynamodb throttling", api("ProvisionedThroughputExceededException", smithy.FaultClient), true, apperr.Unavailable},
		{"streams limit", fmt.Errorf("get records: %w", &types.LimitExceededException{Message: new(string)}), true, apperr.Unavailable},
		{"ses throttling", api("TooManyRequestsException", smithy.FaultClient), true, apperr.Unavailable},
		{"missing table", api("ResourceNotFoundException", smithy.FaultClient), false, apperr.Unavailable},
		{"server fault", api("InternalServerError", smithy.FaultServer), false, apperr.Unavailable},
		{"transport", errors.New("dial tcp: connection refused"), false, apperr.Unavailable},
		{"validation bug", api("ValidationException", smithy.FaultClient), false, apperr.Internal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Throttled(c.err); got != c.throttled {
				t.Errorf("Throttled = %v, want %v", got, c.throttled)
			}
			if got := apperr.CodeOf(DependencyError("call", c.err)); got != c.code {
				t.Errorf("DependencyError code = %s, want %s", got, c.code)
			}
		})
	}
	if err := DependencyError("call", context.Canceled); !errors.Is(err, context.Canceled) || apperr.As(err) != nil {
		t.Errorf("the caller's cancellation must pass through unchanged: %v", err)
	}
}
