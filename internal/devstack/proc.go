package devstack

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
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

func (c *console) writeLine(prefix string, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := make([]byte, 0, len(prefix)+len(line)+1)
	b = append(append(append(b, prefix...), line...), '\n')
	_, _ = c.w.Write(b)
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

// prefixer is an io.Writer that writes each complete line to a console with a prefix
// ("todo-api | ") and remembers it in a tail. One prefixer serves one stream.
type prefixer struct {
	con    *console
	prefix string
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
	p.con.writeLine(p.prefix, line)
	p.tail.add(string(line))
}

// child is a process the stack started.
type child struct {
	name string
	cmd  *exec.Cmd
	tail *tail
	// done is closed once the process has exited and been reaped; err is then Wait's
	// result.
	done chan struct{}
	err  error

	mu       sync.Mutex
	stopping bool
}

// startChild starts bin with args and env, its output prefixed with name on con. Each
// child gets its own process group, so a Ctrl-C at the terminal reaches only `sa`,
// which then stops the children in order; Pdeathsig kills a child whose parent died
// without doing so. onExit is called once the child has ended.
func startChild(con *console, name, bin string, args, env []string, dir string, onExit func(*child)) (*child, error) {
	c := &child{name: name, tail: &tail{}, done: make(chan struct{})}
	stdout := &prefixer{con: con, prefix: name + " | ", tail: c.tail}
	stderr := &prefixer{con: con, prefix: name + " | ", tail: c.tail}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A grandchild holding the output pipes open must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	c.cmd = cmd
	go func() {
		c.err = cmd.Wait()
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
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
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
