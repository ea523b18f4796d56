package awsconf

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
)

// throttlingCodes are the API error codes AWS services use for "slow down".
var throttlingCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"SlowDown":                               true,
	"LimitExceededException":                 true,
}

// Throttled reports whether err is an AWS "slow down" answer, from any service.
func Throttled(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && throttlingCodes[api.ErrorCode()]
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
