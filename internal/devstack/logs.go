package devstack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The terminal formats of the services' lines (Options.LogFormat).
const (
	// LogText shows each JSON line as one human-readable line: time, level, message,
	// attributes.
	LogText = "text"
	// LogJSON shows the services' JSON lines as they are.
	LogJSON = "json"
)

// LogsDir is the directory under the stack's directory that holds one file per process:
// <name>.log, the process's output exactly as it wrote it (the services' JSON lines,
// moto's access log and tracebacks), appended to across runs and restarts.
const LogsDir = "logs"

// ANSI escapes of the text format.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiYel   = "\x1b[33m"
)

// prefixColours are the services' prefix colours, chosen by a hash of the name so a
// service keeps its colour from run to run.
var prefixColours = []string{"\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[96m", "\x1b[92m", "\x1b[95m", "\x1b[94m"}

// lineFormat renders one process's output lines for the terminal.
type lineFormat struct {
	name    string
	literal string // when set, the prefix as it is (the stack's own indented lines)
	width   int    // the prefixes' width, the longest name's
	json    bool   // lines as they are, after the prefix
	colour  bool
}

// prefix is the aligned, maybe coloured, "name | ".
func (f lineFormat) prefix() string {
	if f.literal != "" {
		return f.literal
	}
	p := fmt.Sprintf("%-*s | ", f.width, f.name)
	if !f.colour {
		return p
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(f.name))
	return prefixColours[h.Sum32()%uint32(len(prefixColours))] + p + ansiReset
}

// render returns the terminal line for one line of output.
func (f lineFormat) render(line []byte) string {
	if f.json {
		return f.prefix() + string(line)
	}
	rec, ok := parseRecord(line)
	if !ok {
		return f.prefix() + string(line)
	}
	var b strings.Builder
	b.WriteString(f.prefix())
	if !rec.time.IsZero() {
		f.paint(&b, ansiDim, rec.time.Local().Format("15:04:05.000"))
		b.WriteByte(' ')
	}
	level := strings.ToUpper(rec.level)
	switch {
	case strings.HasPrefix(level, "ERROR"):
		f.paint(&b, ansiBold+ansiRed, fmt.Sprintf("%-5s %s", level, rec.msg))
	case strings.HasPrefix(level, "WARN"):
		f.paint(&b, ansiYel, fmt.Sprintf("%-5s", level))
		b.WriteString(" " + rec.msg)
	case strings.HasPrefix(level, "DEBUG"):
		f.paint(&b, ansiDim, fmt.Sprintf("%-5s", level))
		b.WriteString(" " + rec.msg)
	default:
		fmt.Fprintf(&b, "%-5s %s", level, rec.msg)
	}
	for _, a := range rec.attrs {
		b.WriteByte(' ')
		f.paint(&b, ansiDim, a.key+"=")
		b.WriteString(a.value)
	}
	return b.String()
}

func (f lineFormat) paint(b *strings.Builder, esc, s string) {
	if f.colour {
		b.WriteString(esc + s + ansiReset)
		return
	}
	b.WriteString(s)
}

// record is one JSON log line as slog writes it.
type record struct {
	time  time.Time
	level string
	msg   string
	attrs []attr // in the line's order, without time, level, msg and service
}

type attr struct{ key, value string }

// parseRecord reads a JSON object line; ok is false for anything else.
func parseRecord(line []byte) (rec record, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return rec, false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return rec, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return rec, false
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return rec, false
		}
		var s string
		isString := json.Unmarshal(raw, &s) == nil
		switch {
		case key == "time" && isString:
			rec.time, _ = time.Parse(time.RFC3339Nano, s)
		case key == "level" && isString:
			rec.level = s
		case key == "msg" && isString:
			rec.msg = s
		case key == "service":
			// The prefix names the service.
		case isString:
			if s == "" || strings.ContainsAny(s, " \t\"=") {
				s = strconv.Quote(s)
			}
			rec.attrs = append(rec.attrs, attr{key, s})
		default:
			rec.attrs = append(rec.attrs, attr{key, string(raw)})
		}
	}
	return rec, rec.msg != "" || rec.level != ""
}

// werkzeugTime finds the time in a line of moto's access log
// (`127.0.0.1 - - [07/Dec/2026 06:10:00] "GET / HTTP/1.1" 200 -`).
var werkzeugTime = regexp.MustCompile(`\[(\d{2}/[A-Z][a-z]{2}/\d{4} \d{2}:\d{2}:\d{2})\]`)

