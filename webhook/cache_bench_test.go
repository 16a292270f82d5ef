package webhook

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/testobj"
	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// BenchmarkCacheMemory reports the live heap the informer cache (objects
// after lookup.StripForCache, and the indexes) holds per object: the part
// of the guard's memory that grows with the cluster. mixed is the scale
// benchmarks' 10,000 Services and 2,000 StatefulSets (one per five
// Services), in one namespace, and over 1,000 (the same ten Services and
// two StatefulSets in each, as one chart installed 1,000 times);
// services and statefulsets are each alone; chart-statefulsets
// are 2,000 copies of the StatefulSets of the rendered public charts
// (internal/check/testdata/publiccharts), with the commands, arguments,
// env and volumes the peer-name detector keeps, and their Services;
// chart-pods are 10,000 Pods of those StatefulSets, as their controller
// writes them (a controller's copy: the cache keeps a stub).
//
// Besides the bytes, it reports what the cache costs the garbage
// collector, which marks every live object and scans every word of the
// objects that hold pointers, on every cycle: the scannable bytes
// ("/gc/scan/heap:bytes") and the heap objects per object, and the
// time of a forced runtime.GC() with the cache built (gc-ms, the median
// of five). At 100,000 Services the mark phase, not the bytes, is what
// slows requests down (BenchmarkCacheGC100k).
//
//	go test -run '^$' -bench CacheMemory ./webhook/
func BenchmarkCacheMemory(b *testing.B) {
	charts, err := chartWorkloads()
	if err != nil {
		b.Fatal(err)
	}
	deployments, err := chartDeployments()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		objs func() []client.Object
	}{
		{"mixed", func() []client.Object { return load.ScaleObjects(reviews.Namespace, 10000, 2000) }},
		{"mixed-1000-namespaces", func() []client.Object {
			var out []client.Object
			for i := range 1000 {
				out = append(out, load.ScaleObjects(fmt.Sprintf("scale-%04d", i), 10, 2)...)
			}
			return out
		}},
		{"services", func() []client.Object { return load.ScaleObjects(reviews.Namespace, 10000, 0) }},
		{"statefulsets", func() []client.Object {
			var out []client.Object
			for i := range 2000 {
				out = append(out, load.ScaleStatefulSet(reviews.Namespace, i))
			}
			return out
		}},
		{"chart-statefulsets", func() []client.Object { return copies(charts, 2000) }},
		{"chart-pods", func() []client.Object { return podsOf(charts, 10000) }},
		{"chart-deployments", func() []client.Object { return repeated(deployments, 10000) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchCacheHeap(b, bc.name, bc.objs)
		})
	}
}

// BenchmarkCacheGC100k is BenchmarkCacheMemory's figures for the caches
// of the scale benchmarks' largest cluster (hack/benchwebhook -phases
// scale): mixed is its 100,000 Services and 20,000 StatefulSets in one
// namespace, services its Services alone. What the garbage collector
// marks and scans there is what requests wait on. It takes a minute and
// about 2 GiB, so BenchmarkCacheMemory leaves it out.
//
//	go test -run '^$' -bench CacheGC100k -benchtime=1x ./webhook/
func BenchmarkCacheGC100k(b *testing.B) {
	for _, bc := range []struct {
		name                   string
		services, statefulSets int
	}{{"mixed", 100000, 20000}, {"services", 100000, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			benchCacheHeap(b, bc.name, func() []client.Object {
				return load.ScaleObjects(reviews.Namespace, bc.services, bc.statefulSets)
			})
		})
	}
}

