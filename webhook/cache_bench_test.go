package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/load"
	"github.com/headless-guard/headless-guard/test/load/reviews"
)

// BenchmarkCacheMemory reports the live heap the informer cache (objects
// after lookup.StripForCache, and the indexes) holds per object: the part
// of the guard's memory that grows with the cluster. mixed is the scale
// benchmarks' 10,000 Services and 2,000 StatefulSets (one per five
// Services); services and statefulsets are each alone; chart-statefulsets
// are 2,000 copies of the StatefulSets of the rendered public charts
// (internal/check/testdata/publiccharts), with the commands, arguments,
// env and volumes the peer-name detector keeps, and their Services.
//
//	go test -run '^$' -bench CacheMemory ./webhook/
func BenchmarkCacheMemory(b *testing.B) {
	charts, err := chartWorkloads()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		objs func() []client.Object
	}{
		{"mixed", func() []client.Object { return load.ScaleObjects(reviews.Namespace, 10000, 2000) }},
		{"services", func() []client.Object { return load.ScaleObjects(reviews.Namespace, 10000, 0) }},
		{"statefulsets", func() []client.Object {
			var out []client.Object
			for i := range 2000 {
				out = append(out, load.ScaleStatefulSet(reviews.Namespace, i))
			}
			return out
		}},
		{"chart-statefulsets", func() []client.Object { return copies(charts, 2000) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := len(bc.objs())
			var perObject, total float64
			for b.Loop() {
				before := liveHeap()
				env, err := newBenchEnv(b, bc.objs)
				if err != nil {
					b.Fatal(err)
				}
				after := liveHeap()
				if p := os.Getenv("HEAP_PROFILE"); p != "" {
					f, _ := os.Create(bc.name + "-" + p)
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
				runtime.KeepAlive(env)
				total = float64(after - before)
				perObject = total / float64(n)
			}
			b.ReportMetric(perObject, "B/object")
			b.ReportMetric(total/(1<<20), "MiB")
			b.ReportMetric(float64(n), "objects")
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// chartWorkloads are the StatefulSets of the rendered public charts, each
// with the Services of its file.
func chartWorkloads() ([]client.Object, error) {
	files, err := filepath.Glob("../internal/check/testdata/publiccharts/*.yaml")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no rendered charts: %v", err)
	}
	var out []client.Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw k8sruntime.RawExtension
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(bytes.TrimSpace(raw.Raw)) == 0 {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw.Raw, nil, nil)
			if err != nil {
				continue
			}
			switch obj.(type) {
			case *appsv1.StatefulSet, *corev1.Service:
				out = append(out, obj.(client.Object))
			}
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
