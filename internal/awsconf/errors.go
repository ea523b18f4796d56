package awsconf

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// throttle is the SDK's own classification of "slow down" answers (the codes its
// retryer treats as throttling, kept current with the SDK).
var throttle = retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}

// Throttled reports whether err is an AWS "slow down" answer, from any service, by the
// SDK's own list of throttling error codes. The SDK exports the list but no predicate
// over a returned error, which is what callers here need once its retries are spent.
func Throttled(err error) bool {
	return throttle.IsErrorThrottle(err) == aws.TrueTernary
}

// DependencyError classifies an error from an AWS call (what names the call, for the
// log) into the project's error codes:
//   - the caller's own cancellation is returned as is;
//   - throttling, server faults, timeouts and transport failures (the service cannot be
//     reached) become Unavailable: the client may retry, the operator must look;
//   - a missing table or resource (not provisioned, or the wrong name configured) is
//     Unavailable too, and the log names it;
//   - anything else (a client fault: a bug or a misconfiguration) is internal.
//
// The message shown to clients never contains the AWS error text.
func DependencyError(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	wrapped := fmt.Errorf("%s: %w", what, err)
	var api smithy.APIError
	if errors.As(err, &api) {
		if Throttled(err) {
			return apperr.Wrap(wrapped, apperr.Unavailable, "the database is throttling requests; retry shortly")
		}
		if api.ErrorCode() == "ResourceNotFoundException" {
			return apperr.Wrap(wrapped, apperr.Unavailable, "a backing resource is missing; the operator has been told")
		}
		if api.ErrorFault() == smithy.FaultClient {
			return wrapped
		}
	}
	return apperr.Wrap(wrapped, apperr.Unavailable, "a backing service is unavailable; retry shortly")
}
