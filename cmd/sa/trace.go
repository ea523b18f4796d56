package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

func newTraceCmd(stdout io.Writer) *cobra.Command {
	var dir string
	var last bool
	cmd := &cobra.Command{
		Use:   "trace <trace-id> | --last",
		Short: "Print one collected trace as a waterfall",
		Long: `Print the spans of one trace that sa dev collected under <dir>/traces as a
waterfall: each span under its parent, with its service, name, start offset, duration
bar, status and key attributes (http.route, status code, AWS operation, table,
bucket, event type). The trace id is the X-Trace-Id header of any answer of the local
stack (32 hex digits); send a traceparent header to choose it.

  curl -si https://localhost:8443/v1/todos -H "Authorization: Bearer $T" | grep -i x-trace-id
  sa trace 4bf92f3577b34da6a3ce929d0e0e4736
  sa trace --last          # the newest request or event`,
		Args: func(_ *cobra.Command, args []string) error {
			if last != (len(args) == 0) || len(args) > 1 {
				return errors.New("give one trace id, or --last")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			dir, err := stackDir(dir)
			if err != nil {
				return err
			}
			id := ""
			if last {
				if id, err = devstack.LastTrace(dir); err != nil {
					return err
				}
				if id == "" {
					return errors.New("no request or event traced yet")
				}
			} else {
				id = args[0]
			}
			spans, err := devstack.ReadTrace(dir, id)
			if err != nil {
				return err
			}
			if len(spans) == 0 {
				return fmt.Errorf("no spans of trace %s in %s/traces yet (services export every 200 ms; was the request sent to this stack?)", id, dir)
			}
			writeWaterfall(stdout, id, spans, 40)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".dev", "the stack's directory, relative to the repository root")
	f.BoolVar(&last, "last", false, "show the newest trace that began with a request or an event")
	return cmd
}

// keyAttributes are the attributes the waterfall shows, in this order, when a span has
// them.
var keyAttributes = []string{
	"http.route", "url.path", "http.response.status_code", "rpc.method",
	"aws.dynamodb.table_names", "aws.s3.bucket", "aws.s3.key", "messaging.destination.name",
	"cloudevents.event_type", "cloudevents.event_subject", "error.type",
}

// writeWaterfall prints spans (one trace) as a tree, each span's bar placed on a time
// axis width characters wide.
func writeWaterfall(w io.Writer, id string, spans []devstack.Span, width int) {
	start, end := spans[0].Start, spans[0].End
	byID := map[string]bool{}
	for _, s := range spans {
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
		byID[s.SpanID] = true
	}
	total := end.Sub(start)
	children := map[string][]devstack.Span{}
	var roots []devstack.Span
	for _, s := range spans {
		if s.ParentSpanID == "" || !byID[s.ParentSpanID] {
			roots = append(roots, s) // a root, or the child of a span not collected (the caller's)
			continue
		}
		children[s.ParentSpanID] = append(children[s.ParentSpanID], s)
	}
	services := map[string]bool{}
	for _, s := range spans {
		services[s.Service] = true
	}
	fmt.Fprintf(w, "trace %s: %d spans, %d services, %s\n\n", id, len(spans), len(services), round(total))
	fmt.Fprintf(w, "%-16s %-44s %9s %9s  %-*s  %-5s  %s\n", "SERVICE", "SPAN", "OFFSET", "DURATION", width, "", "STATUS", "ATTRIBUTES")
	var walk func(s devstack.Span, depth int)
	walk = func(s devstack.Span, depth int) {
		name := strings.Repeat("  ", depth) + s.Name
		if s.Kind != "" && s.Kind != "internal" && s.Kind != "unspecified" {
			name += " (" + s.Kind + ")"
		}
		fmt.Fprintf(w, "%-16s %-44s %9s %9s  %s  %-5s  %s\n", s.Service, name, round(s.Start.Sub(start)), round(s.Duration()),
			bar(s.Start.Sub(start), s.Duration(), total, width), status(s), attributes(s))
		for _, c := range children[s.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

// bar is a span's place on the time axis: spaces before it, then at least one block.
func bar(offset, d, total time.Duration, width int) string {
	if total <= 0 {
		total = 1
	}
	from := int(int64(width) * int64(offset) / int64(total))
	n := max(1, int(int64(width)*int64(d)/int64(total)))
	from = min(from, width-1)
	n = min(n, width-from)
	return strings.Repeat(" ", from) + strings.Repeat("█", n) + strings.Repeat(" ", width-from-n)
}

func status(s devstack.Span) string {
	if s.Status == "error" {
		return "ERROR"
	}
	return "ok"
}

// attributes are a span's key attributes as k=v, then its status message.
func attributes(s devstack.Span) string {
	var parts []string
	for _, k := range keyAttributes {
		if v, ok := s.Attributes[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if s.Status == "error" && s.StatusMessage != "" {
		parts = append(parts, fmt.Sprintf("%q", s.StatusMessage))
	}
	for _, l := range s.Links {
		parts = append(parts, "link="+l.TraceID)
	}
	return strings.Join(parts, " ")
}

// round shows d to a useful precision: 0.01 ms below 10 ms, 0.1 ms above.
func round(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}
