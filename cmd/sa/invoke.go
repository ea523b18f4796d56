package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// sampleEvents names the sample events shipped under hack/events/ (the repository's
// golden events, which the contract tests check).
var sampleEvents = map[string]string{
	"s3-put":          "hack/events/s3-put.json",
	"dynamodb-insert": "hack/events/dynamodb-insert.json",
}

func newInvokeCmd(stdout io.Writer) *cobra.Command {
	var dir, eventArg string
	cmd := &cobra.Command{
		Use:   "invoke <consumer> --event s3-put|dynamodb-insert|FILE.json",
		Short: "Send a CloudEvent to a consumer of the running local stack, as the broker does",
		Long: `Send one CloudEvent, in binary mode as a Knative Broker delivers it, to a consumer
of the local stack (welcome-mailer, thumbnailer, or any service in stack.json), and
print its answer: 2xx done, 4xx will never succeed, 5xx retryable.

--event takes a sample shipped under hack/events/ (s3-put: a photo uploaded under
uploads/; dynamodb-insert: a new subscriber) or a file holding a structured-mode
CloudEvent (JSON with specversion, id, source, type, data ...). A sample's bucket or
table is replaced by the stack's own (media bucket, subscribers table), so the
consumer finds them; a file is sent as it is.

  sa invoke welcome-mailer --event dynamodb-insert
  sa invoke thumbnailer --event my-upload.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if eventArg == "" {
				return errors.New("--event is required: s3-put, dynamodb-insert or a JSON file")
			}
			root, err := repoRoot()
			if err != nil {
				return err
			}
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(root, dir)
			}
			st, err := stack.Read(filepath.Join(dir, "stack.json"))
			if err != nil {
				return fmt.Errorf("no local stack is running from %s (start it with make dev): %w", dir, err)
			}
			svc, ok := st.Services[args[0]]
			if !ok {
				return fmt.Errorf("no service %q in the stack (consumers: welcome-mailer, thumbnailer)", args[0])
			}
			path, sample := sampleEvents[eventArg]
			if sample {
				path = filepath.Join(root, path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("--event %s: %w", eventArg, err)
			}
			var e cloudevents.Event
			if err := json.Unmarshal(b, &e); err != nil {
				return fmt.Errorf("--event %s is not a structured-mode CloudEvent: %w", eventArg, err)
			}
			if err := e.Validate(); err != nil {
				return fmt.Errorf("--event %s: %w", eventArg, err)
			}
			if sample {
				if err := localise(&e, st); err != nil {
					return err
				}
			}
			client, err := devstack.HTTPSClient(st.CAFile)
			if err != nil {
				return err
			}
			// A thumbnail of a large photo takes a while: wait as a broker's delivery would.
			client.Timeout = 0
			sender, err := cloudevent.NewSender(cloudevent.SenderConfig{Sink: svc.URL, MaxAttempts: 1, AttemptTimeout: time.Minute}, client)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "sending %s (id %s, subject %s) to %s at %s\n", e.Type(), e.ID(), e.Subject(), args[0], svc.URL)
			if err := sender.Send(cmd.Context(), e); err != nil {
				var se *cloudevent.StatusError
				if errors.As(err, &se) && se.Status < 500 {
					return fmt.Errorf("%s refused the event for good (%d, not retried by a broker): %s", args[0], se.Status, strings.TrimSpace(se.Body))
				}
				return fmt.Errorf("%s failed (a broker would retry): %w", args[0], err)
			}
			fmt.Fprintf(stdout, "%s accepted it (2xx); its lines: sa logs %s --since 1m\n", args[0], args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".dev", "the stack's directory, relative to the repository root")
	f.StringVar(&eventArg, "event", "", "s3-put, dynamodb-insert, or a JSON file with a structured-mode CloudEvent")
	return cmd
}

// localise points a sample event at the stack's own bucket or table.
func localise(e *cloudevents.Event, st *stack.Stack) error {
	var data map[string]any
	if err := e.DataAs(&data); err != nil {
		return fmt.Errorf("sample event data: %w", err)
	}
	switch {
	case strings.HasPrefix(e.Type(), "com.amazonaws.s3."):
		bucket := st.Resources.MediaBucket
		if bucket == "" {
			return errors.New("the stack has no media bucket to point the S3 sample at")
		}
		data["awsRegion"] = st.Region
		if s3, ok := data["s3"].(map[string]any); ok {
			s3["bucket"] = map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket}
		}
		e.SetSource("aws:s3." + st.Region + "." + bucket)
	case strings.HasPrefix(e.Type(), "com.amazonaws.dynamodb."):
		table := st.Resources.SubscribersTable
		if table == "" {
			return errors.New("the stack has no subscribers table to point the DynamoDB sample at")
		}
		data["awsRegion"] = st.Region
		data["eventSourceARN"] = "arn:aws:dynamodb:" + st.Region + ":123456789012:table/" + table + "/stream/local"
		e.SetSource("aws:dynamodb." + st.Region + "." + table)
	}
	return e.SetData(cloudevents.ApplicationJSON, data)
}