// benchCacheHeap builds a cache of objs and reports the live heap, the
// scannable heap and the heap objects it adds, per object and in all,
// and the time of a forced collection with it built.
func benchCacheHeap(b *testing.B, name string, objs func() []client.Object) {
	n := len(objs())
	var total, scan, heapObjects int64
	var gc time.Duration
	for b.Loop() {
		before := readHeap()
		env, err := newBenchEnv(b, objs)
		if err != nil {
			b.Fatal(err)
		}
		after := readHeap()
		if p := os.Getenv("HEAP_PROFILE"); p != "" {
			f, _ := os.Create(name + "-" + p)
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
		gc = gcTime()
		runtime.KeepAlive(env)
		total = after.live - before.live
		scan = after.scan - before.scan
		heapObjects = after.objects - before.objects
	}
	b.ReportMetric(float64(total)/float64(n), "B/object")
	b.ReportMetric(float64(total)/(1<<20), "MiB")
	b.ReportMetric(float64(scan)/float64(n), "scan-B/object")
	b.ReportMetric(float64(scan)/(1<<20), "scan-MiB")
	b.ReportMetric(float64(heapObjects)/float64(n), "heap-objects/object")
	b.ReportMetric(float64(gc.Microseconds())/1000, "gc-ms")
	b.ReportMetric(float64(n), "objects")
}

// heap is what readHeap reads.
type heap struct {
	live, scan, objects int64
}

// readHeap reads, after two collections (the second frees what the
// first's finalizers let go), the live heap, the scannable part of it
// ("/gc/scan/heap:bytes": the bytes of the objects that hold pointers,
// up to their last pointer word) and the number of heap objects.
func readHeap() heap {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	samples := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}, {Name: "/gc/heap/objects:objects"}}
	metrics.Read(samples)
	return heap{live: int64(ms.HeapAlloc), scan: int64(samples[0].Value.Uint64()), objects: int64(samples[1].Value.Uint64())}
}

// gcTime is the median time of five forced collections.
func gcTime() time.Duration {
	times := make([]time.Duration, 5)
	for i := range times {
		start := time.Now()
		runtime.GC()
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// chartWorkloads are the StatefulSets of the rendered public charts, each
// with the Services of its file.
func chartWorkloads() ([]client.Object, error) {
	return chartObjects(func(o client.Object) bool {
		switch o.(type) {
		case *appsv1.StatefulSet, *corev1.Service:
			return true
		}
		return false
	})
}

// chartObjects are the objects of the rendered public charts that keep
// selects, in their order.
func chartObjects(keep func(client.Object) bool) ([]client.Object, error) {
	objs, err := testobj.PublicCharts("../internal/check/testdata/publiccharts")
	if err != nil {
		return nil, err
	}
	var out []client.Object
	for _, o := range objs {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out, nil
}

// copies returns objs repeated, renamed, until it holds n StatefulSets.
func copies(objs []client.Object, n int) []client.Object {
	var out []client.Object
	sets := 0
	for i := 0; sets < n; i++ {
		for _, o := range objs {
			if _, isSTS := o.(*appsv1.StatefulSet); isSTS {
				if sets == n {
					break
				}
				sets++
			}
			c := o.DeepCopyObject().(client.Object)
			c.SetNamespace(reviews.Namespace)
			c.SetName(fmt.Sprintf("%s-%d", o.GetName(), i))
			out = append(out, c)
		}
	}
	return out
}

// chartDeployments are the Deployments of the rendered public charts.
func chartDeployments() ([]client.Object, error) {
	return chartObjects(func(o client.Object) bool {
		_, ok := o.(*appsv1.Deployment)
		return ok
	})
}

// repeated returns n objects: objs over and over, renamed.
func repeated(objs []client.Object, n int) []client.Object {
	out := make([]client.Object, 0, n)
	for i := range n {
		o := objs[i%len(objs)]
		c := o.DeepCopyObject().(client.Object)
		c.SetNamespace(reviews.Namespace)
		c.SetName(fmt.Sprintf("%s-%d", o.GetName(), i))
		out = append(out, c)
	}
	return out
}

// podsOf returns n Pods of the StatefulSets among objs, round robin, as
// the StatefulSet controller writes them: the template's labels,
// annotations and spec, the hostname and subdomain, a controller
// reference, and a running Pod's status.
func podsOf(objs []client.Object, n int) []client.Object {
	var sets []*appsv1.StatefulSet
	for _, o := range objs {
		if s, ok := o.(*appsv1.StatefulSet); ok {
			sets = append(sets, s)
		}
	}
	out := make([]client.Object, 0, n)
	for i := range n {
		s := sets[i%len(sets)]
		name := fmt.Sprintf("%s-%d", s.Name, i)
		p := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: reviews.Namespace, UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i)),
				ResourceVersion: fmt.Sprint(100000 + i), Labels: s.Spec.Template.Labels, Annotations: s.Spec.Template.Annotations,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: s.Name, UID: "0000-owner", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			},
			Spec: *s.Spec.Template.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", HostIP: "10.1.1.1",
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
		}
		p.Spec.Hostname, p.Spec.Subdomain = name, s.Spec.ServiceName
		out = append(out, p)
	}
	return out
}
