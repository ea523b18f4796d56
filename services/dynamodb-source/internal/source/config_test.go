package source

import (
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/svcmain"
)

// TestConfigListsEveryProblem: an environment with several settings out of range is
// refused with one error naming each variable, before anything starts.
func TestConfigListsEveryProblem(t *testing.T) {
	environ := []string{
		"AWS_REGION=us-east-1", "CHECKPOINT_TABLE=c", "DEAD_LETTER_QUEUE_URL=http://q", "K_SINK=http://127.0.0.1:1",
		"STREAM_ARN=arn:aws:s3:::bucket", "BATCH_SIZE=5000", "DELIVERY_ROUNDS=0", "LEASE_DURATION=10ms",
		"POLL_INTERVAL=0s", "RETRY_BACKOFF_BASE=2s", "RETRY_BACKOFF_MAX=1s",
	}
	_, err := svcmain.Parse[Config](environ)
	if err == nil {
		t.Fatal("the environment was accepted")
	}
	for _, v := range []string{"STREAM_ARN", "BATCH_SIZE", "DELIVERY_ROUNDS", "LEASE_DURATION", "POLL_INTERVAL", "RETRY_BACKOFF_MAX"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
	ok := []string{"AWS_REGION=us-east-1", "CHECKPOINT_TABLE=c", "DEAD_LETTER_QUEUE_URL=http://q", "K_SINK=http://127.0.0.1:1", "TABLE_NAME=t"}
	if _, err := svcmain.Parse[Config](ok); err != nil {
		t.Errorf("the defaults were refused: %v", err)
	}
}
