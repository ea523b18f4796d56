package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/output"
)

// maxPages bounds ls --all, in case a server keeps answering with a next token.
const maxPages = 10000

func (a *app) addCmd() *cobra.Command {
	var notes, due string
	cmd := &cobra.Command{
		Use:   "add TITLE... [--notes NOTES] [--due RFC3339]",
		Short: "Add a to-do (the words of TITLE are joined with spaces)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := api.NewTodo{Title: strings.Join(args, " "), Notes: notes}
			if due != "" {
				t, err := parseDue(due)
				if err != nil {
					return err
				}
				n.DueAt = &t
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			t, err := c.Create(cmd.Context(), n)
			if err != nil {
				return err
			}
			if a.json {
				return output.JSON(a.stdout, t)
			}
			a.printf("added %s: %s\n", t.ID, t.Title)
			return nil
		},
	}
	cmd.Flags().StringVar(&notes, "notes", "", "notes")
	cmd.Flags().StringVar(&due, "due", "", "due time, RFC 3339 (2026-12-24T18:00:00Z)")
	return cmd
}

func (a *app) lsCmd() *cobra.Command {
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "ls [--limit N] [--all]",
		Short: "List your to-dos (one page, or every page with --all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return errors.New("--limit: must not be negative")
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var items []api.Todo
			next := ""
			seen := map[string]bool{}
			for range maxPages {
				p, err := c.List(cmd.Context(), limit, next)
				if err != nil {
					return err
				}
				items = append(items, p.Items...)
				next = p.NextToken
				if !all || next == "" {
					break
				}
				if seen[next] {
					return fmt.Errorf("list todos: the API repeated the page token %q", next)
				}
				seen[next] = true
			}
			if next != "" {
				defer fmt.Fprintln(a.stderr, "more to-dos: run todo ls --all")
			}
			if a.json {
				return output.Items(a.stdout, items)
			}
			return output.Table(a.stdout, items)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "page size (default: the API's)")
	cmd.Flags().BoolVar(&all, "all", false, "follow nextToken to fetch every page")
	return cmd
}

func (a *app) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one to-do",
		Args:  idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			t, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json {
				return output.JSON(a.stdout, t)
			}
			return output.Detail(a.stdout, t)
		},
	}
}

func (a *app) doneCmd() *cobra.Command {
	var undo bool
	cmd := &cobra.Command{
		Use:   "done ID [--undo]",
		Short: "Mark a to-do done (or not done with --undo)",
		Args:  idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			done := !undo
			t, err := c.Update(cmd.Context(), args[0], api.Patch{Done: &done})
			if err != nil {
				return err
			}
			if a.json {
				return output.JSON(a.stdout, t)
			}
			if t.Done {
				a.printf("done %s %s: %s\n", output.Check, t.ID, t.Title)
			} else {
				a.printf("not done %s: %s\n", t.ID, t.Title)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&undo, "undo", false, "mark it not done")
	return cmd
}

func (a *app) editCmd() *cobra.Command {
	var title, notes, due string
	var clearDue bool
	cmd := &cobra.Command{
		Use:   "edit ID [--title T] [--notes N] [--due RFC3339 | --clear-due]",
		Short: "Change a to-do's title, notes or due time",
		Args:  idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			var p api.Patch
			f := cmd.Flags()
			if f.Changed("title") {
				p.Title = &title
			}
			if f.Changed("notes") {
				p.Notes = &notes
			}
			if f.Changed("due") {
				t, err := parseDue(due)
				if err != nil {
					return err
				}
				p.DueAt = &t
			}
			p.ClearDue = clearDue
			if p.Empty() {
				return errors.New("nothing to change: pass --title, --notes, --due or --clear-due")
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			t, err := c.Update(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if a.json {
				return output.JSON(a.stdout, t)
			}
			a.printf("updated %s (version %d): %s\n", t.ID, t.Version, t.Title)
			return nil
		},
	}
	cmd.Flags().StringVar(&title, "title", "", "new title")
	cmd.Flags().StringVar(&notes, "notes", "", `new notes ("" clears them)`)
	cmd.Flags().StringVar(&due, "due", "", "new due time, RFC 3339")
	cmd.Flags().BoolVar(&clearDue, "clear-due", false, "remove the due time")
	cmd.MarkFlagsMutuallyExclusive("due", "clear-due")
	return cmd
}

func (a *app) rmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Delete a to-do",
		Args:  idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			if err := c.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			if !a.json {
				a.printf("deleted %s\n", args[0])
			}
			return nil
		},
	}
}

// idArg accepts exactly one to-do id.
func idArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return err
	}
	switch id := args[0]; {
	case strings.TrimSpace(id) == "", id == ".", id == "..":
		return fmt.Errorf("%q is not a to-do id", id)
	}
	return nil
}

func parseDue(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--due %q: want an RFC 3339 time like 2026-12-24T18:00:00Z", s)
	}
	return t, nil
}
