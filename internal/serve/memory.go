package serve

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// Nothing upstream does this: controller-runtime leaves the Go runtime's
// defaults (no soft memory limit, GOGC 100), under which a guard with a
// large cache can grow past its container's limit and be killed.

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

// The garbage collector lets the heap grow by GOGC percent of the live
// heap before it collects (100 by default), and the runtime keeps about
// 110% of that goal resident: with 10,000 Services cached (35 MiB live)
// that is 35 MiB of headroom, far more than requests need.
// boundGCHeadroom lowers GOGC so that the headroom stays under maxHeadroom,
// never below minGCPercent (which would trade too much CPU) and never
// above 100: a small heap keeps the default.
//
// Free heap pages the runtime has not returned to the operating system
// still count in RSS, and the background scavenger returns them slowly:
// after the informers' initial lists (every object decoded at once, then
// the handlers' and the audit's first pass over them) a restarted guard
// held 22 MiB of them at 10,000 Services. When more than maxHeadroom is
// free, they are returned at once (debug.FreeOSMemory: one collection), at
// most every releaseEvery.
const (
	maxHeadroom   = 16 << 20
	minGCPercent  = 50
	gcTuneEvery   = 2 * time.Second
	releaseEvery  = time.Minute
	liveHeapBytes = "/gc/heap/live:bytes"
	freeHeapBytes = "/memory/classes/heap/free:bytes"
)

// gcPercentFor is the GOGC that bounds the headroom above a live heap.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return max(minGCPercent, min(100, int(uint64(maxHeadroom)*100/live)))
}

// boundGCHeadroom adjusts GOGC to the live heap (unless GOGC is set in
// the environment) and returns free heap pages, every gcTuneEvery until
// ctx ends.
func boundGCHeadroom(ctx context.Context) {
	tune := os.Getenv("GOGC") == ""
	samples := []metrics.Sample{{Name: liveHeapBytes}, {Name: freeHeapBytes}}
	current := 100
	var released time.Time
	t := time.NewTicker(gcTuneEvery)
	defer t.Stop()
	for {
		metrics.Read(samples)
		live, free := samples[0].Value, samples[1].Value
		if tune && live.Kind() == metrics.KindUint64 {
			if pct := gcPercentFor(live.Uint64()); pct != current {
				debug.SetGCPercent(pct)
				current = pct
			}
		}
		if free.Kind() == metrics.KindUint64 && free.Uint64() > maxHeadroom && time.Since(released) >= releaseEvery {
			debug.FreeOSMemory()
			released = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
