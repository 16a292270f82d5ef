package check

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The garbage collector lets the heap grow by GOGC percent of the live
// heap (100 by default) before it collects, and free pages go back to the
// operating system slowly, so a process's RSS reaches about twice its
// live heap. The checker's live heap is its input, held from parsing to
// the report, and a large unit (100,000 documents in one directory: about
// 100 MB live) would double it for nothing: its other allocations are
// short-lived and its long-lived objects are encoded (rules.Encoded), so a
// collection marks little.
//
// BoundHeap keeps the Go runtime's memory under the live heap plus
// heapHeadroom, or plus half the live heap when that is more: a soft
// memory limit (debug.SetMemoryLimit), set after every collection from the
// live heap it measured. Under the limit the collector runs earlier and
// free pages go back at once. A small heap keeps GOGC's smaller goal.
// GOMEMLIMIT or GOGC in the environment leave the runtime alone.
const heapHeadroom = 64 << 20

// The runtime/metrics heapTuner reads, in this order: the live heap, then
// what the runtime holds in all and what of it is the heap's.
var heapSamples = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
}

// memoryLimitFor is the soft memory limit BoundHeap sets for a live heap
// and the memory the runtime holds besides the heap (stacks, the
// collector's metadata).
func memoryLimitFor(live, other uint64) int64 {
	return int64(live + max(heapHeadroom, live/2) + other)
}

// BoundHeap bounds the memory above the live heap (memoryLimitFor) from
// now until the returned stop is called, which lifts the limit. It is for
// the process that runs the checker (the `check` command): the limit is
// the process's.
func BoundHeap() (stop func()) {
	if os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		return func() {}
	}
	t := &heapTuner{samples: make([]metrics.Sample, len(heapSamples))}
	for i, name := range heapSamples {
		t.samples[i].Name = name
	}
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetMemoryLimit(math.MaxInt64)
	}
}

// heapTuner sets the limit after each collection: the finalizer of an
// object that only the next collection frees runs after it, and arms the
// next.
type heapTuner struct {
	mu      sync.Mutex
	stopped bool
	samples []metrics.Sample
}

func (t *heapTuner) arm() {
	sentinel := new([16]byte)
	runtime.SetFinalizer(sentinel, func(*[16]byte) { t.tune() })
}

func (t *heapTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.samples)
	v := make([]uint64, len(t.samples))
	for i, s := range t.samples {
		if s.Value.Kind() != metrics.KindUint64 {
			t.arm()
			return
		}
		v[i] = s.Value.Uint64()
	}
	live, total, heap := v[0], v[1], v[2]+v[3]+v[4]+v[5]
	debug.SetMemoryLimit(memoryLimitFor(live, total-min(total, heap)))
	t.arm()
}
