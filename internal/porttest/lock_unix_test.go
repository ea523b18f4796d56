//go:build unix

package porttest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestClaimHeldByAnotherProcess: a port another test binary claimed is not handed out
// until that process ends, however it ends.
func TestClaimHeldByAnotherProcess(t *testing.T) {
	if os.Getenv("PORTTEST_CHILD") == "1" {
		p := Free(t)
		fmt.Println(p)
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // hold it until killed
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), "PORTTEST_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("child: %v", err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("child printed %q", line)
	}
	if claimBlock(p, 1) {
		t.Errorf("port %d, claimed by process %d, was handed out here too", p, cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !claimBlock(p, 1) {
		t.Errorf("port %d is still claimed after the process holding it was killed", p)
	}
}
