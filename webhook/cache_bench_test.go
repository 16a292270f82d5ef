package webhook

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// BenchmarkCacheMemory reports the live heap the informer cache (objects
// after lookup.StripForCache, and the field indexes) holds per object, with 10,000
// Services and 2,000 StatefulSets: the part of the guard's memory that
// grows with the cluster.
//
//	go test -run '^$' -bench CacheMemory ./webhook/
func BenchmarkCacheMemory(b *testing.B) {
	const services, statefulSets = 10000, 2000
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var perObject, total float64
	for b.Loop() {
		before := heap()
		env, err := newBenchEnv(b, func() []client.Object {
			return load.ScaleObjects(reviews.Namespace, services, statefulSets)
		})
		if err != nil {
			b.Fatal(err)
		}
		after := heap()
		if p := os.Getenv("HEAP_PROFILE"); p != "" {
			f, _ := os.Create(p)
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
		runtime.KeepAlive(env)
		total = float64(after - before)
		perObject = total / (services + statefulSets)
	}
	b.ReportMetric(perObject, "B/object")
	b.ReportMetric(total/(1<<20), "MiB")
}
