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
// never below minGCPercent and never above 100: a small heap keeps the
// default. The floor is for latency: under it a large cache is marked so
// often, with so little room to allocate meanwhile, that requests wait on
// the collector. At 100,000 Services (about 85 MiB live) the floor, 50,
// is about 43 MiB of headroom; with 25, p99 at concurrency 1 was 1.3 to
// 2.1 times that at 10,000 Services, with 50 0.9 to 1.1 times, for 20 MiB
// more RSS (docs/performance.md, "Memory").
//
// Free heap pages the runtime has not returned to the operating system
// still count in RSS, and the background scavenger returns them slowly.
// Two cases return them at once (debug.FreeOSMemory: one collection):
//   - a peak: the heap the runtime holds exceeds the heap goal by more
//     than maxHeadroom, pages that no allocation will reuse before the heap
//     grows back, as after the informers' initial lists (every object
//     decoded at once, then the handlers' and the audit's first pass over
//     them: a restarted guard at 100,000 Services held 120 MiB of them
//     when it went idle). At most every peakReleaseEvery.
//   - more than maxHeadroom free at all, at most every releaseEvery.
const (
	maxHeadroom      = 16 << 20
	minGCPercent     = 50
	gcTuneEvery      = 2 * time.Second
	peakReleaseEvery = 10 * time.Second
	releaseEvery     = time.Minute
)

// The runtime/metrics boundGCHeadroom reads, in this order.
var gcSamples = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/heap/goal:bytes",
}

// gcPercentFor is the GOGC that bounds the headroom above a live heap.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return max(minGCPercent, min(100, int(uint64(maxHeadroom)*100/live)))
}

// heapState is what boundGCHeadroom reads of the runtime.
type heapState struct {
	live, free, objects, unused, goal uint64
}

// releaseDue reports whether free pages are to be returned now, given
// the time since the last release.
func releaseDue(h heapState, since time.Duration) bool {
	held := h.objects + h.unused + h.free
	switch {
	case held > h.goal+maxHeadroom && since >= peakReleaseEvery:
		return true
	case h.free > maxHeadroom && since >= releaseEvery:
		return true
	}
	return false
}

// readHeap reads the heap's state from runtime/metrics.
func readHeap(samples []metrics.Sample) heapState {
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	return heapState{live: v(0), free: v(1), objects: v(2), unused: v(3), goal: v(4)}
}

// boundGCHeadroom adjusts GOGC to the live heap (unless GOGC is set in
// the environment) and returns free heap pages (releaseDue), every
// gcTuneEvery until ctx ends.
func boundGCHeadroom(ctx context.Context) {
	tune := os.Getenv("GOGC") == ""
	samples := make([]metrics.Sample, len(gcSamples))
	for i, name := range gcSamples {
		samples[i].Name = name
	}
	current := 100
	released := time.Now().Add(-releaseEvery)
	t := time.NewTicker(gcTuneEvery)
	defer t.Stop()
	for {
		h := readHeap(samples)
		if tune && h.live > 0 {
			if pct := gcPercentFor(h.live); pct != current {
				debug.SetGCPercent(pct)
				current = pct
			}
		}
		if releaseDue(h, time.Since(released)) {
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
