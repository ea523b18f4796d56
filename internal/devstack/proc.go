package devstack

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/childproc"
)

// tailLines is how many of a child's last output lines are kept for its obituary.
const tailLines = 20

// maxLine bounds a buffered partial line; longer output is cut into lines of this size.
const maxLine = 64 << 10

// console serialises the lines written to the operator's terminal.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

// Printf writes one formatted line.
func (c *console) Printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format+"\n", args...)
}

func (c *console) writeLine(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, line+"\n")
}

// tail keeps the last lines a child printed.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// String returns the kept lines, one per line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// prefixer is an io.Writer that takes a child's output line by line: each line goes
// as it is to the child's log file (when there is one), rendered by format to the
// console (unless quiet), and into the tail kept for its obituary. One prefixer serves
// one stream.
type prefixer struct {
	con    *console
	format lineFormat
	quiet  bool
	file   io.Writer
	tail   *tail
	buf    []byte
}

// Write implements io.Writer.
func (p *prefixer) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			if len(p.buf) >= maxLine {
				i = maxLine
			} else {
				break
			}
		}
		p.emit(p.buf[:i])
		if i < len(p.buf) && p.buf[i] == '\n' {
			i++
		}
		p.buf = p.buf[i:]
	}
	return len(b), nil
}

// Flush writes a final line that had no newline.
func (p *prefixer) Flush() {
	if len(p.buf) > 0 {
		p.emit(p.buf)
		p.buf = nil
	}
}

func (p *prefixer) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if p.file != nil {
		// One write per line (stdout and stderr share the file), from a copy: line is a
		// view of buf, whose next byte may be output not yet written.
		_, _ = p.file.Write(append(bytes.Clone(line), '\n'))
	}
	if !p.quiet {
		p.con.writeLine(p.format.render(line))
	}
	p.tail.add(string(line))
}

// child is a process the stack started.
type child struct {
	name string
	spec spec // to start it again
	cmd  *exec.Cmd
	tail *tail
	// done is closed once the process has exited and been reaped; err is then Wait's
	// result.
	done chan struct{}
	err  error

	mu       sync.Mutex
	stopping bool
}

// output says where a child's lines go.
type output struct {
	con    *console
	format lineFormat // the terminal's rendering; its name is the child's
	quiet  bool       // not on the terminal at all (moto)
	file   io.Writer  // its log file, or nil
}

// startChild starts bin with args and env, its output going where out says. Each
// child gets its own process group, so a Ctrl-C at the terminal reaches only `sa`,
// which then stops the children in order; a child whose parent died without doing so
// is killed (internal/childproc: Pdeathsig on Linux, a watchdog elsewhere). onExit is
// called once the child has ended.
func startChild(out output, bin string, args, env []string, dir string, onExit func(*child)) (*child, error) {
	name := out.format.name
	c := &child{name: name, tail: &tail{}, done: make(chan struct{})}
	stdout := &prefixer{con: out.con, format: out.format, quiet: out.quiet, file: out.file, tail: c.tail}
	stderr := &prefixer{con: out.con, format: out.format, quiet: out.quiet, file: out.file, tail: c.tail}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	childproc.Prepare(cmd, true)
	// A grandchild holding the output pipes open must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	release, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	c.cmd = cmd
	go func() {
		c.err = cmd.Wait()
		release()
		stdout.Flush()
		stderr.Flush()
		close(c.done)
		onExit(c)
	}()
	return c, nil
}

// PID is the child's process id.
func (c *child) PID() int { return c.cmd.Process.Pid }

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// expected reports whether the child was asked to stop.
func (c *child) expected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// stop sends SIGTERM to the child's process group, waits up to timeout, then sends
// SIGKILL, and returns once the child is gone.
func (c *child) stop(timeout time.Duration) {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	if c.exited() {
		return
	}
	pid := c.cmd.Process.Pid
	_ = childproc.Terminate(pid, true)
	select {
	case <-c.done:
		return
	case <-time.After(timeout):
	}
	_ = childproc.Kill(pid, true)
	<-c.done
}

// obituary describes an unexpected exit.
func (c *child) obituary() error {
	status := "exited with status 0"
	if c.err != nil {
		status = c.err.Error()
	}
	last := c.tail.String()
	if last == "" {
		last = "(it printed nothing)"
	}
	return fmt.Errorf("%s (pid %d) died unexpectedly: %s; its last lines were:\n%s", c.name, c.PID(), status, indent(last))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
