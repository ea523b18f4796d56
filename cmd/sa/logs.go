package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

func newLogsCmd(stdout io.Writer) *cobra.Command {
	o := devstack.LogsOptions{Out: stdout}
	var dir string
	cmd := &cobra.Command{
		Use:   "logs [service...] [-f] [--since 5m] [--log-format text|json]",
		Short: "Show the local stack's logs, merged in time order; -f follows them",
		Long: `Show the logs sa dev writes under <dir>/logs: one file per process (moto.log,
gateway.log, todo-api.log, ...), each line as the process wrote it, kept across runs
and restarts. The lines of the services named (all by default) are merged in time
order and shown as sa dev shows them: human-readable, or with --log-format json as
written. Lines without a time of their own (a traceback) go with the line before.

  sa logs todo-api gateway --since 10m
  sa logs -f                         # everything, then new lines as they come
  sa logs moto --since 1m            # moto's access log and tracebacks`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := stackDir(dir)
			if err != nil {
				return err
			}
			o.Dir, o.Names = dir, args
			o.Colour = colourful(stdout)
			return devstack.ShowLogs(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".dev", "the stack's directory, relative to the repository root")
	f.BoolVarP(&o.Follow, "follow", "f", false, "keep showing new lines until Ctrl-C")
	f.DurationVar(&o.Since, "since", 0, "only lines written in this last stretch of time (e.g. 5m, 1h)")
	f.StringVar(&o.Format, "log-format", devstack.LogText, "text (human-readable) or json (as written)")
	return cmd
}

// colourful reports whether w is a terminal that should get colours: a TTY, and
// NO_COLOR (no-color.org) unset or empty.
func colourful(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
