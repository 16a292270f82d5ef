package serve

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2 limit", map[string]string{"memory.max": "268435456\n"}, 268435456},
		{"v2 no limit", map[string]string{"memory.max": "max\n"}, 0},
		{"v1 limit", map[string]string{"memory/memory.limit_in_bytes": "134217728\n"}, 134217728},
		{"v1 no limit", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"v2 wins over v1", map[string]string{"memory.max": "1000", "memory/memory.limit_in_bytes": "2000"}, 1000},
		{"no cgroup files", nil, 0},
		{"garbage", map[string]string{"memory.max": "lots"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := cgroupMemoryLimit(root); got != tc.want {
				t.Errorf("cgroupMemoryLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSetMemoryLimit(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "memory.max"), []byte("268435456\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	limit := int64(268435456)
	want := int64(float64(limit) * memoryLimitShare)
	t.Setenv("GOMEMLIMIT", "")
	if got := setMemoryLimit(root); got != want {
		t.Errorf("without GOMEMLIMIT: set %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("runtime limit %d after setMemoryLimit", got)
	}
	t.Setenv("GOMEMLIMIT", "64MiB")
	if got := setMemoryLimit(root); got != 0 {
		t.Errorf("with GOMEMLIMIT set: setMemoryLimit set %d, want nothing", got)
	}
}

func TestGCPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{5 << 20, 100},            // a small heap keeps the default
		{16 << 20, 100},           // headroom == live: the default
		{20 << 20, 80},            // 16 MiB of headroom over 20 MiB
		{32 << 20, 50},            // 16 MiB over 32 MiB
		{40 << 20, minGCPercent},  // 16 MiB over 40 MiB is under the floor
		{100 << 20, minGCPercent}, // never below the floor
		{1 << 30, minGCPercent},
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

func TestReleaseDue(t *testing.T) {
	const mib = 1 << 20
	steady := heapState{live: 110 * mib, objects: 120 * mib, unused: 2 * mib, free: 12 * mib, goal: 138 * mib}
	peak := heapState{live: 110 * mib, objects: 120 * mib, unused: 2 * mib, free: 120 * mib, goal: 138 * mib}
	for _, tc := range []struct {
		name  string
		h     heapState
		since time.Duration
		want  bool
	}{
		{"steady heap", steady, time.Hour, false},
		{"free pages under the goal's headroom, within a minute", heapState{objects: 100 * mib, free: 30 * mib, goal: 140 * mib}, 30 * time.Second, false},
		{"free pages over maxHeadroom, a minute on", heapState{objects: 100 * mib, free: 30 * mib, goal: 140 * mib}, releaseEvery, true},
		{"after a peak", peak, peakReleaseEvery, true},
		{"after a peak, just released", peak, peakReleaseEvery - time.Second, false},
	} {
		if got := releaseDue(tc.h, tc.since); got != tc.want {
			t.Errorf("%s: releaseDue = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestReadHeap holds the metric names to the runtime's: an unknown name
// reads as zero, and no release would ever be due.
func TestReadHeap(t *testing.T) {
	keep := make([]byte, 8<<20)
	samples := make([]metrics.Sample, len(gcSamples))
	for i, name := range gcSamples {
		samples[i].Name = name
	}
	runtime.GC()
	h := readHeap(samples)
	for i, v := range []uint64{h.live, h.objects, h.goal} {
		if v == 0 {
			t.Errorf("%s read as 0", gcSamples[[]int{0, 2, 4}[i]])
		}
	}
	if h.objects < uint64(len(keep)) || h.goal < h.live {
		t.Errorf("implausible heap state %+v", h)
	}
	runtime.KeepAlive(keep)
}
