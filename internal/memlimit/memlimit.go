// Package memlimit sets Go's soft memory limit from the container's memory limit, so
// the garbage collector works harder as the heap nears what the kernel allows instead
// of letting it grow to twice the live heap and the container be OOM-killed.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Headroom is what is left between the container's limit and Go's: memory the Go
// runtime does not count (thread stacks, code, the WebAssembly compilers' output),
// and room for the collector to catch up.
func Headroom(limit int64) int64 { return max(limit/10, 16<<20) }

// ContainerLimit reads the memory limit of the cgroup this process runs in: cgroup v2's
// memory.max, else v1's memory.limit_in_bytes, under root (normally /sys/fs/cgroup).
// ok is false when there is none ("max", an absent file, or v1's huge "unlimited").
func ContainerLimit(root string) (limit int64, ok bool, err error) {
	for _, name := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, false, fmt.Errorf("read %s: %w", name, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false, nil
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s holds %q: %w", name, s, err)
		}
		if v <= 0 || v >= math.MaxInt64/2 { // v1 writes a page-rounded MaxInt64 for "none"
			return 0, false, nil
		}
		return v, true, nil
	}
	return 0, false, nil
}

// Apply sets Go's memory limit to the container's limit less Headroom, unless
// GOMEMLIMIT is set (getenv), which the runtime has applied already. It returns the
// limit now in force (math.MaxInt64 when none) and where it came from.
func Apply(getenv func(string) string, root string) (int64, string, error) {
	if v := getenv("GOMEMLIMIT"); v != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT=" + v, nil
	}
	limit, ok, err := ContainerLimit(root)
	if err != nil || !ok {
		return debug.SetMemoryLimit(-1), "none (no container limit)", err
	}
	set := limit - Headroom(limit)
	debug.SetMemoryLimit(set)
	return set, fmt.Sprintf("container limit %d MiB less %d MiB headroom", limit>>20, Headroom(limit)>>20), nil
}
