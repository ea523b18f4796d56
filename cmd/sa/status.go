package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--json]",
		Short: "List the running local stack's processes: URL, pid, restarts, readiness, last error",
		Long: `List every process of the local stack that sa dev runs from <dir>: its URL, pid,
how often sa dev restarted it, whether it answers ready now (GET /readyz trusting the
stack's CA; moto's /moto-api/), when sa dev --watch last rebuilt and reloaded it (and
how often), the last cold start's time of a service sa dev --scale-to-zero starts on
a request (and how many there were), and how it last died; then the URL of sa dev's
own Prometheus metrics (sa_dev_cold_start_seconds, sa_dev_restarts_total,
sa_dev_reloads_total by service; metricsUrl in stack.json). With --json: a list of
objects with name, url, pid, restarts, ready, lastError, reloads, lastReload (RFC
3339, absent when never), and for the services that scale to zero scalesToZero,
coldStarts and coldStartMs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := stackDir(dir)
			if err != nil {
				return err
			}
			list, err := devstack.Status(cmd.Context(), dir)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tURL\tPID\tRESTARTS\tREADY\tRELOADED\tCOLD START\tLAST ERROR")
			for _, p := range list {
				ready := "no"
				switch {
				case p.Ready:
					ready = "yes"
				case p.ScalesToZero && p.PID == 0:
					ready = "scaled to zero"
				}
				cold := "-"
				if p.ColdStarts > 0 {
					cold = fmt.Sprintf("%dms (%d)", p.ColdStartMs, p.ColdStarts)
				}
				reloaded := "-"
				if p.LastReload != "" {
					reloaded = fmt.Sprintf("%s (%d)", p.LastReload, p.Reloads)
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.URL, p.PID, p.Restarts, ready, reloaded, cold, p.LastError)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if st, err := stack.Read(filepath.Join(dir, "stack.json")); err == nil && st.MetricsURL != "" {
				fmt.Fprintf(stdout, "\nsa dev's metrics (cold starts, restarts, reloads; Prometheus): %s\n", st.MetricsURL)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".dev", "the stack's directory, relative to the repository root")
	f.BoolVar(&asJSON, "json", false, "print a JSON list of {name, url, pid, restarts, ready, lastError, reloads, lastReload, scalesToZero, coldStarts, coldStartMs}")
	return cmd
}
