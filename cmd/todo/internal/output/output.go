// Package output prints to-dos for people (a compact table, aligned fields) and for
// programs (the API's own JSON objects).
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
)

// Check is the mark of a done to-do in tables.
const Check = "✓"

// Table prints todos as a table: full id, title, done mark, due time.
func Table(w io.Writer, todos []api.Todo) error {
	if len(todos) == 0 {
		_, err := fmt.Fprintln(w, "no to-dos")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tDONE\tDUE")
	for _, t := range todos {
		done := ""
		if t.Done {
			done = Check
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, oneLine(t.Title), done, due(t.DueAt))
	}
	return tw.Flush()
}

// Detail prints every field of one to-do, one per line.
func Detail(w io.Writer, t api.Todo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	rows := [][2]string{
		{"id", t.ID},
		{"title", oneLine(t.Title)},
		{"notes", oneLine(t.Notes)},
		{"done", yesNo(t.Done)},
		{"due", due(t.DueAt)},
		{"created", stamp(t.CreatedAt)},
		{"updated", stamp(t.UpdatedAt)},
		{"version", strconv.FormatInt(t.Version, 10)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// JSON prints one to-do as the API sent it.
func JSON(w io.Writer, t api.Todo) error {
	return writeJSON(w, t.Raw)
}

// Items prints {"items":[...]} with the API's objects.
func Items(w io.Writer, todos []api.Todo) error {
	raws := make([]json.RawMessage, 0, len(todos))
	for _, t := range todos {
		raws = append(raws, t.Raw)
	}
	return writeJSON(w, struct {
		Items []json.RawMessage `json:"items"`
	}{raws})
}

// Value prints any value as indented JSON.
func Value(w io.Writer, v any) error { return writeJSON(w, v) }

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func due(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes " + Check
	}
	return "no"
}

// oneLine keeps tables and fields on one line: newlines and tabs become spaces.
func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
}