// lineTime is the time a line says it was written, or the zero time.
func lineTime(line []byte) time.Time {
	if rec, ok := parseRecord(line); ok {
		return rec.time
	}
	if m := werkzeugTime.FindSubmatch(line); m != nil {
		if t, err := time.ParseInLocation("02/Jan/2006 15:04:05", string(m[1]), time.Local); err == nil {
			return t
		}
	}
	return time.Time{}
}

// openLog opens <dir>/logs/<name>.log for appending, creating the directory.
func openLog(dir, name string) (*os.File, error) {
	logs := filepath.Join(dir, LogsDir)
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(logs, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file of %s: %w", name, err)
	}
	return f, nil
}

// LogsOptions configure ShowLogs.
type LogsOptions struct {
	// Dir is the stack's directory (".dev").
	Dir string
	// Names are the processes to show (every one with a log file when empty).
	Names []string
	// Since, when positive, shows only lines written in that last stretch of time.
	Since time.Duration
	// Follow keeps printing lines as they are written, until ctx ends.
	Follow bool
	// Format is LogText or LogJSON.
	Format string
	// Colour colours the text format.
	Colour bool
	// Out receives the lines.
	Out io.Writer
	// Poll is how often Follow looks for new lines (250ms).
	Poll time.Duration
}

// logLine is one line of one file, with the time it was written (its own, or that of
// the line before it in the file for lines that carry none, such as tracebacks).
type logLine struct {
	at   time.Time
	name string
	text []byte
}

// ShowLogs prints the log files of the stack in dir, merged in time order with each
// process's prefix, and with Follow the lines written afterwards, as they come.
func ShowLogs(ctx context.Context, o LogsOptions) error {
	if o.Format == "" {
		o.Format = LogText
	}
	if o.Format != LogText && o.Format != LogJSON {
		return fmt.Errorf("--log-format must be %s or %s, not %q", LogText, LogJSON, o.Format)
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	logs := filepath.Join(o.Dir, LogsDir)
	names, err := logNames(logs)
	if err != nil {
		return err
	}
	if len(o.Names) > 0 {
		for _, n := range o.Names {
			if !slices.Contains(names, n) {
				return fmt.Errorf("no log of %q in %s (there are: %s)", n, logs, strings.Join(names, ", "))
			}
		}
		names = o.Names
	}
	if len(names) == 0 {
		return fmt.Errorf("no logs in %s yet: start the stack with make dev (sa dev)", logs)
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	formats := make(map[string]lineFormat, len(names))
	for _, n := range names {
		formats[n] = lineFormat{name: n, width: width, json: o.Format == LogJSON, colour: o.Colour}
	}
	var since time.Time
	if o.Since > 0 {
		since = time.Now().Add(-o.Since)
	}
	offsets := make(map[string]int64, len(names))
	var all []logLine
	for _, n := range names {
		lines, off, err := readLog(filepath.Join(logs, n+".log"), n, 0)
		if err != nil {
			return err
		}
		offsets[n] = off
		all = append(all, lines...)
	}
	slices.SortStableFunc(all, func(a, b logLine) int { return a.at.Compare(b.at) })
	w := bufio.NewWriter(o.Out)
	for _, l := range all {
		if !since.IsZero() && l.at.Before(since) {
			continue
		}
		fmt.Fprintln(w, formats[l.name].render(l.text))
	}
	if err := w.Flush(); err != nil || !o.Follow {
		return err
	}
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, n := range names {
			lines, off, err := readLog(filepath.Join(logs, n+".log"), n, offsets[n])
			if err != nil {
				return err
			}
			offsets[n] = off
			for _, l := range lines {
				fmt.Fprintln(w, formats[n].render(l.text))
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// logNames lists the processes that have a log file in logs.
func logNames(logs string) ([]string, error) {
	entries, err := os.ReadDir(logs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read logs: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".log"); ok && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	return names, nil
}

// readLog reads the complete lines of path from offset on, and returns them with the
// offset after the last one. A file shorter than offset was truncated: it is read from
// the start.
func readLog(path, name string, offset int64) ([]logLine, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, offset, fmt.Errorf("read log of %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < offset {
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, fmt.Errorf("read log of %s: %w", name, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, offset, fmt.Errorf("read log of %s: %w", name, err)
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		return nil, offset, nil
	}
	var lines []logLine
	var last time.Time
	for line := range bytes.SplitSeq(data[:end], []byte("\n")) {
		if t := lineTime(line); !t.IsZero() {
			last = t
		}
		lines = append(lines, logLine{at: last, name: name, text: bytes.Clone(line)})
	}
	return lines, offset + int64(end) + 1, nil
}
