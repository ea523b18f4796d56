//go:build linux

package childproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays the parent when CHILDPROC_PARENT names a mode: it starts
// `sleep 300` guarded that way, prints the sleeper's pid and waits to be killed.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CHILDPROC_PARENT"); mode != "" {
		os.Exit(playParent(mode))
	}
	os.Exit(m.Run())
}

func playParent(mode string) int {
	cmd := exec.Command("sleep", "300")
	switch mode {
	case "pdeathsig":
		Prepare(cmd, true)
	case "watchdog":
		// What macOS gets: a process group and no Pdeathsig.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	if mode == "watchdog" {
		if _, err := startWatchdog(cmd.Process.Pid, true); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	fmt.Println(cmd.Process.Pid)
	time.Sleep(5 * time.Minute)
	return 0
}

// alive reports whether pid runs (a zombie waiting for its reaper does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func TestChildDiesWithParent(t *testing.T) {
	for _, mode := range []string{"pdeathsig", "watchdog"} {
		t.Run(mode, func(t *testing.T) {
			parent := exec.Command(os.Args[0], "-test.run=^$")
			parent.Env = append(os.Environ(), "CHILDPROC_PARENT="+mode)
			out, err := parent.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := parent.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				_ = parent.Process.Kill()
				t.Fatalf("read the child's pid: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				_ = parent.Process.Kill()
				t.Fatalf("parent said %q", line)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if !alive(pid) {
				t.Fatalf("child %d is not running while its parent lives", pid)
			}
			// SIGKILL: the parent can run no cleanup of its own.
			_ = parent.Process.Kill()
			_ = parent.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("child %d still runs 10s after its parent was killed", pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestWatchdogReleaseLeavesChild(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	release, err := startWatchdog(cmd.Process.Pid, true)
	if err != nil {
		t.Fatal(err)
	}
	release() // returns once the watchdog has exited
	if !alive(cmd.Process.Pid) {
		t.Fatal("an orderly release killed the child")
	}
}

func TestSignalGroup(t *testing.T) {
	// A shell whose own child is in its group: a group signal ends both.
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & echo $!; wait")
	Prepare(cmd, true)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	grandchild, _ := strconv.Atoi(strings.TrimSpace(line))
	if err := Terminate(cmd.Process.Pid, true); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(grandchild) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("the group's sleep %d outlived Terminate", grandchild)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
