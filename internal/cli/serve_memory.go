package cli

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit the Go
// heap may grow to before the garbage collector works harder: the rest
// is the mapped binary's pages, which the kernel charges to the container
// too, and stacks.
const memoryLimitShare = 0.8

// cgroupMemoryFiles hold the container's memory limit: cgroup v2, then v1.
var cgroupMemoryFiles = []string{"memory.max", "memory/memory.limit_in_bytes"}

// setMemoryLimit gives the Go runtime a soft memory limit derived from the
// container's (memoryLimitShare of it) when GOMEMLIMIT does not set one,
// so that a heap near the limit is collected instead of killed. It
// returns the limit set, 0 when none.
func setMemoryLimit(cgroupRoot string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := cgroupMemoryLimit(cgroupRoot)
	if limit <= 0 {
		return 0
	}
	n := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(n)
	return n
}

// cgroupMemoryLimit is the memory limit of the cgroup mounted at root, 0
// when there is none ("max", or v1's "no limit" of about 2^63).
func cgroupMemoryLimit(root string) int64 {
	for _, f := range cgroupMemoryFiles {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(data))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0
		}
		return n
	}
	return 0
}
