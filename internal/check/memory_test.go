package check

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// TestBoundHeap: with a live heap of 96 MiB, BoundHeap sets a soft memory
// limit of the live heap plus heapHeadroom (and what the runtime holds
// besides the heap) after a collection, and stop lifts it. With GOGC or
// GOMEMLIMIT in the environment it sets nothing.
func TestBoundHeap(t *testing.T) {
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("a memory limit is set already: %d", got)
	}
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	live := make([][]byte, 96)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	stop := BoundHeap()
	var limit int64
	for try := 0; try < 50 && limit == 0; try++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs after the collection
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
			limit = l
		}
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	heapLive := int64(s[0].Value.Uint64())
	stop()
	runtime.KeepAlive(live)
	if limit == 0 {
		t.Fatal("no memory limit set after a collection")
	}
	// The live heap is 96 MiB and more; the runtime's other memory is
	// a few MiB.
	if min, max := heapLive+heapHeadroom, heapLive+heapHeadroom+32<<20; limit < min || limit > max {
		t.Errorf("limit %d MiB with %d MiB live, want %d to %d MiB", limit>>20, heapLive>>20, min>>20, max>>20)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after stop the limit is %d, want none", got)
	}

	t.Setenv("GOGC", "100")
	stop = BoundHeap()
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOGC set, a limit of %d was set", got)
	}
	stop()
}

// TestMemoryLimitFor: the headroom is heapHeadroom, or half the live heap
// when that is more.
func TestMemoryLimitFor(t *testing.T) {
	for _, c := range []struct{ live, other, want uint64 }{
		{10 << 20, 5 << 20, 79 << 20},
		{128 << 20, 0, 192 << 20},
		{400 << 20, 8 << 20, 608 << 20},
	} {
		if got := memoryLimitFor(c.live, c.other); got != int64(c.want) {
			t.Errorf("memoryLimitFor(%d MiB, %d MiB) = %d MiB, want %d", c.live>>20, c.other>>20, got>>20, c.want>>20)
		}
	}
}
